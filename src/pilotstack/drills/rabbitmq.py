"""Messaging tier drills: an AMQP publisher with publisher confirms and a
consumer with manual acks, each reconnecting to the next node when its connection fails,
and the counts of what survived.

A message is confirmed when the broker acknowledged it (basic.ack in confirm mode: for a
quorum queue, a majority of its members wrote it). A message whose confirm never came is
published again after the reconnect, with the same id (at-least-once, as a real client
does), so a consumer may see it twice: that is counted as a duplicate, not a loss.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pika
import pika.exceptions

from ..mu import mq_mu
from . import DrillFailed, check, drill
from .env import FAULTS, addrs, group, on_node

# From the testbed's topology: the nodes and the addresses clients and peers use.
CLUSTER_NET = "mgmt"
NODES = addrs(group("rabbitmq"), CLUSTER_NET)
FIRST = next(iter(NODES))
VHOST = "drill"

# pika logs every failed connection attempt at ERROR: the drills cause them on purpose.
logging.getLogger("pika").setLevel(logging.CRITICAL)


def params(host: str, creds: dict) -> pika.ConnectionParameters:
    # heartbeat 2 s: a client notices a silent node in ~4 s (pika closes after 2 missed
    # heartbeat intervals); connection attempts give up after 2 s.
    return pika.ConnectionParameters(
        host=NODES[host], virtual_host=VHOST,
        credentials=pika.PlainCredentials(creds["user"], creds["password"]),
        heartbeat=2, blocked_connection_timeout=10, socket_timeout=2, stack_timeout=4,
        connection_attempts=1)


class _Client(threading.Thread):
    def __init__(self, creds: dict, queue: str, hosts: list[str]):
        super().__init__(daemon=True)
        self.creds, self.queue, self.hosts = creds, queue, list(hosts)
        self.stop_event = threading.Event()
        self.reconnects = 0
        self.connected_to: list[tuple[float, str]] = []
        self.crash: str | None = None
        self._next = 0

    def connect(self):
        """The next node in the list that accepts a connection (round robin). Any failure
        to connect moves on: a frozen node accepts TCP and then times the AMQP handshake
        out with pika's AMQPConnectorStackTimeout, which is not an AMQPError (a CI run's
        publisher thread died of it and the drill measured nothing)."""
        while not self.stop_event.is_set():
            host = self.hosts[self._next % len(self.hosts)]
            self._next += 1
            try:
                conn = pika.BlockingConnection(params(host, self.creds))
                self.connected_to.append((time.monotonic(), host))
                return conn
            except Exception:  # noqa: BLE001 - every failed attempt means: try the next node
                time.sleep(0.1)
        return None

    def stop(self):
        self.stop_event.set()
        self.join(30)
        return self

    def run(self):
        """Connect, set the channel up, repeat step(); on any failure reconnect. Anything
        else ends the client with `crash` set, which the drills assert is None."""
        try:
            self._loop()
        except Exception as exc:  # noqa: BLE001 - recorded, asserted on by the drills
            self.crash = f"{type(exc).__name__}: {exc}"

    def alive(self) -> bool:
        return self.is_alive() and self.crash is None

    def _loop(self):
        conn = channel = None
        while not self.stop_event.is_set():
            try:
                if conn is None:
                    conn = self.connect()
                    if conn is None:
                        return
                    channel = conn.channel()
                    self.setup(channel)
                self.step(channel)
            except (pika.exceptions.AMQPError, OSError, AttributeError):
                self.failed()
                self.reconnects += 1
                _close(conn)
                conn = None
                time.sleep(0.05)
        _close(conn)

    def setup(self, channel) -> None:
        raise NotImplementedError

    def step(self, channel) -> None:
        raise NotImplementedError

    def failed(self) -> None:
        """The connection or channel failed during step()."""


class Publisher(_Client):
    """Publishes persistent messages numbered 1, 2, ... to the queue (default exchange, or
    `exchange` with `routing_key`; mandatory), one at a time, each waiting for its confirm."""

    def __init__(self, creds: dict, queue: str, hosts: list[str], exchange: str = "",
                 routing_key: str | None = None):
        super().__init__(creds, queue, hosts)
        self.exchange = exchange
        self.routing_key = routing_key if routing_key is not None else queue
        self.confirmed: list[tuple[int, float]] = []
        self.republished = 0
        self.next_id = 1

    def setup(self, channel) -> None:
        channel.confirm_delivery()

    def step(self, channel) -> None:
        channel.basic_publish(
            exchange=self.exchange, routing_key=self.routing_key,
            body=str(self.next_id).encode(),
            properties=pika.BasicProperties(delivery_mode=2), mandatory=True)
        self.confirmed.append((self.next_id, time.monotonic()))
        self.next_id += 1

    def failed(self) -> None:
        self.republished += 1  # no confirm: the same id goes again on the next connection

    def max_gap(self, since: float, until: float | None = None) -> float:
        """Longest time without a confirm between `since` and `until` (default: the last
        confirm): how long publishing stalled."""
        until = until if until is not None else (self.confirmed[-1][1] if self.confirmed
                                                 else since)
        times = [since] + [t for _, t in self.confirmed if since < t <= until] + [until]
        return max(b - a for a, b in zip(times, times[1:], strict=False))

    def resumed_after(self, since: float) -> float:
        """Seconds from `since` until the first confirm that followed the longest stall."""
        times = [since] + [t for _, t in self.confirmed if t > since]
        if len(times) < 2:
            return float("inf")
        gaps = [(b - a, b) for a, b in zip(times, times[1:], strict=False)]
        _, end = max(gaps)
        return end - since


class Consumer(_Client):
    """Consumes with manual acks (prefetch 100): records each delivery, then acks it."""

    def __init__(self, creds: dict, queue: str, hosts: list[str]):
        super().__init__(creds, queue, hosts)
        self.received: list[int] = []
        self.last_delivery = time.monotonic()

    def setup(self, channel) -> None:
        channel.basic_qos(prefetch_count=100)

    def step(self, channel) -> None:
        for method, _props, body in channel.consume(self.queue, inactivity_timeout=0.5):
            if self.stop_event.is_set():
                return
            if method is None:
                continue
            self.received.append(int(body))
            self.last_delivery = time.monotonic()
            channel.basic_ack(method.delivery_tag)
        # the broker cancelled the consumer (its queue was deleted): subscribe again
        raise pika.exceptions.AMQPError("consumer cancelled by the broker")

    def drain(self, publisher: Publisher, timeout: float = 120) -> None:
        """Waits until every confirmed message arrived or deliveries stop for 10 s."""
        deadline = time.monotonic() + timeout
        want = {i for i, _ in publisher.confirmed}
        while time.monotonic() < deadline:
            if want <= set(self.received):
                return
            if time.monotonic() - self.last_delivery > 10:
                return
            time.sleep(0.5)


def _close(conn) -> None:
    if conn is None:
        return
    with contextlib.suppress(Exception):  # the connection may already be gone
        conn.close()


@dataclass
class Tally:
    confirmed: int
    lost: list[int]
    duplicates: int
    received: int
    republished: int
    extra: dict = field(default_factory=dict)

    def line(self) -> str:
        return (f"{len(self.lost)} lost of {self.confirmed} confirmed, "
                f"{self.duplicates} duplicates delivered")


def tally(publisher: Publisher, consumer: Consumer) -> Tally:
    counts = Counter(consumer.received)
    confirmed = [i for i, _ in publisher.confirmed]
    lost = [i for i in confirmed if i not in counts]
    duplicates = sum(c - 1 for c in counts.values())
    return Tally(len(confirmed), lost, duplicates, len(consumer.received),
                 publisher.republished)


def leader(queue: str, ask: str = FIRST) -> str:
    """The node holding the quorum queue's leader, asked of `ask`."""
    out = on_node(ask, f"rabbitmqctl -q list_queues -p {VHOST} name leader --no-table-headers")
    for line in out.splitlines():
        name, _, node = line.partition("\t")
        if name == queue:
            return node.strip().removeprefix("rabbit@")
    raise DrillFailed(f"queue {queue} not found: {out}")


def members(queue: str, ask: str = FIRST) -> list[str]:
    out = on_node(ask, f"rabbitmqctl -q list_queues -p {VHOST} name members --formatter json")
    for q in json.loads(out):
        if q["name"] == queue:
            return sorted(m.removeprefix("rabbit@") for m in q["members"])
    raise DrillFailed(f"queue {queue} not found: {out}")


def cluster_whole(ask: str) -> bool:
    """Every node running, no partition, no alarm, as `ask` sees it: the role's gate rule
    (module_utils/pilotstack_rabbitmq.health)."""
    try:
        st = mq_mu.parse_cluster_status(
            on_node(ask, "rabbitmqctl -q cluster_status --formatter json", timeout=60))
    except (RuntimeError, ValueError):
        return False
    return not mq_mu.health([f"rabbit@{h}" for h in NODES], st)


def wait_whole(timeout: float = 300) -> float:
    """Seconds until all three nodes agree the cluster is whole (fails after timeout)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if all(cluster_whole(h) for h in NODES):
            return time.monotonic() - start
        time.sleep(1)
    raise DrillFailed(f"RabbitMQ cluster not whole after {timeout} s:\n" + diagnose())


def diagnose() -> str:
    """What each node reports, for a failed drill's message: cluster view, drill network
    cuts left in place, the partition guard's last words."""
    lines = []
    for host in NODES:
        raw = on_node(host, "rabbitmqctl -q cluster_status --formatter json 2>&1", check=False)
        try:
            st = json.loads(raw)
            view = f"running {st.get('running_nodes')} partitions {st.get('partitions')}"
        except ValueError:
            view = raw.strip()[:200]
        tables = on_node(host, "nft list tables 2>&1", check=False).strip() or "-"
        guard = on_node(host, "journalctl -u pilotstack-rabbitmq-partition-guard -n 200 "
                              "--no-pager -o cat 2>&1", check=False).splitlines()
        said = [line for line in guard if "partition-guard" not in line][-3:]
        lines.append(f"{host}: {view}; nft: {tables}; guard: {said or '-'}")
    return "\n".join(lines)


def cut(host: str, peers: list[str]) -> None:
    """Cuts `host` off from `peers` on the AMQP/cluster network (the fault layer's cut)."""
    FAULTS.cut(host, peers, CLUSTER_NET)


def heal(host: str) -> None:
    FAULTS.heal(host)


# --- accounts, queues -----------------------------------------------------------------------

def account(env) -> dict:
    """An AMQP account for the drills: vhost `drill` (quorum queues by default) and a user
    with rights there only (password: env.drill_password)."""
    if getattr(env, "_amqp_account", None) is None:
        creds = {"user": "pilotstack_drill", "password": env.drill_password("amqp")}
        wait_whole(300)
        on_node(FIRST, "(rabbitmqctl -q list_vhosts name | grep -qx drill || "
                       " rabbitmqctl -q add_vhost drill --default-queue-type quorum) && "
                       f"(rabbitmqctl -q add_user {creds['user']} {creds['password']} "
                       ">/dev/null 2>&1 || rabbitmqctl -q change_password "
                       f"{creds['user']} {creds['password']} >/dev/null) && "
                       f"rabbitmqctl -q set_permissions -p drill {creds['user']} '.*' '.*' '.*'")
        env._amqp_account = creds
    return env._amqp_account


def new_queue(creds: dict, name: str, host: str = FIRST) -> str:
    """A fresh quorum queue in the drill vhost, named `name-<time>`, once the cluster is
    whole. A new name each time: declaring a quorum queue again right after deleting it
    races with its Ra members still terminating on other nodes (a drill run twice in a row
    left the second queue unlisted on one node)."""
    wait_whole(300)
    name = f"{name}-{int(time.time())}"
    conn = pika.BlockingConnection(params(host, creds))
    try:
        conn.channel().queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})
    finally:
        conn.close()
    return name


# --- the drills -------------------------------------------------------------------------------

def others(host: str) -> list[str]:
    return [h for h in NODES if h != host]


def clients_on_the_leader(creds, name: str):
    """A fresh queue; a publisher connected to the node holding its leader and a consumer
    on the others, both running for 3 s. Returns (queue, victim, rest, publisher, consumer)."""
    queue = new_queue(creds, name)
    victim = leader(queue)
    rest = others(victim)
    publisher, consumer = Publisher(creds, queue, [victim, *rest]), Consumer(creds, queue, rest)
    publisher.start()
    consumer.start()
    time.sleep(3)
    return queue, victim, rest, publisher, consumer


def finish(env, publisher: Publisher, consumer: Consumer, label: str) -> Tally:
    """Stops the clients (both must have run to the end: a client thread that died would
    make every figure meaningless) and counts."""
    check(publisher.alive() and consumer.alive(),
          f"{label}: a drill client stopped running: publisher {publisher.crash}, "
          f"consumer {consumer.crash}")
    publisher.stop()
    consumer.drain(publisher)
    consumer.stop()
    result = tally(publisher, consumer)
    env.figure(f"{label}: messages", result.line())
    env.count(f"{label}: confirmed messages", result.confirmed, len(result.lost))
    check(result.confirmed > 0, f"{label}: no message was confirmed at all")
    check(result.lost == [], f"{label}: confirmed but never delivered: {result.lost[:20]}")
    return result


@drill("rabbitmq-leader-killed", "rabbitmq")
def leader_killed(env) -> None:
    """SIGKILL of the RabbitMQ VM on the node holding the queue's leader, with the publisher
    connected to that very node; the node stays down until publishing has resumed."""
    queue, victim, rest, publisher, consumer = clients_on_the_leader(account(env), "drill-kill")
    fault = time.monotonic()
    try:
        # killed, and kept down (systemd would restart it after 10 s)
        FAULTS.signal(victim, "beam.smp", "KILL")
        on_node(victim, "systemctl stop rabbitmq-server")
        time.sleep(20)
        confirmed_while_down = [i for i, t in publisher.confirmed if t > fault]
        new_leader = leader(queue, ask=rest[0])
    finally:
        on_node(victim, "systemctl start rabbitmq-server")
    env.figure("rabbitmq kill of the leader's node: publishing resumed after (s)",
               round(publisher.resumed_after(fault), 1))
    env.figure("rabbitmq kill: node back in the cluster after start (s)",
               round(wait_whole(180), 1))
    time.sleep(2)
    finish(env, publisher, consumer, "rabbitmq kill of the leader's node")
    check(confirmed_while_down, "no message was confirmed while the leader's node was down")
    check(new_leader in rest, f"the leader is still on {new_leader}")
    check(members(queue) == sorted(NODES), f"queue members: {members(queue)}")


@drill("rabbitmq-leader-frozen", "rabbitmq")
def leader_frozen(env) -> None:
    """The RabbitMQ VM on the leader's node frozen (SIGSTOP) for 40 s, the publisher
    connected to it: no crash, no closed socket, just silence; after the thaw it must be
    back in the cluster without a manual step."""
    queue, victim, rest, publisher, consumer = clients_on_the_leader(account(env),
                                                                     "drill-silent")
    fault = time.monotonic()
    with FAULTS.process_frozen(victim, "beam.smp"):
        time.sleep(40)
        confirmed_while_silent = [i for i, t in publisher.confirmed if t > fault]
        new_leader = leader(queue, ask=rest[0])
    env.figure("rabbitmq silent leader's node: publishing resumed after (s)",
               round(publisher.resumed_after(fault), 1))
    env.figure("rabbitmq silent node: cluster whole after thaw, no manual step (s)",
               round(wait_whole(240), 1))
    guard = on_node(victim, "journalctl -q -u pilotstack-rabbitmq-partition-guard "
                            "--since -300s -o cat | grep 'restarting the RabbitMQ' || true")
    env.figure("rabbitmq silent node: healed by",
               "the partition guard (pause_minority left it running alone)" if guard.strip()
               else "RabbitMQ itself")
    time.sleep(2)
    finish(env, publisher, consumer, "rabbitmq silent leader's node")
    check(confirmed_while_silent, "no message was confirmed while the leader's node was silent")
    check(new_leader in rest, f"the leader is still on {new_leader}")


@drill("rabbitmq-partition", "rabbitmq")
def partition(env) -> None:
    """The leader's node cut off from the other two (packets dropped both ways, clients still
    reach every node): pause_minority pauses it, the majority elects a new leader and keeps
    confirming, a publisher on the cut-off node waits; after the cut the cluster is whole
    again without a manual step."""
    creds = account(env)
    queue = new_queue(creds, "drill-partition")
    minority = leader(queue)
    majority = others(minority)
    publisher, consumer = Publisher(creds, queue, majority), Consumer(creds, queue, majority)
    stranded = Publisher(creds, queue, [minority, *majority])
    stranded.next_id = 10_000_000  # its own id range
    for client in (publisher, consumer, stranded):
        client.start()
    time.sleep(3)
    fault = time.monotonic()
    cut(minority, majority)
    try:
        paused_after = None
        while time.monotonic() - fault < 90:
            running = on_node(minority, "rabbitmqctl -q eval 'rabbit:is_running().' "
                                        "2>/dev/null", check=False).strip()
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
    env.figure("rabbitmq partition: minority node paused after (s)",
               round(paused_after, 1) if paused_after is not None else "never")
    env.figure("rabbitmq partition: majority publisher's longest stall (s)",
               round(publisher.max_gap(fault, healed), 1))
    env.figure("rabbitmq partition: publisher on the cut-off node resumed after (s)",
               round(stranded.resumed_after(fault), 1))
    env.figure("rabbitmq partition: whole again after the cut was removed, no manual step "
               "(s)", round(whole, 1))
    since = int(time.monotonic() - fault) + 2
    unblocked = on_node(minority, "journalctl -q -u pilotstack-rabbitmq-partition-guard "
                                  f"--since -{since}s -o cat | grep -c '^re-announced' || true")
    env.figure("rabbitmq partition: boots stuck in global:sync the guard unblocked",
               int(unblocked.strip() or 0))
    time.sleep(2)
    check(stranded.alive(), f"the cut-off node's publisher stopped running: {stranded.crash}")
    stranded.stop()
    publisher.confirmed += stranded.confirmed
    finish(env, publisher, consumer, "rabbitmq partition")
    check(paused_after is not None, "the cut-off node never paused (pause_minority)")
    check(served, "the majority confirmed nothing during the partition")
    check(majority_leader in majority, f"the leader stayed on {majority_leader}")
    check(all(cluster_whole(h) for h in NODES), "the cluster is not whole at the end")


@drill("rabbitmq-rolling-restart", "rabbitmq")
def rolling_restart(env) -> None:
    """rabbitmq-rolling-restart.yml under publish load: clients drained to the other nodes,
    every confirmed message delivered."""
    creds = account(env)
    queue = new_queue(creds, "drill-rolling")
    hosts = list(NODES)
    publisher, consumer = Publisher(creds, queue, hosts), Consumer(creds, queue, hosts[::-1])
    publisher.start()
    consumer.start()
    time.sleep(3)
    start = time.monotonic()
    run = env.playbook("rabbitmq-rolling-restart.yml")
    check(run.rc == 0, f"rabbitmq-rolling-restart.yml failed:\n{run.output[-4000:]}")
    env.figure("rabbitmq rolling restart of 3 nodes under load (s)", round(run.seconds, 1))
    env.figure("rabbitmq rolling restart: longest publishing stall (s)",
               round(publisher.max_gap(start, time.monotonic()), 1))
    time.sleep(2)
    finish(env, publisher, consumer, "rabbitmq rolling restart")
    env.figure("rabbitmq rolling restart: publisher reconnects", publisher.reconnects)
    check(publisher.reconnects >= 1, "the drain did not move the publisher")
    check(members(queue) == sorted(NODES), f"queue members: {members(queue)}")
