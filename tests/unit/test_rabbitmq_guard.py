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
