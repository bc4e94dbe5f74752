"""Ceph fault drills on the testbed (pilotstack.drills.ceph, the same functions
`pilotstack drill` runs), each counting what was acknowledged against what reads back: an
OSD host killed and silent under RBD writes, mons killed one then two, the active MDS killed
under CephFS writes, a rolling restart under RBD writes; and a rolling restart whose OSD
cannot start again."""

from __future__ import annotations

import pytest

from pilotstack.drills.ceph import PEAK, ceph, on_node, start_daemon, wait_whole

from .conftest import FIGURES, INVENTORY, ansible_playbook, run_drill


@pytest.fixture(scope="module", autouse=True)
def whole(stack):
    """Each drill starts from a whole cluster; the peak memory seen is a figure."""
    wait_whole(600)
    yield
    if PEAK:
        FIGURES["ceph daemons' memory, peak sampled in the drills (MiB)"] = round(max(PEAK))


@pytest.mark.parametrize("name", [
    pytest.param("ceph-mds-killed", marks=pytest.mark.full),
    pytest.param("ceph-osd-host-killed", marks=pytest.mark.full), "ceph-osd-host-frozen",
    pytest.param("ceph-mons-killed", marks=pytest.mark.full),
    pytest.param("ceph-rolling-restart", marks=pytest.mark.full)])
def test_drill(drill_env, name):
    run_drill(drill_env, name)


@pytest.mark.full
def test_rolling_restart_that_fails_still_unsets_noout():
    """An OSD that fails to start again (st3's, made to fail) fails the run after the wait;
    noout is unset all the same and the cluster heals once the OSD can start."""
    osd = on_node("st3", "cat /srv/disks/osd/ready").strip()
    dropin = f"/run/systemd/system/ceph-osd@{osd}.service.d"
    on_node("st3", f"mkdir -p {dropin} && printf '[Service]\\nExecStartPre=/bin/false\\n' "
                   f"> {dropin}/drill.conf && systemctl daemon-reload")
    try:
        run = ansible_playbook("ceph-rolling-restart.yml", INVENTORY, "--tags", "osds",
                               "-e", "ceph_restart_osd_retries=5")
        flags = ceph("osd", "dump")["flags"]
    finally:
        on_node("st3", f"rm -rf {dropin} && systemctl daemon-reload")
        start_daemon("st3", f"ceph-osd@{osd}")
    assert run.rc != 0
    assert "every OSD up, every PG active+clean" in run.output
    assert "noout unset" in run.output
    assert "noout" not in flags
    wait_whole(300)
