"""Static checks: ruff, yamllint, ansible-lint (production profile), playbook syntax."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

BIN = Path(sys.executable).parent
ENV = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
PLAYBOOKS = sorted(p.name for p in (ROOT / "playbooks").glob("*.yml"))


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, env=ENV, capture_output=True, text=True)


def test_ruff():
    proc = run(str(BIN / "ruff"), "check", "src", "tests", "library", "module_utils",
               "filter_plugins", "callback_plugins", "bench")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_yamllint():
    proc = run(str(BIN / "yamllint"), "-s", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ansible_lint_production_profile():
    proc = run(str(BIN / "ansible-lint"), "--offline")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbook_syntax(playbook):
    proc = run(str(BIN / "ansible-playbook"), "-i", "inventory/example", "--syntax-check",
               f"playbooks/{playbook}")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_template_says_it_is_managed():
    """First line, or the line after a script's shebang."""
    templates = list(ROOT.glob("roles/*/templates/*.j2"))
    assert templates
    for template in templates:
        lines = template.read_text().splitlines()
        head = lines[1] if lines[0].startswith("#!") else lines[0]
        assert "ansible_managed" in head, template


@pytest.mark.parametrize("module", sorted(p.stem for p in (ROOT / "library").glob("*.py")))
def test_module_documentation_parses(module):
    """DOCUMENTATION, EXAMPLES and RETURN are YAML that ansible-doc can read."""
    proc = run(str(BIN / "ansible-doc"), "-M", "library", "--json", module)
    assert proc.returncode == 0, proc.stderr
    assert '"attributes"' in proc.stdout, "state check-mode and diff support"
