"""Fault-drill tools for the database tier: a client that writes through the VIP and
records which inserts were acknowledged, and the checks that count what survived.

An insert is acknowledged when the server answered OK to it (autocommit: Galera certified
and committed it). An insert whose answer never came is not counted either way: the
client cannot know, and neither could an application.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from dataclasses import dataclass, field

import pymysql

VIP = "10.213.10.100"
DB = ["db1", "db2", "db3"]
LB = ["lb1", "lb2"]
MGMT = {"lb1": "10.213.10.11", "lb2": "10.213.10.12", "db1": "10.213.10.21",
        "db2": "10.213.10.22", "db3": "10.213.10.23"}
SCHEMA = "drill"


def container(host: str) -> str:
    return f"pstb-{host}"


def docker(*args: str) -> None:
    subprocess.run(["docker", *args], check=True, capture_output=True)


def connect(host: str, creds: dict, timeout: float = 2.0, read_timeout: float = 10.0):
    return pymysql.connect(host=host, port=3306, user=creds["user"],
                           password=creds["password"], database=SCHEMA, autocommit=True,
                           connect_timeout=timeout, read_timeout=read_timeout,
                           write_timeout=read_timeout)


@dataclass
class Writer:
    """Inserts rows with client-chosen ids through `host` (the VIP) as fast as it can."""

    creds: dict
    table: str
    host: str = VIP
    acked: list[tuple[int, float, str]] = field(default_factory=list)  # id, time, node
    errors: int = 0
    next_id: int = 1

    def __post_init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Writer:
        self._thread.start()
        return self

    def stop(self) -> Writer:
        self._stop.set()
        self._thread.join(30)
        return self

    def _run(self) -> None:
        conn, node = None, "?"
        while not self._stop.is_set():
            if conn is None:
                try:
                    # HAProxy forwards a connection to one server for its whole life.
                    conn = connect(self.host, self.creds, timeout=1.0)
                    with conn.cursor() as cur:
                        cur.execute("SELECT @@wsrep_node_name")
                        node = cur.fetchone()[0]
                except (pymysql.Error, OSError):
                    self.errors += 1
                    conn = None
                    time.sleep(0.05)
                    continue
            row_id, self.next_id = self.next_id, self.next_id + 1
            try:
                with conn.cursor() as cur:
                    cur.execute(f"INSERT INTO {self.table} (id, node) "  # noqa: S608
                                "VALUES (%s, @@wsrep_node_name)", (row_id,))
                self.acked.append((row_id, time.monotonic(), node))
            except (pymysql.Error, OSError):
                self.errors += 1
                with contextlib.suppress(pymysql.Error, OSError):
                    conn.close()
                conn = None

    def wait_acks(self, count: int, timeout: float = 60.0) -> None:
        """Block until `count` more inserts are acknowledged."""
        want, end = len(self.acked) + count, time.monotonic() + timeout
        while len(self.acked) < want:
            if time.monotonic() > end:
                raise AssertionError(f"writer stalled: {len(self.acked)} acknowledged, "
                                     f"{self.errors} errors")
            time.sleep(0.05)

    def gap_after(self, t0: float) -> float:
        """Longest time without an acknowledgement from the last ack before t0 on."""
        times = [t for _, t, _ in self.acked]
        before = [t for t in times if t <= t0]
        window = ([before[-1]] if before else []) + [t for t in times if t > t0]
        return max((b - a for a, b in zip(window, window[1:], strict=False)), default=float("inf"))

    def writers_after(self, t0: float) -> list[str]:
        """Nodes that took writes from t0 on, in order, consecutive repeats merged."""
        nodes: list[str] = []
        for _, t, node in self.acked:
            if t >= t0 and (not nodes or nodes[-1] != node):
                nodes.append(node)
        return nodes


def lost_rows(writer: Writer, creds: dict, table: str) -> dict[str, int]:
    """Acknowledged ids missing on each member (read on the member itself)."""
    acked = {row_id for row_id, _, _ in writer.acked}
    missing = {}
    for host in DB:
        with connect(MGMT[host], creds) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT id FROM {table}")  # noqa: S608
            present = {row[0] for row in cur.fetchall()}
        missing[host] = len(acked - present)
    return missing


def member_status(host: str, creds: dict) -> dict[str, str]:
    try:
        with connect(MGMT[host], creds, timeout=1.0, read_timeout=3.0) as conn, \
                conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size', "
                        "'wsrep_cluster_status', 'wsrep_local_state_comment')")
            return dict(cur.fetchall())
    except (pymysql.Error, OSError) as exc:
        return {"error": str(exc)}


def cluster_whole(creds: dict) -> bool:
    for host in DB:
        st = member_status(host, creds)
        if (st.get("wsrep_cluster_size"), st.get("wsrep_cluster_status"),
                st.get("wsrep_local_state_comment")) != ("3", "Primary", "Synced"):
            return False
    return True


def wait_whole(creds: dict, timeout: float = 300.0) -> float:
    """Seconds until every member is Synced in a Primary component of 3."""
    start = time.monotonic()
    while not cluster_whole(creds):
        if time.monotonic() - start > timeout:
            raise AssertionError("cluster not whole: " + repr(
                {h: member_status(h, creds) for h in DB}))
        time.sleep(0.5)
    return time.monotonic() - start


def haproxy_servers(host) -> dict[str, str]:
    """Galera backend server -> status, from one balancer's admin socket (testinfra host)."""
    out = host.check_output("echo 'show stat' | socat -t 2 stdio /run/haproxy/admin.sock")
    status = {}
    for line in out.splitlines():
        cols = line.split(",")
        if len(cols) > 17 and cols[0] == "galera" and cols[1] in DB:
            status[cols[1]] = cols[17]
    return status


def wait_haproxy_all_up(testbed, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while True:
        states = {lb: haproxy_servers(testbed.host(lb)) for lb in LB}
        if all(set(s.values()) == {"UP"} and len(s) == 3 for s in states.values()):
            return
        if time.monotonic() > end:
            raise AssertionError(f"HAProxy does not see every member UP: {states}")
        time.sleep(0.5)


def vip_holder(testbed) -> str | None:
    for lb in LB:
        if VIP in testbed.host(lb).check_output("ip -4 -o addr show"):
            return lb
    return None


class Prober:
    """Opens a new SQL connection through `host` every `interval` s and runs SELECT 1;
    reports the longest window in which no probe succeeded."""

    def __init__(self, creds: dict, host: str = VIP, interval: float = 0.02):
        self.creds, self.host, self.interval = creds, host, interval
        self.results: list[tuple[float, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                with connect(self.host, self.creds, timeout=0.2, read_timeout=1.0) as conn, \
                        conn.cursor() as cur:
                    cur.execute("SELECT 1")
                ok = True
            except (pymysql.Error, OSError):
                ok = False
            self.results.append((t, ok))
            time.sleep(self.interval)

    def wait_ok_since(self, t0: float, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while not any(ok for t, ok in self.results if t > t0):
            if time.monotonic() > end:
                raise AssertionError(f"no SQL through {self.host} within {timeout} s")
            time.sleep(0.05)

    def longest_outage(self) -> float:
        """Seconds from the last success before a failure to the first success after it."""
        worst, last_ok, failing = 0.0, None, False
        for t, ok in self.results:
            if ok:
                if failing and last_ok is not None:
                    worst = max(worst, t - last_ok)
                last_ok, failing = t, False
            else:
                failing = True
        return worst
