"""The integration suite owns the default testbed: it brings it up once per run (taking
down any default testbed left from before), deploys to it over SSH, and takes it down.

Figures measured along the way are collected in FIGURES and printed at the end of the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import testinfra

from pilotstack.drills.env import PlaybookRun, run_playbook
from tests.conftest import ROOT

BIN = Path(sys.executable).parent
ENV = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
           PILOTSTACK_ROOT=str(ROOT))
INVENTORY = ROOT / "inventory" / "testbed"
FIGURES: dict[str, object] = {}
DRILLS: list = []  # pilotstack.drills.Result of every drill this run ran
DRILL_REPORT = ROOT / ".pilotstack" / "drills-test-run.json"


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


def pilotstack_deploy(*extra: str) -> PlaybookRun:
    """`pilotstack deploy` as an operator runs it (its default strategy), timed, recap read."""
    start = time.monotonic()
    proc = pilotstack("deploy", *extra, check=False)
    return PlaybookRun.parse(proc.returncode, proc.stdout + proc.stderr,
                             time.monotonic() - start)


def ansible_playbook(playbook: str, inventory: Path = INVENTORY, *extra: str,
                     vault: bool = True) -> PlaybookRun:
    return run_playbook(ROOT, inventory, playbook, *extra, vault=vault)


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
    if DRILLS:
        # the same report as `pilotstack drill --all`, for the drills this run ran
        from pilotstack import drills
        DRILL_REPORT.write_text(drills.report(DRILLS) + "\n")
        terminalreporter.section("pilotstack drills")
        for r in DRILLS:
            counts = "; ".join(f"{c.lost} lost of {c.acknowledged} {c.what}"
                               for c in r.counts) or "no client count"
            terminalreporter.write_line(f"{r.name:<28} {'ok' if r.ok else 'FAILED':<6} "
                                        f"{r.seconds:>6.1f} s  {counts}")
        acked = sum(c.acknowledged for r in DRILLS for c in r.counts)
        terminalreporter.write_line(
            f"{sum(r.ok for r in DRILLS)} of {len(DRILLS)} drills ok; "
            f"{sum(r.lost for r in DRILLS)} lost of {acked} acknowledged; "
            f"report: {DRILL_REPORT.relative_to(ROOT)}")


@pytest.fixture(scope="session")
def stack(testbed):
    """The deployed stack (site.yml). The foundation tests deploy it first; run alone, a
    module deploys it here."""
    cfg = testbed.host("lb1").file("/etc/haproxy/haproxy.cfg")
    if not (cfg.exists and cfg.contains("listen galera")):
        run = ansible_playbook("site.yml")
        assert run.rc == 0, run.output[-6000:]
    return testbed


class _FigureSink:
    """Where drill helpers used outside a registered drill report: the run's FIGURES."""

    def figure(self, key: str, value) -> None:
        FIGURES[key] = value

    def count(self, what: str, acknowledged: int, lost: int) -> None:
        FIGURES[f"{what} lost"] = f"{lost} of {acknowledged}"


@pytest.fixture(scope="session")
def drill_env(stack):
    """The drills' view of the deployed testbed (pilotstack.drills.env.Env)."""
    from pilotstack.drills.env import Env
    env = Env(ROOT)
    env.recorder = _FigureSink()
    return env


@pytest.fixture(scope="session")
def drill_db(drill_env):
    """The drills' SQL account (reachable from this machine and through the VIP)."""
    return drill_env.sql_account


def run_drill(env, name: str):
    """Runs a registered drill as `pilotstack drill` does; its figures join FIGURES; fails
    the test with the drill's own error when an invariant did not hold or data was lost."""
    from pilotstack import drills
    result = drills.run(name, env)
    DRILLS.append(result)
    FIGURES.update(result.figures)
    for c in result.counts:
        FIGURES[f"{name}: {c.what} lost"] = f"{c.lost} of {c.acknowledged}"
    assert result.ok, result.error
    return result
