"""Database tier drills: a client writes through the VIP and records which inserts were
acknowledged; faults hit the writer, the VIP holder, every member at once; the rows every
member holds afterwards are counted against the acknowledged ones.

An insert is acknowledged when the server answered OK to it (autocommit: Galera certified
and committed it). An insert whose answer never came is not counted either way: the
client cannot know, and neither could an application.
"""

from __future__ import annotations

import contextlib
import re
import statistics
import threading
import time
from dataclasses import dataclass, field

import pymysql

from ..mu import galera_mu, haproxy_mu
from . import DrillFailed, check, drill
from .env import FAULTS, addrs, group, vip

# From the testbed's topology: the internal VIP, the members, the balancers.
VIP = vip("internal")
DB = group("galera")
LB = group("lb")
MGMT = addrs(LB + DB)
# Replication (gcomm, IST/SST) network: galera_network.
STORAGE_NET = "storage"
STORAGE = addrs(DB, STORAGE_NET)
SCHEMA = "drill"


def connect(host: str, creds: dict, timeout: float = 2.0, read_timeout: float = 10.0):
    return pymysql.connect(host=host, port=3306, user=creds["user"],
                           password=creds["password"], database=SCHEMA, autocommit=True,
                           connect_timeout=timeout, read_timeout=read_timeout,
                           write_timeout=read_timeout)


@dataclass
class Writer:
    """Inserts rows with client-chosen ids through `host` (the VIP) as fast as it can, with
    2 s connect and read timeouts: an insert unanswered after 2 s is given up (and not
    counted either way), the client reconnects."""

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
                    # a client with 2 s connect and read timeouts, as the drills measure
                    conn = connect(self.host, self.creds, timeout=2.0, read_timeout=2.0)
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
                raise DrillFailed(f"writer stalled: {len(self.acked)} acknowledged, "
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
                        "'wsrep_cluster_status', 'wsrep_local_state_comment', "
                        "'wsrep_cluster_state_uuid')")
            return {k.lower(): v for k, v in cur.fetchall()}
    except (pymysql.Error, OSError) as exc:
        return {"error": str(exc)}


def cluster_whole(creds: dict) -> bool:
    """The role's gate rule (module_utils/pilotstack_galera.cluster_problems)."""
    statuses = {h: member_status(h, creds) for h in DB}
    return not galera_mu.cluster_problems(
        {h: st for h, st in statuses.items() if "error" not in st}, DB)


def wait_whole(creds: dict, timeout: float = 300.0) -> float:
    """Seconds until every member is Synced in a Primary component of 3."""
    start = time.monotonic()
    while not cluster_whole(creds):
        if time.monotonic() - start > timeout:
            raise DrillFailed("cluster not whole: " + repr(
                {h: member_status(h, creds) for h in DB}))
        time.sleep(0.5)
    return time.monotonic() - start


def haproxy_servers(env, lb: str) -> dict[str, str]:
    """Galera backend server -> status, from one balancer's admin socket (the one
    `show stat` parser, module_utils/pilotstack_haproxy.py)."""
    out = env.on(lb, "echo 'show stat' | socat -t 2 stdio /run/haproxy/admin.sock")
    return {h: st for h, st in haproxy_mu.server_status(out, "galera").items() if h in DB}


def wait_haproxy_all_up(env, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while True:
        states = {lb: haproxy_servers(env, lb) for lb in LB}
        if all(set(s.values()) == {"UP"} and len(s) == 3 for s in states.values()):
            return
        if time.monotonic() > end:
            raise DrillFailed(f"HAProxy does not see every member UP: {states}")
        time.sleep(0.5)


def vip_holder(env) -> str | None:
    for lb in LB:
        if holds_vip(env, lb):
            return lb
    return None


def holds_vip(env, lb: str) -> bool:
    """`lb` holds the VIP (asked of lb alone: its peer may be powered off)."""
    return f" {VIP}/" in env.on(lb, "ip -4 -o addr show", check=False)


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
                raise DrillFailed(f"no SQL through {self.host} within {timeout} s")
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


# --- the drills ------------------------------------------------------------------------------

def new_table(env, name: str) -> str:
    """A fresh drill table (id chosen by the client, node that took the write)."""
    env.on(DB[0], f'mysql -e "CREATE DATABASE IF NOT EXISTS drill; '
                  f'DROP TABLE IF EXISTS drill.{name}; CREATE TABLE drill.{name} '
                  f'(id BIGINT PRIMARY KEY, node VARCHAR(16), at TIMESTAMP(6) DEFAULT NOW(6))"')
    return name


def back_to_normal(env) -> None:
    wait_whole(env.sql_account, timeout=300)
    wait_haproxy_all_up(env)


@contextlib.contextmanager
def writing(env, table: str):
    """A Writer on a fresh table with the cluster whole, 200 inserts acknowledged; on the
    way out it stops and every member's rows are counted against the acknowledged ones."""
    new_table(env, table)
    back_to_normal(env)
    writer = Writer(env.sql_account, table).start()
    try:
        writer.wait_acks(200)
        yield writer
    finally:
        writer.stop()
    lost = lost_rows(writer, env.sql_account, table)
    env.count(f"{table}: acknowledged rows (worst member)", len(writer.acked),
              max(lost.values()))
    check(lost == {h: 0 for h in DB}, f"acknowledged rows missing per member: {lost}")


def _writer_fault(env, fault: str) -> None:
    """Kill or freeze the member taking the writes; the next takes over and keeps the
    writes when the first comes back (sticky writer): both gaps as the client sees them."""
    with writing(env, f"writer_{fault}") as writer:
        victim = writer.writers_after(0)[-1]
        t0 = time.monotonic()
        with FAULTS.host_fault(victim, "killed" if fault == "killed" else "frozen"):
            t_down = time.monotonic()  # acks before this may still come from the victim
            writer.wait_acks(300, timeout=90)
            gap = writer.gap_after(t0)
            took = writer.writers_after(t_down)
        env.figure(f"writer {fault}: write gap on loss (s)", round(gap, 2))
        back = time.monotonic()
        back_to_normal(env)
        env.figure(f"writer {fault}: back to 3 Synced + HAProxy UP (s)",
                   round(time.monotonic() - back, 1))
        writer.wait_acks(300)
        env.figure(f"writer {fault}: write gap on return (s)",
                   round(writer.gap_after(back), 2))
        check(took[:1] and took[0] != victim, f"no other member took over: {took}")
        check(victim not in writer.writers_after(back),
              f"the writes went back to {victim} when it returned (second outage): "
              f"{writer.writers_after(back)}")


@drill("galera-writer-killed", "galera")
def writer_killed(env) -> None:
    """The writer killed under writes: the next member takes over and keeps the writes
    when the killed one has rejoined."""
    _writer_fault(env, "killed")


@drill("galera-writer-frozen", "galera")
def writer_frozen(env) -> None:
    """The writer frozen (docker pause: silent, like a power cut or a dead port) under
    writes: peers notice when their timeouts expire; the thawed member does not take the
    writes back."""
    _writer_fault(env, "paused")


def became_master_at(env, lb: str) -> float:
    """Unix time of lb's last VRRP transition to MASTER (its journal; one clock for all)."""
    return float(env.on(lb, "journalctl -u keepalived -o short-unix --no-pager -q | grep "
                            "'Entering MASTER STATE' | tail -1 | cut -d' ' -f1"))


@drill("galera-vip-holder", "lb")
def vip_holder_lost(env) -> None:
    """The VIP holder killed, then (back) its peer's keepalived stopped gracefully: how long
    no new SQL connection gets through the VIP."""
    holder = vip_holder(env)
    check(holder in LB, f"no balancer holds {VIP}")
    other = next(lb for lb in LB if lb != holder)
    with Prober(env.sql_account) as probe:
        time.sleep(0.5)
        t_kill, t0 = time.time(), time.monotonic()
        with FAULTS.killed(holder):
            probe.wait_ok_since(t0 + 0.5)
            check(holds_vip(env, other), f"{other} did not take {VIP}")
            hard_vrrp = became_master_at(env, other) - t_kill
        hard_sql = probe.longest_outage()
    env.figure("VIP holder killed: peer MASTER after (s)", round(hard_vrrp, 2))
    env.figure("VIP holder killed: no SQL through the VIP for (s)", round(hard_sql, 2))
    check(hard_sql > 0.5, "the kill was not felt: the probe measured nothing")
    env.wait_ssh(holder)
    for _ in range(60):
        if env.on(holder, "systemctl is-active keepalived", check=False).strip() == "active":
            break
        time.sleep(0.5)
    time.sleep(4)  # several advertisement intervals: no preemption, the VIP stays put
    check(vip_holder(env) == other, "the VIP moved back (preemption)")

    with Prober(env.sql_account) as probe:
        time.sleep(0.5)
        t_stop = float(env.on(other, "date +%s.%N; systemctl stop keepalived").split()[0])
        try:
            time.sleep(1)
            check(holds_vip(env, holder), f"{holder} did not take {VIP} back")
            graceful_vrrp = became_master_at(env, holder) - t_stop
        finally:
            env.on(other, "systemctl start keepalived")
        graceful_sql = probe.longest_outage()
    env.figure("VIP holder keepalived stopped: peer MASTER after (s)", round(graceful_vrrp, 2))
    env.figure("VIP holder keepalived stopped: no SQL through the VIP for (s)",
               round(graceful_sql, 2))
    check(graceful_vrrp < hard_vrrp, "a graceful stop was not faster than a kill")


def power_cut(env, writer: Writer, back: tuple[str, ...] = tuple(DB)) -> float:
    """Kill every member at once under writes; power `back` on. Returns the power-on time."""
    writer.wait_acks(300)
    FAULTS.kill(*DB)
    time.sleep(2)
    writer.stop()
    on = time.monotonic()
    FAULTS.start(*back)
    return on


@drill("galera-power-cut", "galera")
def power_cut_all(env) -> None:
    """Every member powered off at once under writes, then on: galera-recover.yml brings
    the cluster back unattended."""
    with writing(env, "power_cut") as writer:
        on = power_cut(env, writer)
        for host in DB:
            env.wait_ssh(host)
        run = env.playbook("galera-recover.yml")
        check(run.rc == 0, f"galera-recover.yml failed:\n{run.output[-4000:]}")
        env.figure("power cut of 3 members: power-on to recovered, unattended (s)",
                   round(time.monotonic() - on, 1))
        back_to_normal(env)


def ist_and_sst_since(env, since: str) -> tuple[int, int]:
    ist = sst = 0
    for host in DB:
        out = env.on(host, f"journalctl --since '{since}' --no-pager -q "
                           "| grep -E '(IST|SST) completed on joiner' || true")
        ist += out.count("IST completed on joiner")
        sst += out.count("SST completed on joiner")
    return ist, sst


@drill("galera-rolling-restart", "galera")
def rolling_restart(env) -> None:
    """galera-rolling-restart.yml under writes: every member rejoins by IST, none by SST."""
    with writing(env, "rolling_restart") as writer:
        since = env.on(DB[0], "date '+%Y-%m-%d %H:%M:%S'").strip()
        t0 = time.monotonic()
        run = env.playbook("galera-rolling-restart.yml")
        check(run.rc == 0, f"galera-rolling-restart.yml failed:\n{run.output[-4000:]}")
        env.figure("rolling restart of 3 members under writes (s)", round(run.seconds, 1))
        env.figure("rolling restart: longest write gap (s)", round(writer.gap_after(t0), 2))
        ist_sst = ist_and_sst_since(env, since)
        check(ist_sst == (3, 0), f"(IST, SST) rejoins: {ist_sst}, expected (3, 0)")
        writer.wait_acks(100)


@drill("galera-kill-rejoin-cycles", "galera")
def kill_rejoin_cycles(env, cycles: int = 6) -> None:
    """Members killed one after another under writes (each twice): writes resume, the
    member rejoins, the next is killed at once. Survivors stay Primary, or the recovery
    playbook restores them."""
    gaps, rejoins, restored = [], [], 0
    with writing(env, "kill_rejoin") as writer:
        for cycle in range(cycles):
            victim = DB[cycle % 3]
            t0 = time.monotonic()
            FAULTS.kill(victim)
            try:
                writer.wait_acks(50, timeout=30)
            except DrillFailed:
                # No writes: a non-Primary majority? The recovery playbook must restore it.
                run = env.playbook("galera-recover.yml", "-e", "galera_recover_grace=5")
                check(run.rc == 0 and "pc_bootstrap" in run.output,
                      f"no writes after killing {victim} and no pc_bootstrap:\n"
                      f"{run.output[-3000:]}")
                restored += 1
                writer.wait_acks(50, timeout=30)
            gaps.append(writer.gap_after(t0))
            FAULTS.start(victim)
            t1 = time.monotonic()
            wait_whole(env.sql_account, timeout=300)
            rejoins.append(time.monotonic() - t1)
        back_to_normal(env)
        writer.wait_acks(100)
    env.figure(f"{cycles} kill/rejoin cycles: write gap median / max (s)",
               f"{statistics.median(gaps):.2f} / {max(gaps):.2f}")
    env.figure(f"{cycles} kill/rejoin cycles: rejoin median / max (s)",
               f"{statistics.median(rejoins):.1f} / {max(rejoins):.1f}")
    env.figure(f"{cycles} kill/rejoin cycles: non-Primary majorities restored by the tool",
               restored)


@drill("galera-slow-link", "galera")
def slow_link(env, kbit: int = 256, seconds: float = 30.0) -> None:
    """The writer's replication link capped at 256 kbit/s for 30 s under writes (the rate
    fault: a congested or degraded link, not a dead one). Every write-set leaves the
    writer through it, so the writes slow to what the link carries; nothing acknowledged
    is lost, and the cluster is whole again once the link is back."""
    with writing(env, "slow_link") as writer:
        victim = writer.writers_after(0)[-1]
        t0, n0 = time.monotonic(), len(writer.acked)
        time.sleep(10)
        before = (len(writer.acked) - n0) / (time.monotonic() - t0)
        with FAULTS.rate_capped(victim, kbit, STORAGE_NET):
            t1, n1 = time.monotonic(), len(writer.acked)
            time.sleep(seconds)
            during = (len(writer.acked) - n1) / (time.monotonic() - t1)
            gap = writer.gap_after(t1)
        t2 = time.monotonic()
        back_to_normal(env)
        whole = time.monotonic() - t2
        writer.wait_acks(100)
    env.figure(f"slow link ({kbit} kbit/s on the writer's replication link): inserts/s "
               "before / during", f"{before:.0f} / {during:.0f}")
    env.figure("slow link: longest write gap while slow (s)", round(gap, 2))
    env.figure("slow link: whole again after the link is back (s)", round(whole, 1))
    check(during > 0, "no write was acknowledged while the link was slow")


def wait_status(host: str, creds: dict, key: str, want: str, timeout: float = 60.0) -> float:
    """Seconds until `host` reports `key` = `want` (asked on the member itself)."""
    start = time.monotonic()
    while member_status(host, creds).get(key) != want:
        if time.monotonic() - start > timeout:
            raise DrillFailed(f"{host}: {key} is not {want} after {timeout:.0f} s: "
                              f"{member_status(host, creds)}")
        time.sleep(0.2)
    return time.monotonic() - start


@drill("galera-behind-member", "galera")
def behind_member(env) -> None:
    """The operator's trial: the first member is cut off from its peers on the replication
    network (it goes non-Primary) while writes go on through the others; then the others
    lose power, the first one's link comes back, the others are powered on.
    galera-recover.yml must not restore the first member, which runs but is behind: it
    stops it, bootstraps the newest member and rejoins it."""
    behind, others = DB[0], DB[1:]
    with writing(env, "behind_member") as writer:
        with FAULTS.cut_off(behind, others, STORAGE_NET):
            wait_status(behind, env.sql_account, "wsrep_cluster_status", "non-Primary")
            before = len(writer.acked)
            writer.wait_acks(2000, timeout=120)  # acknowledged by the others alone
            env.figure("behind member: inserts acknowledged while it was cut off",
                       len(writer.acked) - before)
            FAULTS.kill(*others)
            time.sleep(2)
            writer.stop()
        since = env.on(behind, "date '+%Y-%m-%d %H:%M:%S'").strip()
        on = time.monotonic()
        FAULTS.start(*others)
        for host in others:
            env.wait_ssh(host)
        run = env.playbook("galera-recover.yml")
        check(run.rc == 0, f"galera-recover.yml failed:\n{run.output[-4000:]}")
        check(f"pc_bootstrap {behind}" not in run.output,
              f"{behind} (behind) was restored:\n{run.output[-3000:]}")
        check(re.search(rf"bootstrap ({'|'.join(others)}): ", run.output) is not None,
              f"the newest member was not bootstrapped:\n{run.output[-3000:]}")
        env.figure("behind member: power-on to recovered, one command (s)",
                   round(time.monotonic() - on, 1))
        back_to_normal(env)
        ist, sst = ist_and_sst_since(env, since)
        env.figure("behind member: rejoins by IST / SST", f"{ist} / {sst}")
