"""Messaging fault drills on real brokers: a publisher with confirms and a consumer with
manual acks run through each fault; every confirmed message must be delivered. Figures
(seconds until publishing resumed, lost, duplicates) go to the run's figures.

The nodes run with net_ticktime 15 s (roles/rabbitmq/defaults/main.yml): a node that goes
silent is declared down after 15-20 s instead of 60-75 s.
"""

from __future__ import annotations

import time

from .conftest import FIGURES, ansible_playbook, new_queue
from .mqdrill import (
    NODES,
    Consumer,
    Publisher,
    cluster_whole,
    cut,
    heal,
    leader,
    members,
    on_node,
    tally,
    wait_whole,
)


def others(host: str) -> list[str]:
    return [h for h in NODES if h != host]


def run_clients(creds, queue, pub_hosts, con_hosts):
    return (Publisher(creds, queue, pub_hosts), Consumer(creds, queue, con_hosts))


def clients_on_the_leader(creds, name: str):
    """A fresh queue; a publisher connected to the node holding its leader and a consumer
    on the others, both running for 3 s. Returns (queue, victim, rest, publisher, consumer)."""
    queue = new_queue(creds, name)
    victim = leader(queue)
    rest = others(victim)
    publisher, consumer = run_clients(creds, queue, [victim, *rest], rest)
    publisher.start()
    consumer.start()
    time.sleep(3)
    return queue, victim, rest, publisher, consumer


def finish(publisher, consumer, label: str):
    """Stops the clients (both must have run to the end: a client thread that died would
    make every figure meaningless) and counts."""
    assert publisher.alive() and consumer.alive(), (
        f"{label}: a drill client stopped running: publisher {publisher.crash}, "
        f"consumer {consumer.crash}")
    publisher.stop()
    consumer.drain(publisher)
    consumer.stop()
    result = tally(publisher, consumer)
    FIGURES[f"{label}: messages"] = result.line()
    assert result.confirmed > 0
    assert result.lost == [], f"{label}: confirmed but never delivered: {result.lost[:20]}"
    return result


def test_drill_leader_node_killed(stack, drill_mq):
    """SIGKILL of the RabbitMQ VM on the node holding the queue's leader, with the publisher
    connected to that very node; the node stays down until publishing has resumed."""
    queue, victim, rest, publisher, consumer = clients_on_the_leader(drill_mq, "drill-kill")
    fault = time.monotonic()
    # killed, and kept down (systemd would restart it after 10 s)
    on_node(victim, "pkill -KILL -x beam.smp; systemctl stop rabbitmq-server")
    time.sleep(20)
    confirmed_while_down = [i for i, t in publisher.confirmed if t > fault]
    new_leader = leader(queue, ask=rest[0])
    on_node(victim, "systemctl start rabbitmq-server")
    FIGURES["rabbitmq kill of the leader's node: publishing resumed after (s)"] = round(
        publisher.resumed_after(fault), 1)
    whole = wait_whole(180)
    FIGURES["rabbitmq kill: node back in the cluster after start (s)"] = round(whole, 1)
    time.sleep(2)
    result = finish(publisher, consumer, "rabbitmq kill of the leader's node")
    assert confirmed_while_down, "no message was confirmed while the leader's node was down"
    assert new_leader in rest
    assert members(queue) == sorted(NODES)
    print(result)


def test_drill_leader_node_silent(stack, drill_mq):
    """The RabbitMQ VM on the leader's node is frozen (SIGSTOP) for 40 s: no crash, no
    closed socket, just silence; the publisher is connected to that node. Then it thaws and
    must be back in the cluster without a manual step."""
    queue, victim, rest, publisher, consumer = clients_on_the_leader(drill_mq, "drill-silent")
    fault = time.monotonic()
    on_node(victim, "pkill -STOP -x beam.smp")
    try:
        time.sleep(40)
        confirmed_while_silent = [i for i, t in publisher.confirmed if t > fault]
        new_leader = leader(queue, ask=rest[0])
    finally:
        on_node(victim, "pkill -CONT -x beam.smp")
    FIGURES["rabbitmq silent leader's node: publishing resumed after (s)"] = round(
        publisher.resumed_after(fault), 1)
    whole = wait_whole(240)
    FIGURES["rabbitmq silent node: cluster whole after thaw, no manual step (s)"] = round(
        whole, 1)
    guard = on_node(victim, "journalctl -q -u pilotstack-rabbitmq-partition-guard "
                            "--since -300s -o cat | grep 'restarting the RabbitMQ' || true")
    FIGURES["rabbitmq silent node: healed by"] = (
        "the partition guard (pause_minority left it running alone)" if guard.strip()
        else "RabbitMQ itself")
    time.sleep(2)
    result = finish(publisher, consumer, "rabbitmq silent leader's node")
    assert confirmed_while_silent, "no message was confirmed while the leader's node was silent"
    assert new_leader in rest
    print(result)


def test_drill_partition_minority_pauses_majority_serves_heals_alone(stack, drill_mq):
    """The leader's node is cut off from the other two (packets dropped both ways, clients
    still reach every node). pause_minority: it stops serving; the two others elect a new
    leader and keep confirming. A second publisher starts on the cut-off node. After the
    cut is removed the cluster must be whole again without a manual step."""
    queue = new_queue(drill_mq, "drill-partition")
    minority = leader(queue)
    majority = others(minority)
    publisher, consumer = run_clients(drill_mq, queue, majority, majority)
    stranded = Publisher(drill_mq, queue, [minority, *majority])
    stranded.next_id = 10_000_000  # its own id range
    for client in (publisher, consumer, stranded):
        client.start()
    time.sleep(3)
    fault = time.monotonic()
    cut(minority, majority)
    try:
        paused_after = None
        while time.monotonic() - fault < 90:
            running = on_node(minority, "rabbitmqctl -q eval "
                              "'rabbit:is_running().' 2>/dev/null", check=False).strip()
            if running == "false":
                paused_after = time.monotonic() - fault
                break
            time.sleep(1)
        time.sleep(5)
        served = [i for i, t in publisher.confirmed if t > fault]
        majority_leader = leader(queue, ask=majority[0])
    finally:
        heal(minority)
    healed = time.monotonic()
    whole = wait_whole(240)
    FIGURES["rabbitmq partition: minority node paused after (s)"] = (
        round(paused_after, 1) if paused_after is not None else "never")
    FIGURES["rabbitmq partition: majority publisher's longest stall (s)"] = round(
        publisher.max_gap(fault, healed), 1)
    FIGURES["rabbitmq partition: publisher on the cut-off node resumed after (s)"] = round(
        stranded.resumed_after(fault), 1)
    FIGURES["rabbitmq partition: whole again after the cut was removed, no manual step (s)"] = (
        round(whole, 1))
    since = int(time.monotonic() - fault) + 2
    unblocked = on_node(minority, "journalctl -q -u pilotstack-rabbitmq-partition-guard "
                                  f"--since -{since}s -o cat | grep -c '^re-announced' || true")
    FIGURES["rabbitmq partition: boots stuck in global:sync the guard unblocked"] = int(
        unblocked.strip() or 0)
    time.sleep(2)
    assert stranded.alive(), f"the cut-off node's publisher stopped running: {stranded.crash}"
    stranded.stop()
    publisher.confirmed += stranded.confirmed
    result = finish(publisher, consumer, "rabbitmq partition")
    assert paused_after is not None, "the cut-off node never paused (pause_minority)"
    assert served, "the majority confirmed nothing during the partition"
    assert majority_leader in majority
    assert all(cluster_whole(h) for h in NODES)
    print(result)


def test_drill_rolling_restart_under_publish_load(stack, drill_mq):
    queue = new_queue(drill_mq, "drill-rolling")
    hosts = list(NODES)
    publisher, consumer = run_clients(drill_mq, queue, hosts, hosts[::-1])
    publisher.start()
    consumer.start()
    time.sleep(3)
    start = time.monotonic()
    run = ansible_playbook("rabbitmq-rolling-restart.yml")
    assert run.rc == 0, run.output[-6000:]
    FIGURES["rabbitmq rolling restart of 3 nodes under load (s)"] = round(run.seconds, 1)
    FIGURES["rabbitmq rolling restart: longest publishing stall (s)"] = round(
        publisher.max_gap(start, time.monotonic()), 1)
    time.sleep(2)
    result = finish(publisher, consumer, "rabbitmq rolling restart")
    FIGURES["rabbitmq rolling restart: publisher reconnects"] = publisher.reconnects
    assert publisher.reconnects >= 1  # the drain really moved the clients
    assert members(queue) == sorted(NODES)
    print(result)


def test_mirrored_queues_become_quorum_queues_without_losing_a_message(stack, drill_mq):
    """Two classic queues mirrored by an ha-mode policy, bound to an exchange, 1000 messages
    each; a publisher keeps publishing through the exchange and a consumer keeps consuming
    from one of them during the migration. First the migration must refuse while a node is
    down; then every confirmed message must come out of the quorum queues."""
    import json

    import pika

    from .mqdrill import params
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
