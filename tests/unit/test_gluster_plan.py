"""Decisions of module_utils/pilotstack_gluster.py: which commands bring a volume to what is
declared, and when a change is refused."""

import pytest

from module_utils.pilotstack_gluster import Refused, plan_volume, volume_health

B = [f"10.0.0.{i}:/b/v/brick" for i in (1, 2, 3)]
OPTS = {"cluster.quorum-type": "auto"}


def vol(bricks, replica, status="Started", options=None):
    return {"status": status, "bricks": list(bricks), "replica": replica,
            "options": dict(options or {})}


def test_missing_volume_is_created_set_and_started():
    assert plan_volume("v", None, B, 3, OPTS) == [
        ["create", "v", "replica", "3", *B],
        ["set", "v", "cluster.quorum-type", "auto"],
        ["start", "v"]]


def test_converged_volume_needs_nothing():
    assert plan_volume("v", vol(B, 3, options=OPTS), B, 3, OPTS) == []


def test_only_the_differing_option_is_set():
    current = vol(B, 3, options={"cluster.quorum-type": "auto", "network.ping-timeout": "42"})
    assert plan_volume("v", current, B, 3, {**OPTS, "network.ping-timeout": 10}) == [
        ["set", "v", "network.ping-timeout", "10"]]


def test_stopped_volume_is_started_and_started_one_stopped_on_request():
    assert plan_volume("v", vol(B, 3, "Stopped", OPTS), B, 3, OPTS) == [["start", "v"]]
    assert plan_volume("v", vol(B, 3, "Started", OPTS), B, 3, OPTS, state="stopped") == [
        ["stop", "v"]]


def test_replica_2_to_3_adds_the_third_brick_with_the_new_count():
    assert plan_volume("v", vol(B[:2], 2, options=OPTS), B, 3, OPTS, healthy=[]) == [
        ["add-brick", "v", "replica", "3", B[2]]]


def test_replica_change_on_an_unhealthy_volume_is_refused():
    with pytest.raises(Refused, match="not healthy.*3 entries still to heal"):
        plan_volume("v", vol(B[:2], 2), B, 3, {},
                    healthy=["volume v: 3 entries still to heal"])


def test_replica_jump_of_two_and_wrong_brick_counts_are_refused():
    six = [f"10.0.0.{i}:/b/v/brick" for i in range(1, 7)]
    with pytest.raises(Refused, match="one step at a time"):
        plan_volume("v", vol(B[:1], 1), B, 3, {}, healthy=[])
    with pytest.raises(Refused, match="needs 1 new brick"):
        plan_volume("v", vol(six[:2], 2), six, 3, {}, healthy=[])
    with pytest.raises(Refused, match="multiple of 3"):
        plan_volume("v", None, B[:2], 3, {})


def test_replica_2_needs_its_flag_and_two_copies_on_one_server_are_refused():
    with pytest.raises(Refused, match="replica 2 splits brain"):
        plan_volume("v", None, B[:2], 2, {})
    assert plan_volume("v", None, B[:2], 2, {}, allow_replica2=True)[0][:4] == [
        "create", "v", "replica", "2"]
    with pytest.raises(Refused, match="two copies on one server"):
        plan_volume("v", None, [B[0], B[0].replace("/v/", "/w/"), B[1]], 3, {})


def test_undeclared_bricks_are_never_removed_silently():
    with pytest.raises(Refused, match="not declared: 10.0.0.3"):
        plan_volume("v", vol(B, 3), B[:2], 2, {}, allow_replica2=True, healthy=[])
    assert plan_volume("v", vol(B, 3), B[:2], 2, {}, remove_bricks=[B[2]],
                       allow_replica2=True, healthy=[]) == [
        ["remove-brick", "v", "replica", "2", B[2], "force"]]


def test_a_volume_is_never_deleted():
    with pytest.raises(Refused, match="not done by this module"):
        plan_volume("v", vol(B, 3), B, 3, {}, state="absent")


def test_health_lists_every_problem():
    info = vol(B, 3)
    status = {"bricks": {B[0]: True, B[1]: True, B[2]: False}}
    heal = {B[0]: {"connected": True, "total": 4, "split_brain": 1},
            B[1]: {"connected": True, "total": 0, "split_brain": 0},
            B[2]: {"connected": False, "total": None, "split_brain": None}}
    problems = volume_health("v", info, status, heal)
    assert problems == [f"volume v: brick(s) offline: {B[2]}",
                        "volume v: 1 entry in split-brain: resolve them (gluster volume heal "
                        "v split-brain ...) before anything else",
                        "volume v: 4 entries still to heal"]
    assert volume_health("v", info, {"bricks": dict.fromkeys(B, True)},
                         {b: {"connected": True, "total": 0, "split_brain": 0}
                          for b in B}) == []
    assert volume_health("v", None, None, None) == ["volume v does not exist"]
    assert volume_health("v", vol(B, 3, "Stopped"), None, None) == [
        "volume v is Stopped, not Started"]
