"""The partition guard's decision on cluster_status outputs of RabbitMQ 3.10.8: the thawed
ones as db1 and db2 reported them after db1 was frozen 40 s (silent-node drill)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import ROOT

FIXTURES = Path(__file__).parent / "fixtures" / "rabbitmq"
SCRIPT = ROOT / "roles" / "rabbitmq" / "files" / "pilotstack-rabbitmq-partition-guard"


def _guard():
    loader = importlib.machinery.SourceFileLoader("partition_guard", str(SCRIPT))
    spec = importlib.util.spec_from_loader("partition_guard", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


guard = _guard()


def status(name: str) -> dict:
    return json.loads((FIXTURES / f"rabbitmq-3.10-cluster_status-{name}.json").read_text())


@pytest.mark.parametrize(("name", "me", "action", "why"), [
    ("three", "rabbit@db1", "none", "no partition"),
    ("one-down", "rabbit@db1", "none", "no partition"),
    # the thawed node runs alone: it is the one to restart
    ("thawed-db1", "rabbit@db1", "restart", "cut from 2 of 3 nodes, the minority side"),
    # the majority side waits for it
    ("thawed-db2", "rabbit@db2", "none", "runs with a majority (2 of 3)"),
    # a node that pause_minority paused is not running: RabbitMQ brings it back itself
    ("partitioned", "rabbit@db2", "none", "is not running"),
])
def test_only_a_running_minority_restarts(name, me, action, why):
    got, reason = guard.decide(status(name), me)
    assert got == action and why in reason, reason


def test_a_minority_record_restarts_even_when_every_node_runs_again():
    """After the links come back a node may list every node as running while its own
    partition record still says it was cut from the other two: it is the minority side.
    (running_nodes edited from the recorded thawed-db1 output.)"""
    st = status("thawed-db1")
    st["running_nodes"] = ["rabbit@db1", "rabbit@db2", "rabbit@db3"]
    got, reason = guard.decide(st, "rabbit@db1")
    assert got == "restart" and "cut from 2 of 3 nodes" in reason, reason
    st = status("thawed-db2")
    st["running_nodes"] = ["rabbit@db1", "rabbit@db2", "rabbit@db3"]
    assert guard.decide(st, "rabbit@db2")[0] == "none"


def test_main_restarts_once_per_hold(tmp_path, monkeypatch):
    calls = []

    def fake_ctl(*args, timeout=60):
        calls.append(args)
        out = json.dumps(status("thawed-db1")) if args[0] == "cluster_status" else ""
        return type("R", (), {"returncode": 0, "stdout": out, "stderr": ""})()

    monkeypatch.setattr(guard, "ctl", fake_ctl)
    monkeypatch.setattr(guard, "STAMP", tmp_path / "last")
    assert guard.main(["guard", "rabbit@db1", "300"]) == 0
    assert [c[0] for c in calls] == ["cluster_status", "stop_app", "start_app"]
    calls.clear()
    assert guard.main(["guard", "rabbit@db1", "300"]) == 0  # within the hold: no restart
    assert [c[0] for c in calls] == ["cluster_status"]


# BOOT_PROBE's output as the guard logged it on db1 of the testbed, 10 s apart, while the
# partition drill's boot hung in global:sync (RabbitMQ 3.10.8, Erlang 25.2.3).
STUCK_1 = "boot <0.10615.0>\ntag rabbit@db3 -576460752303423204\nok\n"
STUCK_2 = "boot <0.10615.0>\ntag rabbit@db3 -576460752303423204\nok\n"
MOVING = "boot <0.10615.0>\ntag rabbit@db3 -576460752303423203\nok\n"


def test_a_boot_stuck_on_one_peer_names_that_peer():
    peers, why = guard.blocked_peers(STUCK_1, STUCK_2)
    assert peers == ["rabbit@db3"] and "global:sync" in why


@pytest.mark.parametrize(("first", "second", "why"), [
    ("ok\n", "ok\n", "no boot waiting"),
    # a synchronisation that moves on is not stuck
    (STUCK_1, MOVING, "no synchronisation with a peer is stuck"),
    # a new boot (another pid) between the looks: not the same wait
    (STUCK_1, STUCK_2.replace("10615", "10999"), "no boot waiting"),
    # pending tag without a boot waiting: global syncs on its own, not ours to touch
    ("tag rabbit@db3 1\nok\n", "tag rabbit@db3 1\nok\n", "no boot waiting"),
])
def test_nothing_is_touched_unless_the_same_boot_waits_on_the_same_tag(first, second, why):
    peers, reason = guard.blocked_peers(first, second)
    assert peers == [] and why in reason, reason


def test_main_on_a_stopped_node_rescues_a_stuck_boot_only(monkeypatch):
    evals = []
    looks = iter([STUCK_1, STUCK_2])

    def fake_ctl(*args, timeout=60):
        if args[0] == "cluster_status":
            return type("R", (), {"returncode": 69, "stdout": "", "stderr": "not running"})()
        evals.append(args[1])
        out = next(looks, "re-announced rabbit@db3\nok\n")
        return type("R", (), {"returncode": 0, "stdout": out, "stderr": ""})()

    monkeypatch.setattr(guard, "ctl", fake_ctl)
    monkeypatch.setattr(guard, "BOOT_WAIT", 0)
    assert guard.main(["guard", "rabbit@db1"]) == 0
    assert len(evals) == 3 and "['rabbit@db3']" in evals[2] and "PEERS" not in evals[2]
    # a paused node (pause_minority waits for a majority): the probe finds no boot, one look
    evals.clear()
    looks = iter(["ok\n"])
    assert guard.main(["guard", "rabbit@db1"]) == 0
    assert len(evals) == 1
