"""Messaging fault drills on real brokers (pilotstack.drills.rabbitmq, the same functions
`pilotstack drill` runs): a publisher with confirms and a consumer with manual acks run
through each fault; every confirmed message must be delivered. Plus the mirrored -> quorum
migration under load.

The nodes run with net_ticktime 10 s (roles/rabbitmq/defaults/main.yml): a node that goes
silent is declared down after 10-15 s instead of 60-75 s.
"""

from __future__ import annotations

import time

import pytest

from pilotstack.drills.rabbitmq import (
    NODES,
    Consumer,
    Publisher,
    account,
    members,
    on_node,
    tally,
    wait_whole,
)

from .conftest import FIGURES, ansible_playbook, run_drill

pytestmark = pytest.mark.usefixtures("stack")


@pytest.mark.parametrize("name", [
    pytest.param("rabbitmq-leader-killed", marks=pytest.mark.full), "rabbitmq-leader-frozen",
    pytest.param("rabbitmq-partition", marks=pytest.mark.full),
    pytest.param("rabbitmq-rolling-restart", marks=pytest.mark.full)])
def test_drill(drill_env, name):
    run_drill(drill_env, name)


@pytest.fixture
def drill_mq(drill_env):
    return account(drill_env)


@pytest.mark.full
def test_mirrored_queues_become_quorum_queues_without_losing_a_message(drill_mq):
    """Two classic queues mirrored by an ha-mode policy, bound to an exchange, 1000 messages
    each; a publisher keeps publishing through the exchange and a consumer keeps consuming
    from one of them during the migration. First the migration must refuse while a node is
    down; then every confirmed message must come out of the quorum queues."""
    import json

    import pika

    from pilotstack.drills.rabbitmq import params
    on_node("db1", "rabbitmqctl -q set_policy -p drill ha-drill '^mirror\\.' "
                   "'{\"ha-mode\":\"all\",\"ha-sync-mode\":\"automatic\"}' --apply-to queues")
    conn = pika.BlockingConnection(params("db1", drill_mq))
    channel = conn.channel()
    channel.confirm_delivery()
    channel.exchange_declare("drill-ex", "direct", durable=True)
    before: dict[str, list[int]] = {}
    for key in ("a", "b"):
        name = f"mirror.{key}"
        channel.queue_delete(name)
        channel.queue_declare(name, durable=True, arguments={"x-queue-type": "classic"})
        channel.queue_bind(name, "drill-ex", routing_key=key)
        before[name] = list(range(1, 1001))
        for i in before[name]:
            channel.basic_publish("drill-ex", key, str(i).encode(),
                                  pika.BasicProperties(delivery_mode=2), mandatory=True)
    conn.close()
    listed = json.loads(on_node("db1", "rabbitmqctl -q list_queues -p drill name type "
                                       "policy --formatter json"))
    assert {q["name"]: q["policy"] for q in listed if q["name"].startswith("mirror.")} == {
        "mirror.a": "ha-drill", "mirror.b": "ha-drill"}

    # refused while db3 is down: nothing changes
    on_node("db3", "systemctl stop rabbitmq-server")
    try:
        run = ansible_playbook("rabbitmq-mirrored-to-quorum.yml", *_inv(),
                               "-e", "rabbitmq_migrate_vhost=drill",
                               "-e", "rabbitmq_gate_timeout=6")
        assert run.rc != 0 and "not healthy" in run.output and "rabbit@db3" in run.output, \
            run.output[-3000:]
    finally:
        on_node("db3", "systemctl start rabbitmq-server")
    wait_whole(120)
    assert _types() == {"mirror.a": "classic", "mirror.b": "classic"}

    publisher = Publisher(drill_mq, "mirror.a", list(NODES), exchange="drill-ex",
                          routing_key="a")
    publisher.next_id = 100_000
    consumer = Consumer(drill_mq, "mirror.a", ["db2", "db3", "db1"])
    publisher.start()
    consumer.start()
    time.sleep(2)
    run = ansible_playbook("rabbitmq-mirrored-to-quorum.yml", *_inv(),
                           "-e", "rabbitmq_migrate_vhost=drill")
    assert run.rc == 0, run.output[-6000:]
    FIGURES["rabbitmq mirrored -> quorum, 2 queues under load (s)"] = round(run.seconds, 1)
    absent = [line for line in run.output.splitlines() if "did not exist" in line]
    FIGURES["rabbitmq mirrored -> quorum: seconds each queue did not exist"] = (
        absent[0].rsplit(":", 1)[-1].strip(' ",'))
    time.sleep(3)
    assert publisher.alive() and consumer.alive(), (publisher.crash, consumer.crash)
    publisher.stop()
    consumer.drain(publisher)
    consumer.stop()
    rest = Consumer(drill_mq, "mirror.b", ["db1"])
    rest.start()
    want_b = Publisher(drill_mq, "mirror.b", ["db1"])
    want_b.confirmed = [(i, 0.0) for i in before["mirror.b"]]
    rest.drain(want_b)
    rest.stop()
    publisher.confirmed = [(i, 0.0) for i in before["mirror.a"]] + publisher.confirmed
    a, b = tally(publisher, consumer), tally(want_b, rest)
    FIGURES["rabbitmq mirrored -> quorum: messages"] = (
        f"mirror.a (publishing and consuming during the move): {a.line()}; "
        f"mirror.b: {b.line()}")
    assert a.lost == [] and b.lost == [], (a.lost[:20], b.lost[:20])
    assert a.confirmed > 1000  # publishing went on during the migration
    assert _types() == {"mirror.a": "quorum", "mirror.b": "quorum"}
    assert members("mirror.a") == members("mirror.b") == sorted(NODES)
    queues = on_node("db1", "rabbitmqctl -q list_queues -p drill name --no-table-headers")
    assert "pilotstack-migrating" not in queues
    bindings = on_node("db1", "rabbitmqctl -q list_bindings -p drill source_name "
                              "destination_name routing_key --no-table-headers")
    assert "drill-ex\tmirror.a\ta" in bindings and "drill-ex\tmirror.b\tb" in bindings
    assert "ha-drill" not in on_node("db1", "rabbitmqctl -q list_policies -p drill")
    again = ansible_playbook("rabbitmq-mirrored-to-quorum.yml", *_inv(),
                             "-e", "rabbitmq_migrate_vhost=drill")
    assert again.rc == 0 and again.changed == 0, again.output[-3000:]


def _inv():
    from .conftest import INVENTORY
    return (INVENTORY,)


def _types() -> dict[str, str]:
    import json
    listed = json.loads(on_node("db1", "rabbitmqctl -q list_queues -p drill name type "
                                       "--formatter json"))
    return {q["name"]: q["type"] for q in listed if q["name"].startswith("mirror.")}
