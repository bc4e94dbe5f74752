"""Fault-drill tools for the messaging tier: an AMQP publisher with publisher confirms and a
consumer with manual acks, each reconnecting to the next node when its connection fails,
and the counts of what survived.

A message is confirmed when the broker acknowledged it (basic.ack in confirm mode: for a
quorum queue, a majority of its members wrote it). A message whose confirm never came is
published again after the reconnect, with the same id (at-least-once, as a real client
does), so a consumer may see it twice: that is counted as a duplicate, not a loss.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pika
import pika.exceptions

NODES = {"db1": "10.213.10.21", "db2": "10.213.10.22", "db3": "10.213.10.23"}
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


def container(host: str) -> str:
    return f"pstb-{host}"


def on_node(host: str, command: str, check: bool = True) -> str:
    """Runs a command in the node's container (works while its network is cut)."""
    proc = subprocess.run(["docker", "exec", container(host), "sh", "-c", command],
                          capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"{host}: {command}: {proc.stdout}{proc.stderr}")
    return proc.stdout


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


def leader(queue: str, ask: str = "db1") -> str:
    """The node holding the quorum queue's leader, asked of `ask`."""
    out = on_node(ask, f"rabbitmqctl -q list_queues -p {VHOST} name leader --no-table-headers")
    for line in out.splitlines():
        name, _, node = line.partition("\t")
        if name == queue:
            return node.strip().removeprefix("rabbit@")
    raise AssertionError(f"queue {queue} not found: {out}")


def members(queue: str, ask: str = "db1") -> list[str]:
    out = on_node(ask, f"rabbitmqctl -q list_queues -p {VHOST} name members --formatter json")
    import json
    for q in json.loads(out):
        if q["name"] == queue:
            return sorted(m.removeprefix("rabbit@") for m in q["members"])
    raise AssertionError(f"queue {queue} not found: {out}")


def cluster_whole(ask: str) -> bool:
    """Every node running, no partition, as `ask` sees it."""
    import json
    proc = subprocess.run(["docker", "exec", container(ask), "rabbitmqctl", "-q",
                           "cluster_status", "--formatter", "json"],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        return False
    st = json.loads(proc.stdout)
    running = sorted(st.get("running_nodes") or [])
    partitions = st.get("partitions") or {}
    return running == [f"rabbit@{h}" for h in NODES] and not any(partitions.values())


def wait_whole(timeout: float = 300) -> float:
    """Seconds until all three nodes agree the cluster is whole (fails after timeout)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if all(cluster_whole(h) for h in NODES):
            return time.monotonic() - start
        time.sleep(1)
    raise AssertionError(f"RabbitMQ cluster not whole after {timeout} s:\n" + diagnose())


def diagnose() -> str:
    """What each node reports, for a failed drill's message: cluster view, drill network
    cuts left in place, the partition guard's last words."""
    import json
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
    """Drops every packet between `host` and `peers` in both directions, silently (nftables
    in the host's own network namespace; its clients still reach it)."""
    addrs = ", ".join(NODES[p] for p in peers)
    on_node(host, "nft add table inet drill && "
                  "nft add chain inet drill in '{ type filter hook input priority -10; }' && "
                  "nft add chain inet drill out '{ type filter hook output priority -10; }' && "
                  f"nft add rule inet drill in ip saddr '{{ {addrs} }}' drop && "
                  f"nft add rule inet drill out ip daddr '{{ {addrs} }}' drop")


def heal(host: str) -> None:
    on_node(host, "nft delete table inet drill", check=False)
    tables = on_node(host, "nft list tables", check=False)
    assert "drill" not in tables, f"{host}: the drill's network cut is still there: {tables}"
