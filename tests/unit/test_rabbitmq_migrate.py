"""Mirrored -> quorum migration rules: which queues, which refused, where a half-done
migration stands, on queue objects shaped as the management API of RabbitMQ 3.10 returns
them."""

from __future__ import annotations

from tests.conftest import load_plugin

mig = load_plugin("module_utils", "pilotstack_rabbitmq_migrate")

HA = {"ha-mode": "all", "ha-sync-mode": "automatic"}


def q(name, qtype="classic", policy=HA, **extra):
    return {"name": name, "type": qtype, "durable": True, "exclusive": False,
            "auto_delete": False, "arguments": extra.pop("arguments", {}),
            "effective_policy_definition": policy if qtype == "classic" else {}, **extra}


def test_plan_takes_mirrored_classic_queues_and_resumes_half_done_ones():
    queues = [q("a"), q("b", policy={}), q("c", "quorum"),
              q("d", "quorum"), q("d" + mig.TEMP_SUFFIX, "quorum"),
              q("e" + mig.TEMP_SUFFIX, "quorum")]
    todo, refused, done = mig.plan(queues, None)
    # a: mirrored; d: re-declared, messages still parked; e: deleted, not yet declared again
    assert todo == ["a", "d", "e"] and refused == [] and done == []
    assert mig.plan(queues, ["c"]) == ([], [], ["c"])
    assert mig.plan(queues, ["zz"]) == ([], ["zz: no such queue"], [])


def test_queues_that_cannot_be_quorum_queues_are_refused():
    cases = {
        "t": q("t", durable=False), "x": q("x", exclusive=True), "ad": q("ad", auto_delete=True),
        "p": q("p", arguments={"x-max-priority": 10}),
        "o": q("o", arguments={"x-overflow": "reject-publish-dlx"}),
    }
    todo, refused, _ = mig.plan(list(cases.values()), None)
    assert todo == []
    assert sorted(r.split(":")[0] for r in refused) == sorted(cases)
    assert any("priorities" in r for r in refused)


def test_quorum_arguments_keep_what_quorum_queues_understand():
    queue = q("a", arguments={"x-queue-mode": "lazy", "x-message-ttl": 60000,
                              "x-dead-letter-exchange": "dlx", "x-queue-type": "classic"})
    assert mig.quorum_arguments(queue) == {"x-message-ttl": 60000,
                                           "x-dead-letter-exchange": "dlx",
                                           "x-queue-type": "quorum"}


def test_stage_from_what_exists():
    assert mig.stage(q("a"), None) == "move_out"
    assert mig.stage(q("a"), q("a" + mig.TEMP_SUFFIX, "quorum")) == "move_out"
    assert mig.stage(None, q("a" + mig.TEMP_SUFFIX, "quorum")) == "move_back"
    assert mig.stage(q("a", "quorum"), q("a" + mig.TEMP_SUFFIX, "quorum")) == "move_back"
    assert mig.stage(q("a", "quorum"), None) == "done"
    assert mig.stage(None, None) == "lost"


def test_the_default_exchange_binding_is_not_copied():
    bindings = [{"source": "", "routing_key": "a"}, {"source": "ex", "routing_key": "k"}]
    assert mig.own_bindings(bindings) == [{"source": "ex", "routing_key": "k"}]
