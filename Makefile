# Developer shortcuts; the README's two commands are ./run.sh deploy and ./run.sh test.
VENV := .venv/bin
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: deploy test unit lint bench down
deploy:
	./run.sh deploy
test:
	./run.sh test
unit:
	$(VENV)/python -m pytest -q -p no:cacheprovider tests/unit tests/lint
lint:
	$(VENV)/ruff check src tests library module_utils filter_plugins callback_plugins bench
	$(VENV)/yamllint -s .
	$(VENV)/ansible-lint -q
bench:
	./run.sh bench
down:
	$(VENV)/pilotstack testbed down
