#!/usr/bin/env bash
# pilotstack entry point on a Debian machine, as root.
#   ./run.sh deploy   install what is missing, bring the local testbed up, deploy site.yml
#   ./run.sh test     install what is missing, run the whole test suite (lint, unit, testbed)
#   ./run.sh bench    deploy benchmark: cold deploy of every tier, per-tier times, re-run
#   ./run.sh setup    only install what is missing (packages, Docker engine, Python venv)
#   ./run.sh setup-controller  a controller for real servers: the Python venv only (no
#                     Docker, no testbed packages); needs python3-venv, git, openssh-client
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV=$ROOT/.venv
APT_PACKAGES=(docker.io debootstrap apt-cacher-ng openssh-client python3 python3-venv
              git make iproute2 util-linux procps ca-certificates socat openssl)
CONTROLLER_PACKAGES=(openssh-client python3 python3-venv git ca-certificates)

log() { printf '== %s\n' "$*"; }

setup_packages() {
  local missing=() wanted=("$@")
  ((${#wanted[@]})) || wanted=("${APT_PACKAGES[@]}")
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
}

setup_docker() {
  docker info >/dev/null 2>&1 && return 0
  log "starting the Docker engine"
  if [ -d /run/systemd/system ]; then
    systemctl start docker
  else
    nohup dockerd >/var/log/pilotstack-dockerd.log 2>&1 &
  fi
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
  echo "the Docker engine did not start: see /var/log/pilotstack-dockerd.log" >&2
  return 1
}

setup_python() {
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "pilotstack needs Python >= 3.11" >&2; return 1; }
  local stamp want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  stamp=$VENV/.pilotstack-installed
  if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing Python packages into .venv"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
    "$VENV/bin/pip" install -q -e '.[test,speed]' 2>&1 | grep -v '^WARNING: Location' || true
    "$VENV/bin/python" -c 'import ansible, netaddr, fabric, testinfra, yaml' || return 1
    echo "$want" >"$stamp"
  fi
}

setup() {
  [ "$(id -u)" = 0 ] || { echo "run as root (it installs packages and drives Docker)" >&2; exit 1; }
  setup_packages
  setup_docker
  setup_python
}

export PATH="$VENV/bin:$PATH" ANSIBLE_CONFIG="$ROOT/ansible.cfg"

case "${1:-}" in
  setup) setup ;;
  setup-controller)
    if [ "$(id -u)" = 0 ]; then setup_packages "${CONTROLLER_PACKAGES[@]}"; fi
    setup_python
    ;;
  deploy)
    setup
    pilotstack testbed up
    pilotstack secrets
    pilotstack deploy
    ;;
  test)
    setup
    shift
    python -m pytest -v -p no:cacheprovider --durations=40 tests "$@"
    ;;
  bench)
    setup
    python bench/deploy.py "${@:2}"
    ;;
  *)
    sed -n '2,8p' "$0" >&2
    exit 2
    ;;
esac
