"""`pilotstack status` against the deployed testbed: every tier shown and healthy (exit 0);
a Galera node killed -> exit 1 naming it; started again -> healthy again."""

from __future__ import annotations

import json
import time

import pytest

from pilotstack.drills.galera import wait_haproxy_all_up, wait_whole

from .conftest import FIGURES, pilotstack

pytestmark = pytest.mark.usefixtures("stack")

TIER_ROWS = {"lb": {"lb1", "lb2"}, "vip": {"internal", "controller"},
             "galera": {"db1", "db2", "db3", "writer"},
             "rabbitmq": {"db1", "db2", "db3"},
             "pacemaker": {"cluster", "group controller", "fencing", "failed actions"},
             "gluster": {"peers", "volume instances", "volume images", "volume volumes"},
             "ceph": {"health", "mons", "osds", "mds cephfs"}}


def status_json() -> tuple[int, dict]:
    proc = pilotstack("status", "--json", check=False)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def wait_healthy(timeout: float = 180.0) -> dict:
    end = time.monotonic() + timeout
    while True:
        rc, report = status_json()
        if rc == 0 or time.monotonic() > end:
            return report
        time.sleep(3)


def test_status_shows_every_tier_healthy():
    report = wait_healthy()
    assert report["healthy"], report["problems"]
    shown = {tier: {row["what"] for row in rows} for tier, rows in report["tiers"].items()}
    assert shown == TIER_ROWS
    FIGURES["pilotstack status, healthy testbed (s)"] = report["seconds"]
    table = pilotstack("status")
    assert table.stdout.rstrip().splitlines()[-1].startswith("healthy"), table.stdout


def test_status_names_a_killed_galera_node_then_recovers(drill_env, drill_db):
    drill_env.faults.kill("db3")
    try:
        proc = pilotstack("status", check=False)
    finally:
        drill_env.faults.start("db3")
    assert proc.returncode == 1, proc.stdout
    failed = [line for line in proc.stdout.splitlines() if " FAIL " in line]
    assert any(line.split()[:2] == ["galera", "db3"] for line in failed), proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1].startswith("DEGRADED"), proc.stdout
    wait_whole(drill_db)
    wait_haproxy_all_up(drill_env, timeout=90)
    report = wait_healthy()
    assert report["healthy"], report["problems"]

