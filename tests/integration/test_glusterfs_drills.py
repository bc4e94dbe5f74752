"""Fault drills of the shared storage tier (pilotstack.drills.gluster, the same functions
`pilotstack drill` runs), with a real client writing checksummed files through the FUSE
mount on cmp1 (each file written, fsync'ed and closed before it counts as acknowledged)."""

from __future__ import annotations

import pytest

from pilotstack.drills.gluster import CAUSED, ping_timeouts, wait_healed

from .conftest import FIGURES, run_drill


@pytest.fixture(autouse=True)
def healthy_before(stack):
    """Every drill starts from a healed volume."""
    wait_healed("instances", timeout=300)


@pytest.mark.parametrize("name", [
    pytest.param("gluster-server-killed", marks=pytest.mark.full), "gluster-server-frozen",
    pytest.param("gluster-two-servers-killed", marks=pytest.mark.full),
    pytest.param("gluster-replica2-to-3", marks=pytest.mark.full)])
def test_drill(drill_env, name):
    run_drill(drill_env, name)


def test_no_spurious_ping_timeout_during_the_whole_run():
    """network.ping-timeout is short (4 s): under every load this run put on the machine
    (deploys, the other tiers' drills, heals, rolling restarts) no client and no self-heal
    daemon may have given up on a server that was not made silent on purpose."""
    spurious = [line for line in ping_timeouts() if line not in CAUSED]
    FIGURES["gluster ping timeouts: caused by the silent drill / spurious"] = (
        len(CAUSED), len(spurious))
    assert spurious == [], spurious[:10]
