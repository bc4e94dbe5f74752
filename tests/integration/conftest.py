"""The integration suite owns the default testbed: it brings it up once per run (taking
down any default testbed left from before), deploys to it over SSH, and takes it down.

Figures measured along the way are collected in FIGURES and printed at the end of the run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import testinfra

from tests.conftest import ROOT

BIN = Path(sys.executable).parent
ENV = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
           PILOTSTACK_ROOT=str(ROOT))
INVENTORY = ROOT / "inventory" / "testbed"
FIGURES: dict[str, object] = {}
RECAP_RE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+"
                      r"failed=(\d+)", re.M)


def docker_names() -> dict[str, list[str]]:
    def names(*argv):
        out = subprocess.run(["docker", *argv], capture_output=True, text=True, check=True)
        return sorted(out.stdout.split())
    return {"containers": names("ps", "-a", "--format", "{{.Names}}"),
            "networks": names("network", "ls", "--format", "{{.Name}}"),
            "volumes": names("volume", "ls", "--format", "{{.Name}}")}


def pilotstack(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(BIN / "pilotstack"), *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"pilotstack {' '.join(args)} failed:\n{proc.stdout}\n"
                             f"{proc.stderr}")
    return proc


@dataclass
class PlaybookRun:
    rc: int
    output: str
    seconds: float
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return sum(r["changed"] for r in self.recap.values())


def ansible_playbook(playbook: str, inventory: Path = INVENTORY, *extra: str,
                     vault: bool = True) -> PlaybookRun:
    argv = [str(BIN / "ansible-playbook"), "-i", str(inventory), f"playbooks/{playbook}",
            *extra]
    if vault and (inventory / ".vault_pass").exists():
        argv += ["--vault-password-file", str(inventory / ".vault_pass")]
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=ENV, capture_output=True, text=True)
    seconds = time.monotonic() - start
    output = proc.stdout + proc.stderr
    recap = {m[1]: {"ok": int(m[2]), "changed": int(m[3]), "unreachable": int(m[4]),
                    "failed": int(m[5])} for m in RECAP_RE.finditer(output)}
    return PlaybookRun(proc.returncode, output, seconds, recap)


class Bed:
    state = ROOT / ".pilotstack" / "testbed" / "pstb"

    def __init__(self, before: dict, up_output: str):
        self.before = before
        self.up_output = up_output

    def host(self, name: str):
        return testinfra.get_host(f"ssh://{name}", ssh_config=str(self.state / "ssh_config"))


@pytest.fixture(scope="session")
def testbed():
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.fail("the Docker engine does not answer: run ./run.sh setup")
    # PILOTSTACK_KEEP_TESTBED=1 (development): reuse a running testbed and leave it up.
    keep = os.environ.get("PILOTSTACK_KEEP_TESTBED") == "1"
    if not keep:
        pilotstack("testbed", "down")
    before = docker_names()
    start = time.monotonic()
    up = pilotstack("testbed", "up", "--json")
    timings = json.loads(up.stdout.strip().splitlines()[-1])
    FIGURES["testbed up (s, image built)"] = round(time.monotonic() - start - timings[
        "image_build_s"], 1)
    if timings["image_build_s"]:
        FIGURES["base image build (s)"] = round(timings["image_build_s"], 1)
    pilotstack("secrets")
    bed = Bed(before, up.stdout)
    yield bed
    if not keep:
        pilotstack("testbed", "down", check=False)


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("pilotstack figures")
        for key, value in FIGURES.items():
            terminalreporter.write_line(f"{key}: {value}")


@pytest.fixture(scope="session")
def stack(testbed):
    """The deployed stack (site.yml). The foundation tests deploy it first; run alone, a
    module deploys it here."""
    cfg = testbed.host("lb1").file("/etc/haproxy/haproxy.cfg")
    if not (cfg.exists and cfg.contains("listen galera")):
        run = ansible_playbook("site.yml")
        assert run.rc == 0, run.output[-6000:]
    return testbed


@pytest.fixture(scope="session")
def drill_db(stack):
    """An SQL account for the drills, reachable from this machine and through the VIP
    (HAProxy connects from the balancers' management addresses); a fresh random password
    per run."""
    import secrets as pysecrets
    creds = {"user": "pilotstack_drill", "password": pysecrets.token_hex(16)}
    sql = (f"CREATE DATABASE IF NOT EXISTS drill; "
           f"CREATE USER IF NOT EXISTS '{creds['user']}'@'10.213.10.%'; "
           f"ALTER USER '{creds['user']}'@'10.213.10.%' IDENTIFIED BY '{creds['password']}'; "
           f"GRANT ALL ON drill.* TO '{creds['user']}'@'10.213.10.%'")
    stack.host("db1").check_output(f'mysql -e "{sql}"')
    return creds


def new_table(testbed, name: str) -> str:
    """A fresh drill table (id chosen by the client, node that took the write)."""
    testbed.host("db1").check_output(
        f'mysql -e "DROP TABLE IF EXISTS drill.{name}; CREATE TABLE drill.{name} '
        f'(id BIGINT PRIMARY KEY, node VARCHAR(16), at TIMESTAMP(6) DEFAULT NOW(6))"')
    return name


@pytest.fixture(scope="session")
def drill_mq(stack):
    """An AMQP account for the messaging drills: vhost `drill` (quorum queues by default)
    and a user with rights there only; a fresh random password per run."""
    import secrets as pysecrets

    from .mqdrill import wait_whole
    creds = {"user": "pilotstack_drill", "password": pysecrets.token_hex(16)}
    wait_whole(300)
    stack.host("db1").check_output(
        "(rabbitmqctl -q list_vhosts name | grep -qx drill || "
        " rabbitmqctl -q add_vhost drill --default-queue-type quorum) && "
        f"(rabbitmqctl -q delete_user {creds['user']} >/dev/null 2>&1 || true) && "
        f"rabbitmqctl -q add_user {creds['user']} {creds['password']} >/dev/null && "
        f"rabbitmqctl -q set_permissions -p drill {creds['user']} '.*' '.*' '.*'")
    return creds


def new_queue(creds: dict, name: str, host: str = "db1") -> str:
    """A fresh quorum queue in the drill vhost, named `name-<time>`, once the cluster is
    whole. A new name each time: declaring a quorum queue again right after deleting it
    races with its Ra members still terminating on other nodes (a drill run twice in a row
    left the second queue unlisted on one node)."""
    import pika

    from .mqdrill import params, wait_whole
    wait_whole(300)
    name = f"{name}-{int(time.time())}"
    conn = pika.BlockingConnection(params(host, creds))
    try:
        conn.channel().queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})
    finally:
        conn.close()
    return name
