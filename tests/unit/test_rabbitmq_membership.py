"""RabbitMQ membership rules (issue 4 groundwork) on outputs recorded from RabbitMQ 3.10.8."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import load_plugin

rmq = load_plugin("module_utils", "pilotstack_rabbitmq")
FIXTURES = Path(__file__).parent / "fixtures" / "rabbitmq"
MEMBERS = ["rabbit@db1", "rabbit@db2", "rabbit@db3"]


def status(name: str) -> dict:
    return rmq.parse_cluster_status(
        (FIXTURES / f"rabbitmq-3.10-cluster_status-{name}.json").read_text())


def test_parse_a_three_node_cluster():
    st = status("three")
    assert st["nodes"] == MEMBERS and sorted(st["running_nodes"]) == MEMBERS
    assert st["partitions"] == {} and st["alarms"] == []
    assert st["feature_flags"]["quorum_queue"] == "enabled"
    assert st["versions"]["rabbit@db1"]["rabbitmq_version"] == "3.10.8"


def test_health_names_what_forbids_a_restart():
    assert rmq.health(MEMBERS, status("three")) == []
    assert rmq.health(MEMBERS, status("one-down")) == ["not running: rabbit@db3"]
    problems = rmq.health(MEMBERS, status("partitioned"))
    assert problems[0] == "not running: rabbit@db2"
    assert "network partitions: {'rabbit@db1': ['rabbit@db2']}" in problems[1]
    # recorded while db3 was still powered off, with a memory alarm raised on db1
    assert rmq.health(MEMBERS, status("memory-alarm")) == [
        "not running: rabbit@db3",
        "alarms: [{'node': 'rabbit@db1', 'resource': 'memory', 'type': 'resource_limit'}]"]


@pytest.mark.parametrize(("me", "statuses", "queues", "expect"), [
    # a fresh node joins the node that already leads a cluster
    ("rabbit@db3", {"rabbit@db1": "three-minus-db3", "rabbit@db3": "standalone-db3"}, 0,
     ("join", "rabbit@db1")),
    # three standalone nodes: the first in inventory order is the seed
    ("rabbit@db1", {"rabbit@db1": "standalone-db1", "rabbit@db2": "standalone"}, 0,
     ("none", None)),
    ("rabbit@db2", {"rabbit@db1": "standalone-db1", "rabbit@db2": "standalone"}, 0,
     ("join", "rabbit@db1")),
    # already clustered: nothing to do
    ("rabbit@db2", {"rabbit@db1": "three", "rabbit@db2": "three"}, 0, ("none", None)),
], ids=["fresh-joins-cluster", "first-is-seed", "second-joins-first", "clustered"])
def test_join_decisions(me, statuses, queues, expect):
    parsed = {node: _variant(name) for node, name in statuses.items()}
    result = rmq.plan_join(me, MEMBERS, parsed, local_queues=queues)
    assert (result["action"], result["seed"]) == expect, result["reasons"]


def test_joining_refuses_to_discard_local_queues_unless_allowed():
    parsed = {"rabbit@db1": _variant("three-minus-db3"), "rabbit@db3": _variant("standalone-db3")}
    with pytest.raises(rmq.Refused, match="holds 2 queue"):
        rmq.plan_join("rabbit@db3", MEMBERS, parsed, local_queues=2)
    assert rmq.plan_join("rabbit@db3", MEMBERS, parsed, local_queues=2,
                         allow_reset=True)["action"] == "join"


def test_a_node_of_another_cluster_is_refused():
    st = _variant("three")
    with pytest.raises(rmq.Refused, match="nodes not in the inventory: rabbit@db3"):
        rmq.plan_join("rabbit@db1", MEMBERS[:2], {"rabbit@db1": st})


def test_a_node_that_does_not_answer_is_not_decided_for():
    with pytest.raises(rmq.Refused, match="does not answer"):
        rmq.plan_join("rabbit@db2", MEMBERS, {"rabbit@db2": None})


def _variant(name: str) -> dict:
    """Recorded outputs, and the same seen from another node (names substituted)."""
    if name == "standalone-db1":
        st = status("standalone")
        return dict(st, nodes=["rabbit@db1"], running_nodes=["rabbit@db1"])
    if name == "standalone-db3":
        st = status("standalone")
        return dict(st, nodes=["rabbit@db3"], running_nodes=["rabbit@db3"])
    if name == "three-minus-db3":
        st = status("three")
        return dict(st, nodes=MEMBERS[:2], running_nodes=MEMBERS[:2])
    return status(name)
