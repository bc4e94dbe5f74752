"""Ceph rules (module_utils/pilotstack_ceph.py) on outputs recorded from Ceph 16.2.15."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from module_utils.pilotstack_ceph import (
    key_plan,
    keyring_text,
    mds_state,
    normalize_caps,
    osd_hosts,
    pool_plan,
    problems,
    summarize,
)

FIX = Path(__file__).parent / "fixtures" / "ceph"
MONS = ["st1", "st2", "st3"]


def load(name: str):
    return json.loads((FIX / f"ceph-16-{name}.json").read_text())


def test_healthy_cluster_has_no_problems():
    s = summarize(load("status-healthy"), load("fs-dump-standby-replay"),
                  "sortbitwise,recovery_deletes")
    assert s["health"] == "HEALTH_OK" and s["quorum"] == MONS
    assert s["osds"] == {"total": 3, "up": 3, "in": 3}
    assert s["pgs"]["active_clean"] == s["pgs"]["total"] == 169
    assert s["flags"] == []
    assert problems(s, MONS, 3, 2) == []


def test_fs_dump_with_standby_replay():
    m = mds_state(load("fs-dump-standby-replay"))
    fs = m["filesystems"]["cephfs"]
    assert fs["ranks"] == {0: {"name": "st1", "state": "up:active"}}
    assert fs["standby_replay"] == ["st2"] and fs["allow_standby_replay"]
    assert m["standbys"] == []


def test_one_osd_down_is_named_with_its_degraded_pgs():
    s = summarize(load("status-osd-down"), load("fs-dump-standby-replay"))
    found = problems(s, MONS, 3, 2)
    assert "OSDs: 2 up, 3 in of 3" in found
    assert any(p.startswith("169 of 169 PGs not active+clean") for p in found)
    assert any(p.startswith("OSD_DOWN") for p in found)


def test_a_mon_out_of_quorum_is_named():
    s = summarize(load("status-mon-and-osd-down"), load("fs-dump-standby-replay"))
    assert "mon(s) st2 not in quorum (quorum: st1, st3)" in problems(s, MONS, 3, 2)


def test_noout_is_a_problem_unless_allowed():
    s = summarize(load("status-healthy"), load("fs-dump-standby-replay"), "noout,sortbitwise")
    assert problems(s, MONS, 3, 2) == ["OSD flags set: noout"]
    assert problems(s, MONS, 3, 2, allow_flags=["noout"]) == []


def test_missing_mds_daemon_is_counted():
    s = summarize(load("status-healthy"), load("fs-dump-standby-replay"))
    assert problems(s, MONS, 3, 3) == ["2 MDS daemon(s) up, 3 expected"]


def test_caps_are_compared_as_ceph_stores_them():
    assert normalize_caps({"osd": "profile rbd pool=a ,profile rbd  pool=b", "mds": ""}) == {
        "osd": "profile rbd pool=a, profile rbd pool=b"}
    cur = {"key": "K", "caps": {"mon": "profile rbd", "osd": "profile rbd pool=images"}}
    assert key_plan(cur, {"mon": "profile rbd", "osd": "profile rbd pool=images"}, "K") == (
        "ok", [])
    action, diffs = key_plan(cur, {"mon": "profile rbd"}, None)
    assert action == "caps" and diffs[0].startswith("osd:")
    assert key_plan(None, {"mon": "allow r"}, None) == ("create", [])


def test_a_key_other_than_the_vaults_is_refused():
    with pytest.raises(ValueError, match="another key"):
        key_plan({"key": "OLD", "caps": {}}, {}, "NEW")


def test_keyring_text():
    assert keyring_text("client.x", "K", {"osd": "allow r", "mon": "allow r"}) == (
        '[client.x]\n\tkey = K\n\tcaps mon = "allow r"\n\tcaps osd = "allow r"\n')


def test_pool_plan_creates_then_matches():
    hosts = osd_hosts(load("osd-tree"))
    assert hosts == {"st1": 1, "st2": 1, "st3": 1}
    want = {"name": "x", "size": 3, "min_size": 2, "pg_num": 32, "application": "rbd"}
    steps = pool_plan(None, want, hosts)
    assert steps[0][:4] == ["osd", "pool", "create", "x"]
    assert ["osd", "pool", "application", "enable", "x", "rbd"] in steps
    existing = {p["pool_name"]: p for p in load("pool-ls-detail")}
    assert pool_plan(existing["volumes"], dict(want, name="volumes"), hosts) == []


@pytest.mark.parametrize(("size", "min_size", "says"), [
    (4, 2, "size 4 needs 4 hosts with OSDs"),
    (3, 4, "min_size 4 is larger than size 3"),
    (3, 1, "min_size 1 acknowledges writes held by a single copy"),
])
def test_pool_plan_refuses(size, min_size, says):
    hosts = osd_hosts(load("osd-tree"))
    with pytest.raises(ValueError, match=says):
        pool_plan(None, {"name": "x", "size": size, "min_size": min_size}, hosts)
