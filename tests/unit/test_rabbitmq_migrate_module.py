"""pilotstack_rabbitmq_migrate's main(): the management API faked (answers shaped as
RabbitMQ 3.10 gives them) only to test what the module decides; check mode included. The
move itself is proven on the testbed (rabbitmq-mirrored-to-quorum drill)."""

from __future__ import annotations

from unittest import mock

from tests.conftest import load_plugin, run_module

MIGRATE = load_plugin("library", "pilotstack_rabbitmq_migrate")
ARGS = {"vhost": "nova", "api_url": "http://10.0.0.21:15672", "user": "admin",
        "password": "not-a-real-password"}
MIRRORED = {"name": "compute", "type": "classic", "durable": True, "auto_delete": False,
            "exclusive": False, "arguments": {}, "policy": "ha-all",
            "effective_policy_definition": {"ha-mode": "all"}}
QUORUM = {"name": "compute", "type": "quorum", "durable": True, "auto_delete": False,
          "exclusive": False, "arguments": {"x-queue-type": "quorum"}}


class FakeApi:
    """GETs answered from `state`; any other call recorded (and refused: a check-mode run
    or a no-op must not make one)."""

    def __init__(self, queues, policies, vhost_status=200):
        self.queues_, self.policies, self.vhost_status, self.changes = (
            queues, policies, vhost_status, [])
        self.v = "nova"

    def call(self, method, path, body=None, ok=(200, 201, 204)):
        if method == "GET" and path == "/vhosts/nova":
            return self.vhost_status, {}
        self.changes.append((method, path))
        raise AssertionError(f"unexpected call {method} {path}")

    def must(self, method, path, body=None, ok=(200, 201, 204)):
        if method == "GET" and path == "/policies/nova":
            return self.policies
        if method == "DELETE" and path.startswith("/policies/nova/"):
            self.changes.append((method, path))
            return None
        return self.call(method, path, body, ok)

    def queues(self):
        return self.queues_


def run(api: FakeApi, check_mode: bool, **extra):
    with mock.patch.object(MIGRATE, "Api", lambda *a, **k: api):
        return run_module(MIGRATE, dict(ARGS, **extra), check_mode=check_mode,
                          run_command=lambda argv: (1, "", "rabbitmqctl must not run"))


POLICY = [{"name": "ha-all", "definition": {"ha-mode": "all"}},
          {"name": "ttl", "definition": {"message-ttl": 60000}}]


def test_check_mode_predicts_the_queue_and_the_policy_and_changes_nothing():
    api = FakeApi([MIRRORED], POLICY)
    result = run(api, check_mode=True)
    assert result["failed"] is False and result["changed"] is True
    assert result["planned"] == ["compute"] and result["policies_removed"] == ["ha-all"]
    assert api.changes == []


def test_check_mode_predicts_a_policy_left_alone_after_the_queues():
    # every queue already quorum, only the ha-mode policy left: a run removes it
    api = FakeApi([QUORUM], POLICY)
    result = run(api, check_mode=True)
    assert result["changed"] is True and result["policies_removed"] == ["ha-all"]
    assert api.changes == []
    api = FakeApi([QUORUM], POLICY)
    result = run(api, check_mode=False)
    assert result["changed"] is True and api.changes == [("DELETE", "/policies/nova/ha-all")]


def test_nothing_left_changes_nothing():
    api = FakeApi([QUORUM], [POLICY[1]])
    for check in (True, False):
        result = run(api, check_mode=check)
        assert result["failed"] is False and result["changed"] is False
    assert api.changes == []


def test_a_named_queue_that_does_not_exist_is_refused_before_any_change():
    api = FakeApi([QUORUM], POLICY)
    result = run(api, check_mode=False, queues=["missing"])
    assert result["failed"] is True and "refusing, nothing was changed" in result["msg"]
    assert api.changes == []


def test_an_unknown_vhost_fails():
    result = run(FakeApi([], [], vhost_status=404), check_mode=True)
    assert result["failed"] is True and "vhost nova not found" in result["msg"]
