"""RabbitMQ membership rules (issue 4 groundwork) on outputs recorded from RabbitMQ 3.10.8."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import load_plugin, run_module

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


# --- the module's real main(), faked CLI output (recorded) -------------------------------

MOD = load_plugin("library", "pilotstack_rabbitmq_cluster")


class Ctl:
    """Answers rabbitmqctl like the brokers did; records every argv."""

    def __init__(self, local: str, peers: dict[str, str | None], queues: int = 0,
                 fail: str | None = None, critical: str | None = None):
        self.local, self.peers, self.queues, self.fail, self.calls = local, peers, queues, fail, []
        self.critical = critical  # the node whose quorum-critical check reports a queue

    def __call__(self, argv):
        self.calls.append(argv)
        if self.fail and self.fail in argv:
            return 70, "", f"{self.fail}: failed"
        if "cluster_status" in argv:
            if "-n" in argv:
                name = self.peers.get(argv[argv.index("-n") + 1])
                return (69, "", "unable to perform an operation on node") if name is None \
                    else (0, _json(name), "")
            return 0, _json(self.local), ""
        if "check_if_node_is_quorum_critical" in argv:
            if argv[argv.index("-n") + 1] == self.critical:
                return 69, CRITICAL, ""
            return 0, "", ""
        if "list_vhosts" in argv:
            return 0, '[\n{"name":"/"}\n]\n', ""
        if "list_queues" in argv:
            names = ",\n".join(f'{{"name":"q{i}"}}' for i in range(self.queues))
            return 0, f"[\n{names}\n]\n", ""
        return 0, "", ""


def _json(name: str) -> str:
    import json
    st = _variant(name)
    return json.dumps({"disk_nodes": st["nodes"], "ram_nodes": [],
                       "running_nodes": st["running_nodes"], "partitions": st["partitions"],
                       "alarms": st["alarms"], "cluster_name": st["cluster_name"]})


ARGS = {"members": MEMBERS, "node": "rabbit@db3"}
CRITICAL = (FIXTURES / "rabbitmq-3.10-quorum_critical-db1.json").read_text()


def test_quorum_critical_parsing():
    assert rmq.parse_quorum_critical("rabbit@db1", 0, "") == []
    assert rmq.parse_quorum_critical("rabbit@db1", 69, CRITICAL) == [
        "queue 'probe' in vhost 'nova'"]
    # a check that could not run proves nothing: it is a problem too
    unknown = rmq.parse_quorum_critical("rabbit@db1", 69, "", "unable to connect to node")
    assert unknown == ["unknown (check failed on rabbit@db1: unable to connect to node)"]


def test_module_joins_once_and_says_what_it_ran():
    ctl = Ctl("standalone-db3", {"rabbit@db1": "three-minus-db3", "rabbit@db2": "three-minus-db3"})
    result = run_module(MOD, ARGS, run_command=ctl)
    assert result["failed"] is False and result["changed"] is True
    assert (result["action"], result["seed"]) == ("join", "rabbit@db1")
    acts = [c for c in ctl.calls if c[1] in ("stop_app", "join_cluster", "start_app")]
    assert acts == [["rabbitmqctl", "stop_app"], ["rabbitmqctl", "join_cluster", "rabbit@db1"],
                    ["rabbitmqctl", "start_app"]]


def test_module_check_mode_predicts_without_acting():
    ctl = Ctl("standalone-db3", {"rabbit@db1": "three-minus-db3", "rabbit@db2": None})
    result = run_module(MOD, ARGS, check_mode=True, run_command=ctl)
    assert result["changed"] is True and result["action"] == "join"
    assert not any(c[1] in ("stop_app", "join_cluster") for c in ctl.calls)


def test_module_no_change_on_a_clustered_node():
    ctl = Ctl("three", {"rabbit@db1": "three", "rabbit@db2": "three"})
    result = run_module(MOD, ARGS, run_command=ctl)
    assert result["changed"] is False and result["action"] == "none"
    # its own status is proof enough: one rabbitmqctl call, not one per member and vhost
    assert ctl.calls == [["rabbitmqctl", "-q", "cluster_status", "--formatter", "json"]]


def test_module_refuses_to_discard_queues_and_fails_on_tool_errors():
    ctl = Ctl("standalone-db3", {"rabbit@db1": "three-minus-db3", "rabbit@db2": None}, queues=3)
    result = run_module(MOD, ARGS, run_command=ctl)
    assert result["failed"] is True and "holds 3 queue(s)" in result["msg"]
    ctl = Ctl("standalone-db3", {"rabbit@db1": "three-minus-db3", "rabbit@db2": None},
              fail="join_cluster")
    result = run_module(MOD, ARGS, run_command=ctl)
    assert result["failed"] is True and "join_cluster rabbit@db1 failed" in result["msg"]


def test_module_info_reads_only():
    ctl = Ctl("one-down", {"rabbit@db1": "one-down", "rabbit@db2": "one-down"})
    result = run_module(MOD, dict(ARGS, state="info"), run_command=ctl)
    assert result["changed"] is False and result["problems"] == ["not running: rabbit@db3"]
    assert all(c[1] in ("-q", "-n") for c in ctl.calls)
    # only running members are asked whether stopping them would break a quorum queue
    asked = [c[2] for c in ctl.calls if "check_if_node_is_quorum_critical" in c]
    assert asked == ["rabbit@db1", "rabbit@db2"]


def test_module_info_names_quorum_critical_members():
    ctl = Ctl("three", {"rabbit@db1": "three", "rabbit@db2": "three"}, critical="rabbit@db1")
    result = run_module(MOD, dict(ARGS, state="info"), run_command=ctl)
    assert result["quorum_critical"]["rabbit@db1"] == ["queue 'probe' in vhost 'nova'"]
    assert result["problems"] == ["stopping rabbit@db1 would leave quorum queues without a "
                                  "majority: queue 'probe' in vhost 'nova'"]
    assert result["feature_flags_disabled"] == []


def test_module_forgets_only_listed_departed_nodes():
    ctl = Ctl("three", {"rabbit@db1": "three", "rabbit@db2": "three"})
    result = run_module(MOD, dict(ARGS, forget=["rabbit@db2"]), run_command=ctl)
    assert result["failed"] is True and "it is in members" in result["msg"]
    ctl = Ctl("one-down", {"rabbit@db1": "one-down", "rabbit@db2": "one-down"})
    result = run_module(MOD, {"members": ["rabbit@db1", "rabbit@db2"], "node": "rabbit@db1",
                              "forget": ["rabbit@db3"]}, run_command=ctl)
    assert result["failed"] is False and result["forgotten"] == ["rabbit@db3"], result
    assert ["rabbitmqctl", "forget_cluster_node", "rabbit@db3"] in ctl.calls
