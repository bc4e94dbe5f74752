"""Last in the run: `down` leaves Docker as it was before `up`, and an `up` killed halfway
is completed by the next one (files run in name order; this one sorts last)."""

from __future__ import annotations

import subprocess
import time

from tests.conftest import ROOT

from .conftest import BIN, ENV, INVENTORY, docker_names, pilotstack


def test_down_leaves_docker_as_before_up(testbed):
    removed = pilotstack("testbed", "down")
    assert "removed" in removed.stdout
    assert docker_names() == testbed.before
    assert not (INVENTORY / "hosts.yml").exists()


def test_up_completes_after_a_crash_halfway(testbed):
    """`up` killed (SIGKILL) while creating containers: the next `up` finishes the job and
    `down` still leaves nothing behind."""
    proc = subprocess.Popen([str(BIN / "pilotstack"), "testbed", "up"], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(docker_names()["containers"]) < len(testbed.before["containers"]) + 3:
        assert proc.poll() is None, "up finished before it could be interrupted"
        assert time.monotonic() < deadline, "up created no containers in 120 s"
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    partial = len(docker_names()["containers"]) - len(testbed.before["containers"])
    assert 3 <= partial < 12, partial
    again = pilotstack("testbed", "up")
    assert again.stdout.count("[") == 12, again.stdout
    status = pilotstack("testbed", "status")
    assert status.stdout.count(" ok ") == 12, status.stdout
    pilotstack("testbed", "down")
    assert docker_names() == testbed.before
