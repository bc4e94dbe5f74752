"""pilotstack_ceph_pool, _key and _info: real main(), the ceph CLI's output faked (recorded
from Ceph 16 on the testbed) only to test reading and deciding; check mode included."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import load_plugin, run_module

POOL = load_plugin("library", "pilotstack_ceph_pool")
KEY = load_plugin("library", "pilotstack_ceph_key")
INFO = load_plugin("library", "pilotstack_ceph_info")
FIXTURES = Path(__file__).parent / "fixtures" / "ceph"


def fixture(name: str) -> str:
    return (FIXTURES / f"ceph-16-{name}.json").read_text()


class Ceph:
    """Answers `ceph ... -f json` from recorded outputs; records every command."""

    def __init__(self, answers: dict[tuple[str, ...], tuple[int, str]]):
        self.answers, self.calls = answers, []

    def __call__(self, argv):
        self.calls.append(argv)
        args = [a for a in argv if not a.startswith("-") and a not in ("timeout", "ceph")
                and not a.isdigit() and a != "json"]
        for key, (rc, out) in self.answers.items():
            if tuple(args[:len(key)]) == key:
                return rc, out, "" if rc == 0 else "error"
        return 0, "", ""  # a change

    def changes(self):
        return [c for c in self.calls if c[0] == "ceph"]


def pool_ceph():
    return Ceph({("osd", "pool", "ls"): (0, fixture("pool-ls-detail")),
                 ("osd", "tree"): (0, fixture("osd-tree"))})


def test_pool_as_recorded_changes_nothing():
    ceph = pool_ceph()
    result = run_module(POOL, {"name": "volumes", "application": "rbd"}, run_command=ceph)
    assert result["failed"] is False and result["changed"] is False
    assert ceph.changes() == []
    assert len(result["hosts"]) == 3


def test_new_pool_is_created_and_check_mode_only_predicts():
    for check in (True, False):
        ceph = pool_ceph()
        result = run_module(POOL, {"name": "metrics", "application": "rbd"},
                            check_mode=check, run_command=ceph)
        assert result["failed"] is False and result["changed"] is True
        assert any("create" in c and "metrics" in c for c in result["commands"])
        assert bool(ceph.changes()) is not check


def test_pool_larger_than_the_osd_hosts_is_refused():
    result = run_module(POOL, {"name": "volumes", "size": 4}, run_command=pool_ceph())
    assert result["failed"] is True and "No pool was changed" in result["msg"]


def test_pool_module_fails_when_the_cluster_does_not_answer():
    ceph = Ceph({("osd", "pool", "ls"): (1, "")})
    result = run_module(POOL, {"name": "volumes"}, run_command=ceph)
    assert result["failed"] is True and "the cluster does not answer" in result["msg"]


def test_pool_module_rejects_a_bad_argument():
    result = run_module(POOL, {"name": "volumes", "autoscale": "maybe"}, run_command=pool_ceph())
    assert result["failed"] is True and "autoscale" in result["msg"]


KEYRING = "AQBnCEllAAAAABAAuVnS0Xb1mr8wq7iHkXtx1A=="  # made for this test, never used


def test_missing_key_is_created_and_written(tmp_path):
    dest = tmp_path / "ceph.client.glance.keyring"
    caps = {"mon": "profile rbd", "osd": "profile rbd pool=images"}
    for check in (True, False):
        ceph = Ceph({("auth", "get"): (2, "")})
        result = run_module(KEY, {"name": "client.glance", "caps": caps, "key": KEYRING,
                                  "dest": str(dest)}, check_mode=check, run_command=ceph)
        assert result["failed"] is False and result["changed"] is True
        assert result["commands"][0].startswith("ceph --connect-timeout")
        assert "auth import" in result["commands"][0]
        assert dest.exists() is not check
    assert KEYRING in dest.read_text() and oct(dest.stat().st_mode & 0o777) == "0o600"


def test_existing_key_with_its_caps_changes_nothing_and_other_caps_are_updated(tmp_path):
    caps = {"mon": "profile rbd", "osd": "profile rbd pool=images"}
    live = json.dumps([{"entity": "client.glance", "key": KEYRING, "caps": caps}])
    ceph = Ceph({("auth", "get"): (0, live)})
    result = run_module(KEY, {"name": "client.glance", "caps": caps}, run_command=ceph)
    assert result["changed"] is False and ceph.changes() == []
    wider = dict(caps, osd="profile rbd pool=images, profile rbd pool=volumes")
    ceph = Ceph({("auth", "get"): (0, live)})
    result = run_module(KEY, {"name": "client.glance", "caps": wider}, run_command=ceph)
    assert result["changed"] is True and "auth caps" in result["commands"][0]


def test_a_different_existing_key_is_refused_not_replaced():
    caps = {"mon": "profile rbd"}
    live = json.dumps([{"entity": "client.glance", "key": KEYRING, "caps": caps}])
    other = "AQBnCEllAAAAABAAzzzzzzzzzzzzzzzzzzzzzz=="
    ceph = Ceph({("auth", "get"): (0, live)})
    result = run_module(KEY, {"name": "client.glance", "caps": caps, "key": other},
                        run_command=ceph)
    assert result["failed"] is True and "refusing to replace it" in result["msg"]
    assert ceph.changes() == []
    assert other not in result["msg"] and KEYRING not in result["msg"]


def info_ceph(status: str):
    osd_dump = json.dumps({"flags": "sortbitwise,recovery_deletes,purged_snapdirs"})
    return Ceph({("status",): (0, fixture(status)),
                 ("fs", "dump"): (0, fixture("fs-dump-standby-replay")),
                 ("osd", "dump"): (0, osd_dump)})


def test_info_on_a_healthy_cluster_finds_no_problem():
    result = run_module(INFO, {"expect_osds": 3}, check_mode=True,
                        run_command=info_ceph("status-healthy"))
    assert result["failed"] is False and result["changed"] is False
    assert result["problems"] == []


def test_info_names_an_osd_down():
    result = run_module(INFO, {"expect_osds": 3}, run_command=info_ceph("status-osd-down"))
    assert result["failed"] is False and result["problems"]
    assert any("osd" in p.lower() for p in result["problems"]), result["problems"]


def test_info_fails_when_the_cluster_does_not_answer():
    result = run_module(INFO, {}, run_command=Ceph({("status",): (1, "")}))
    assert result["failed"] is True and "the cluster does not answer" in result["msg"]
