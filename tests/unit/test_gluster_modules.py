"""The GlusterFS modules driven through their real main() on outputs recorded from
GlusterFS 10.3 (Debian 12) on the testbed: parsing, no-op, change, check mode, refusal,
tool errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import load_plugin, run_module

gl = load_plugin("module_utils", "pilotstack_gluster")
VOLUME = load_plugin("library", "pilotstack_gluster_volume")
POOL = load_plugin("library", "pilotstack_gluster_pool")
INFO = load_plugin("library", "pilotstack_gluster_info")
FIXTURES = Path(__file__).parent / "fixtures" / "gluster"
A = ["10.213.20.41", "10.213.20.42", "10.213.20.43"]
BRICKS = [f"{a}:/srv/disks/brick/instances/brick" for a in A]


def rec(name: str) -> str:
    return (FIXTURES / f"gluster-10-{name}.xml").read_text()


def test_parse_recorded_outputs():
    info = gl.parse_volume_info(rec("volume-info-instances"))["instances"]
    assert (info["status"], info["type"], info["replica"]) == ("Started", "Replicate", 3)
    assert info["bricks"] == BRICKS
    assert info["options"]["cluster.quorum-type"] == "auto"
    assert info["options"]["network.ping-timeout"] == "10"
    status = gl.parse_volume_status(rec("volume-status-instances"))
    assert status["bricks"] == dict.fromkeys(BRICKS, True)
    assert set(status["shd"].values()) == {True}
    heal = gl.parse_heal_summary(rec("heal-summary-instances"))
    assert {b: (h["connected"], h["total"], h["split_brain"]) for b, h in heal.items()} == {
        b: (True, 0, 0) for b in BRICKS}
    assert gl.volume_health("instances", info, status, heal) == []
    peers = gl.parse_peer_status(rec("peer-status"))
    assert [p["hostnames"] for p in peers] == [[A[1]], [A[2]]]
    assert all(p["connected"] and p["state"] == "Peer in Cluster" for p in peers)
    pool = gl.parse_pool(rec("pool-list"))
    assert len(pool) == 3 and all(p["connected"] for p in pool)


def test_missing_volume_is_an_error_the_module_tells_apart():
    with pytest.raises(gl.CliError, match="does not exist"):
        gl.parse_volume_info(rec("volume-info-missing"))


class Cli:
    """Answers gluster's read commands from recordings, records every argv."""

    def __init__(self, info: str = "volume-info-instances", fail: str | None = None,
                 status: str = "volume-status-instances",
                 heal: str | None = None):
        self.info, self.fail, self.calls = info, fail, []
        self.status, self.heal = status, heal or rec("heal-summary-instances")

    def __call__(self, argv):
        self.calls.append(argv)
        verb = argv[2:5]
        if self.fail and self.fail in argv:
            return 1, "", f"volume {self.fail}: failed: Commit failed"
        if verb[:2] == ["volume", "info"]:
            return 0, rec(self.info), ""
        if verb[:2] == ["volume", "status"]:
            return 0, rec(self.status), ""
        if verb[:2] == ["volume", "heal"]:
            return 0, self.heal, ""
        if verb[:2] == ["peer", "status"]:
            return 0, rec("peer-status"), ""
        if verb[:2] == ["pool", "list"]:
            return 0, rec("pool-list"), ""
        return 0, "", ""

    def changes(self):
        return [c for c in self.calls if "--xml" not in c]


def live_options():
    return gl.parse_volume_info(rec("volume-info-instances"))["instances"]["options"]


def test_volume_module_no_op_on_the_deployed_volume():
    cli = Cli()
    result = run_module(VOLUME, {"name": "instances", "bricks": BRICKS,
                                 "options": live_options()}, run_command=cli)
    assert result["failed"] is False and result["changed"] is False
    assert cli.changes() == [] and result["commands"] == []


def test_volume_module_sets_a_changed_option_and_check_mode_only_predicts():
    args = {"name": "instances", "bricks": BRICKS,
            "options": {**live_options(), "network.ping-timeout": "20"}}
    cli = Cli()
    result = run_module(VOLUME, args, check_mode=True, run_command=cli)
    assert result["changed"] is True and cli.changes() == []
    assert result["commands"] == [["gluster", "--mode=script", "volume", "set", "instances",
                                   "network.ping-timeout", "20"]]
    assert result["diff"]["after"] == {"planned": [
        "set instances network.ping-timeout 20"]}
    cli = Cli()
    result = run_module(VOLUME, args, run_command=cli)
    assert result["changed"] is True
    assert cli.changes() == result["commands"]


def test_volume_module_creates_a_missing_volume_with_force_when_asked():
    cli = Cli(info="volume-info-missing")
    result = run_module(VOLUME, {"name": "instances", "bricks": BRICKS, "force": True,
                                 "options": {"cluster.quorum-type": "auto"}},
                        run_command=cli)
    assert [c[3] for c in cli.changes()] == ["create", "set", "start"]
    assert cli.changes()[0] == ["gluster", "--mode=script", "volume", "create", "instances",
                                "replica", "3", *BRICKS, "force"]
    assert result["changed"] is True


def test_volume_module_refuses_and_reports_tool_errors():
    cli = Cli()
    result = run_module(VOLUME, {"name": "instances", "bricks": BRICKS[:2], "replica": 2,
                                 "allow_replica2": True}, run_command=cli)
    assert result["failed"] is True and "not declared" in result["msg"]
    assert "Nothing was changed" in result["msg"] and cli.changes() == []
    cli = Cli(fail="network.ping-timeout")
    result = run_module(VOLUME, {"name": "instances", "bricks": BRICKS,
                                 "options": {**live_options(), "network.ping-timeout": "5"}},
                        run_command=cli)
    assert result["failed"] is True and "Commit failed" in result["msg"]


def test_pool_module_no_op_probe_and_foreign_peer(monkeypatch):
    cli = Cli()
    result = run_module(POOL, {"members": A, "me": A[0]}, run_command=cli)
    assert result["changed"] is False and cli.changes() == []
    # a fourth member is probed (check mode: only reported)
    cli = Cli()
    result = run_module(POOL, {"members": [*A, "10.213.20.44"], "me": A[0]},
                        check_mode=True, run_command=cli)
    assert result["changed"] is True and cli.changes() == []
    assert result["commands"] == [["gluster", "--mode=script", "peer", "probe",
                                   "10.213.20.44"]]
    # a peer that is not in the inventory: refused before any probe
    cli = Cli()
    result = run_module(POOL, {"members": [A[0], A[1], "10.213.20.44"], "me": A[0]},
                        run_command=cli)
    assert result["failed"] is True and "not in the inventory: 10.213.20.43" in result["msg"]
    assert cli.changes() == []


def test_info_module_reads_only_and_reports_healthy():
    cli = Cli()
    result = run_module(INFO, {"volumes": ["instances"]}, run_command=cli)
    assert result["changed"] is False and result["problems"] == []
    assert result["volumes"]["instances"]["online"] == dict.fromkeys(BRICKS, True)
    assert cli.changes() == []


def test_a_brick_down_with_writes_pending_is_unhealthy_and_blocks_a_layout_change():
    """Recorded with st3's `images` brick process killed after a client wrote 5 files."""
    img = [b.replace("/instances/", "/images/") for b in BRICKS]
    info = gl.parse_volume_info(rec("volume-info-images"))["images"]
    status = gl.parse_volume_status(rec("volume-status-images-brick-down"))
    heal = gl.parse_heal_summary(rec("heal-summary-images-brick-down"))
    assert status["bricks"] == {img[0]: True, img[1]: True, img[2]: False}
    assert heal[img[2]] == {"connected": False, "pending": None, "split_brain": None,
                            "healing": None, "total": None}
    assert gl.volume_health("images", info, status, heal) == [
        f"volume images: brick(s) offline: {img[2]}",
        "volume images: 24 entries still to heal"]
    with pytest.raises(gl.Refused, match="not healthy"):
        gl.plan_volume("images", info, [*img, "10.213.20.44:/srv/disks/brick/images/brick",
                                        "10.213.20.45:/srv/disks/brick/images/brick",
                                        "10.213.20.46:/srv/disks/brick/images/brick"], 3, {},
                       healthy=gl.volume_health("images", info, status, heal))


def test_info_tells_a_backlog_that_drains_by_itself_from_a_brick_down():
    """`settling` (the replica migration waits while it holds) only when every brick is up
    and entries to heal are the one problem; a brick down is never waited for."""
    backlog = rec("heal-summary-instances").replace(
        "<totalNumberOfEntries>0</totalNumberOfEntries>\n        "
        "<numberOfEntriesInHealPending>0</numberOfEntriesInHealPending>",
        "<totalNumberOfEntries>30</totalNumberOfEntries>\n        "
        "<numberOfEntriesInHealPending>30</numberOfEntriesInHealPending>", 1)
    assert backlog != rec("heal-summary-instances")
    vol = run_module(INFO, {"volumes": ["instances"]},
                     run_command=Cli(heal=backlog))["volumes"]["instances"]
    assert vol["problems"] == ["volume instances: 30 entries still to heal"]
    assert (vol["to_heal"], vol["settling"]) == (30, True)
    vol = run_module(INFO, {"volumes": ["images"]}, run_command=Cli(
        info="volume-info-images", status="volume-status-images-brick-down",
        heal=rec("heal-summary-images-brick-down")))["volumes"]["images"]
    assert (vol["to_heal"], vol["settling"]) == (24, False)
    assert vol["problems"][0].startswith("volume images: brick(s) offline")
