"""Shared storage tier drills: a client on a compute host writes checksummed files through
the FUSE mount while servers die, freeze or are added; the counts of what survived.

A file is acknowledged when write + fsync + close returned without error on the client;
its SHA-256 is printed then, and only then. After the drill every acknowledged file must
read back with that checksum through the mount and from every brick.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..mu import gluster_mu
from . import DrillFailed, check, drill
from .env import FAULTS, NodeProgram, addrs, group, on_node

# From the testbed's topology: the servers (their brick addresses), the clients, the
# client that writes, and the first server (asked for the volume's state).
SERVERS = addrs(group("gluster"), "storage")
S = list(SERVERS)
ASK = S[0]
CLIENTS = tuple(dict.fromkeys(group("controllers") + group("compute")))
CLIENT = group("compute")[0]
BRICKS = "/srv/disks/brick"

WRITER = r"""
import hashlib, os, sys, time
d, stop, pace = sys.argv[1], sys.argv[2], float(sys.argv[3])
os.makedirs(d, exist_ok=True)
i = 0
while not os.path.exists(stop):
    data = os.urandom(65536)
    name = "f%07d" % i
    try:
        fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        print("ERR %.3f %s %s" % (time.time(), e.errno, name), flush=True)
        time.sleep(0.2)
        continue
    print("OK %.3f %s %s" % (time.time(), name, hashlib.sha256(data).hexdigest()), flush=True)
    i += 1
    time.sleep(pace)
"""

HASHER = r"""
import hashlib, os, sys
d = sys.argv[1]
for n in sorted(os.listdir(d)):
    p = os.path.join(d, n)
    if os.path.isfile(p):
        print(n, hashlib.sha256(open(p, "rb").read()).hexdigest())
"""


@dataclass
class Writer(NodeProgram):
    """Writes 64 KiB files with fsync into `directory` on `host` until stopped, one every
    `pace` seconds at most (about 20 files, 1.3 MB per second: a busy guest; unpaced, the
    2-core machine wrote ~120 per second and the heals after each drill took minutes)."""
    host: str
    directory: str
    pace: float = 0.05
    acked: dict[str, tuple[float, str]] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)
    errors: list[tuple[float, str]] = field(default_factory=list)

    # The client program: argv = target, stop file, pace; prints "OK <time> <name> <sha>"
    # per acknowledged write and "ERR <time> <why> <name>" per failed one.
    script = WRITER

    def start(self) -> Writer:
        self.launch(self.script, self.directory)
        return self

    def on_line(self, parts: list[str]) -> None:
        if parts[0] == "OK":
            self.acked[parts[2]] = (float(parts[1]), parts[3])
            self.times.append(float(parts[1]))
        elif parts[0] == "ERR":
            self.errors.append((float(parts[1]), parts[2]))

    def wait_acks(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) < count:
            check(time.monotonic() < deadline, f"only {len(self.acked)} files written")
            time.sleep(0.2)

    def stop(self, timeout: float = 180) -> Writer:
        self.halt(timeout)
        return self

    def stall(self, since: float, until: float) -> float:
        """Longest time without an acknowledged file between since and until (wall clock)."""
        marks = [since] + [t for t in self.times if since < t < until] + [until]
        return max(b - a for a, b in zip(marks, marks[1:], strict=False))

    def acked_between(self, since: float, until: float) -> int:
        return sum(1 for t in self.times if since < t < until)


def checksums(host: str, directory: str) -> dict[str, str]:
    out = on_node(host, f"python3 -c '{HASHER}' {directory}")
    return dict(line.split() for line in out.splitlines() if line.strip())


def lost(writer: Writer, host: str | None = None, directory: str | None = None) -> dict:
    """Acknowledged files missing or different when read back (through the client's mount,
    or from a brick when host/directory name one)."""
    seen = checksums(host or writer.host, directory or writer.directory)
    missing = [n for n in writer.acked if n not in seen]
    corrupt = [n for n, (_, sha) in writer.acked.items() if n in seen and seen[n] != sha]
    return {"missing": missing, "corrupt": corrupt}


def heal_summary(volume: str, ask: str = ASK) -> dict[str, dict]:
    """Per brick: connected, entries to heal (total), entries in split-brain: the role's
    parser (module_utils/pilotstack_gluster.parse_heal_summary); {} when unreadable."""
    out = on_node(ask, f"gluster --mode=script volume heal {volume} info summary --xml",
                  check=False)
    try:
        return gluster_mu.parse_heal_summary(out)
    except gluster_mu.CliError:
        return {}


def wait_healed(volume: str, bricks: int = 3, timeout: float = 600, ask: str = ASK) -> float:
    """Seconds until every brick answers with 0 entries to heal (fails after timeout)."""
    start = time.monotonic()
    last = {}
    while time.monotonic() - start < timeout:
        last = heal_summary(volume, ask)
        if len(last) == bricks and all(b["connected"] and b["total"] == 0
                                       for b in last.values()):
            return time.monotonic() - start
        time.sleep(1)
    raise DrillFailed(f"volume {volume} not healed after {timeout} s: {last}")


def split_brain(volume: str, ask: str = ASK) -> int:
    return sum(b["split_brain"] or 0 for b in heal_summary(volume, ask).values())




def ping_timeouts() -> list[str]:
    """Every "has not responded in the last N seconds, disconnecting" line that GlusterFS's
    clients wrote since the tier was deployed: the FUSE mounts' logs on the client hosts
    and the self-heal daemons' on the servers. Each names the silent server's address."""
    lines = []
    for host in (*CLIENTS, *SERVERS):
        out = on_node(host, "cat /var/log/glusterfs/*.log 2>/dev/null | "
                            "grep 'has not responded in the last' || true", check=False)
        lines += [f"{host}: {line}" for line in out.splitlines() if line.strip()]
    return lines


def host_fault(host: str, how: str):
    """`killed`: the host powered off (its sockets close, peers notice at once); `silent`
    or `frozen`: docker pause (sockets open and silent, peers notice when a timeout
    expires). Powered on (glusterd active again) or thawed on the way out, whatever
    happened inside (the fault layer's context manager)."""
    return FAULTS.host_fault(host, "killed" if how == "killed" else "frozen", unit="glusterd")


# --- the drills -------------------------------------------------------------------------------

MOUNT = "/var/lib/nova/instances"
# ping timeouts the silent-server drill caused on purpose (all others are spurious)
CAUSED: list[str] = []


def brick_lost(writer: Writer, directory: str, volume: str = "instances") -> dict[str, int]:
    """Acknowledged files missing or different on each brick."""
    out = {}
    for host in SERVERS:
        gone = lost(writer, host, f"{BRICKS}/{volume}/brick/{directory}")
        out[host] = len(gone["missing"]) + len(gone["corrupt"])
    return out


def _one_server(env, how: str) -> None:
    wait_healed("instances", timeout=300)
    directory = f"drill-{how}-{int(time.time())}"
    writer = Writer(CLIENT, f"{MOUNT}/{directory}").start()
    writer.wait_acks(30)
    timeouts_before = ping_timeouts()
    fault = time.time()
    with host_fault(S[-1], how):
        time.sleep(20)
        during = writer.acked_between(fault, time.time())
    back = time.time()
    time.sleep(10)
    stall = writer.stall(fault, back)
    writer.stop()
    heal = wait_healed("instances", timeout=600)
    gone = lost(writer)
    bricks = brick_lost(writer, directory)
    split = split_brain("instances")
    new_timeouts = [line for line in ping_timeouts() if line not in timeouts_before]
    CAUSED.extend(new_timeouts)
    env.figure(f"gluster server {how}: client stall (s)", round(stall, 2))
    env.count(f"gluster server {how}: files via the mount", len(writer.acked),
              len(gone["missing"]) + len(gone["corrupt"]))
    env.count(f"gluster server {how}: files on the bricks", 3 * len(writer.acked),
              sum(bricks.values()))
    env.figure(f"gluster server {how}: heal after return (s)", round(heal, 1))
    env.figure(f"gluster server {how}: entries in split-brain", split)
    check(during > 0, "the client wrote nothing while one server was down")
    check(split == 0, f"{split} entries in split-brain")
    # only the last server was silent, so only it may have missed pings
    check(all(SERVERS[S[-1]] + ":" in line for line in new_timeouts),
          f"ping timeouts on servers that were not silent: {new_timeouts}")
    if how == "silent":
        check(new_timeouts, "no client noticed the silent server by its ping timeout")
    # a silent server costs about twice network.ping-timeout (4 s); 42 s (GlusterFS's
    # default) froze writes 79 s
    check(stall < 30, f"client stalled {stall:.1f} s with network.ping-timeout 4 s")


@drill("gluster-server-killed", "gluster")
def server_killed(env) -> None:
    """st3 dies (sockets closed) for 20 s while cmp1 writes: the client carries on with the
    other two bricks; the volume heals; every acknowledged file intact on every brick."""
    _one_server(env, "killed")


@drill("gluster-server-frozen", "gluster")
def server_frozen(env) -> None:
    """st3 freezes (docker pause: sockets open, silence) for 20 s while cmp1 writes: the
    client waits about twice network.ping-timeout (4 s), then carries on; heal, no loss."""
    _one_server(env, "silent")


@drill("gluster-two-servers-killed", "gluster")
def two_servers_killed(env) -> None:
    """st2 and st3 die: with 1 brick of 3 left quorum refuses writes and nothing is
    acknowledged; when they are back the volume heals with no split-brain, no loss."""
    wait_healed("instances", timeout=300)
    directory = f"drill-two-{int(time.time())}"
    writer = Writer(CLIENT, f"{MOUNT}/{directory}").start()
    writer.wait_acks(30)
    with FAULTS.killed(*S[1:], unit="glusterd"):
        lost_quorum = time.time()
        time.sleep(20)
        refused_until = time.time()
    acked_without_quorum = writer.acked_between(lost_quorum + 2, refused_until)
    errors = [t for t, _ in writer.errors if lost_quorum < t < refused_until]
    heal = wait_healed("instances", timeout=600)
    resumed = len(writer.acked)
    deadline = time.monotonic() + 120
    while len(writer.acked) < resumed + 20:
        check(time.monotonic() < deadline, "writes did not resume after quorum came back")
        time.sleep(0.5)
    writer.stop()
    wait_healed("instances", timeout=300)
    gone = lost(writer)
    split = split_brain("instances")
    env.figure("gluster two servers killed: acked without quorum", acked_without_quorum)
    env.figure("gluster two servers killed: refused writes", len(errors))
    env.figure("gluster two servers killed: heal (s)", round(heal, 1))
    env.count("gluster two servers killed: files via the mount", len(writer.acked),
              len(gone["missing"]) + len(gone["corrupt"]))
    env.count("gluster two servers killed: files on the bricks", 3 * len(writer.acked),
              sum(brick_lost(writer, directory).values()))
    check(acked_without_quorum == 0, f"{acked_without_quorum} writes acked without quorum")
    check(errors, "no write was refused while 2 of 3 servers were down")
    check(split == 0, f"{split} entries in split-brain")


MIGR = "migr"
MIGR_MOUNT = "/mnt/migr"


def remove_migration_volume() -> None:
    on_node(CLIENT, f"umount {MIGR_MOUNT} 2>/dev/null; true", check=False)
    if MIGR in on_node(ASK, "gluster --mode=script volume list").split():
        on_node(ASK, f"gluster --mode=script volume stop {MIGR} force; "
                       f"gluster --mode=script volume delete {MIGR}", check=False)
    for host in SERVERS:
        on_node(host, f"rm -rf {BRICKS}/{MIGR}")


@drill("gluster-replica2-to-3", "gluster")
def replica_2_to_3(env) -> None:
    """A replica 2 volume on st1+st2 holding files, a client writing throughout: the
    migration refuses while a brick is down, runs the moment it returns (waiting for the
    heal backlog), ends 1 x 3 with every file identical on all bricks; a re-run changes
    nothing. The volume is removed at the end."""
    remove_migration_volume()
    first, second, new = S[0], S[1], S[2]
    for host in (first, second):
        on_node(host, f"mkdir -p {BRICKS}/{MIGR}/brick")
    on_node(first, f"gluster --mode=script volume create {MIGR} replica 2 "
                   f"{SERVERS[first]}:{BRICKS}/{MIGR}/brick "
                   f"{SERVERS[second]}:{BRICKS}/{MIGR}/brick force && "
                   f"gluster --mode=script volume start {MIGR}")
    on_node(CLIENT, f"mkdir -p {MIGR_MOUNT} && "
                    f"mount -t glusterfs {SERVERS[first]}:/{MIGR} {MIGR_MOUNT}")
    try:
        seed = Writer(CLIENT, f"{MIGR_MOUNT}/seed").start()
        seed.wait_acks(500)
        seed.stop()
        extra = ("-e", f"gluster_volume={MIGR}", "-e", f"gluster_new_server={new}")
        # refused while the second brick is down, a client writing (a backlog builds up on
        # the first)
        on_node(second, f"pkill -f -- '[-]-volfile-id {MIGR}\\.'")
        time.sleep(2)
        writer = Writer(CLIENT, f"{MIGR_MOUNT}/live").start()
        writer.wait_acks(40)
        refused = env.playbook("gluster-replica2-to-3.yml", *extra)
        check(refused.rc != 0 and "cannot be converted now" in refused.output
              and "brick(s) offline" in refused.output and refused.changed == 0,
              f"not refused while a brick was down:\n{refused.output[-3000:]}")
        # the brick returns and the migration starts at once: the gate waits while the
        # self-heal daemon drains the backlog, then converts
        on_node(first, f"gluster --mode=script volume start {MIGR} force")
        start = time.time()
        run = env.playbook("gluster-replica2-to-3.yml", *extra)
        took = time.time() - start
        during = writer.acked_between(start, start + took)
        writer.stop()
        check(run.rc == 0 and run.changed > 0, f"migration failed:\n{run.output[-4000:]}")
        info = on_node(first, f"gluster --mode=script volume info {MIGR}")
        check("Number of Bricks: 1 x 3 = 3" in info, f"not 1 x 3 after the migration: {info}")
        wait_healed(MIGR, timeout=300)
        for w, sub in ((seed, "seed"), (writer, "live")):
            gone = lost(w)
            env.count(f"gluster replica 2->3: {sub} files via the mount", len(w.acked),
                      len(gone["missing"]) + len(gone["corrupt"]))
            env.count(f"gluster replica 2->3: {sub} files on the 3 bricks", 3 * len(w.acked),
                      sum(brick_lost(w, sub, MIGR).values()))
        again = env.playbook("gluster-replica2-to-3.yml", *extra)
        env.figure("gluster replica 2->3: took (s)", round(took, 1))
        env.figure("gluster replica 2->3: files written during the migration", during)
        env.figure("gluster replica 2->3: gate checks while a heal backlog drained",
                   sum("RETRYING" in line and "state of the volume" in line
                       for line in run.output.splitlines()))
        check(during > 0, "the client wrote nothing during the migration")
        check(split_brain(MIGR) == 0, "entries in split-brain")
        check(again.rc == 0 and again.changed == 0, f"re-run changed: {again.recap}")
    finally:
        remove_migration_volume()


@drill("gluster-rolling-restart", "gluster")
def rolling_restart(env) -> None:
    """gluster-rolling-restart.yml while cmp1 writes: every brick process replaced, one
    server at a time after the heal; every acknowledged file intact."""
    wait_healed("instances", timeout=300)

    def bricks_pids():
        return {h: set(on_node(h, "pidof glusterfsd").split()) for h in SERVERS}
    before = bricks_pids()
    writer = Writer(CLIENT, f"{MOUNT}/rolling-{int(time.time())}").start()
    writer.wait_acks(20)
    try:
        run = env.playbook("gluster-rolling-restart.yml")
    finally:
        writer.stop()
    check(run.rc == 0, f"gluster-rolling-restart.yml failed:\n{run.output[-4000:]}")
    check({h: run.recap[h]["changed"] for h in SERVERS} == dict.fromkeys(SERVERS, 1),
          f"not one restart per server: {run.recap}")
    after = bricks_pids()
    check(all(not (before[h] & after[h]) and after[h] for h in SERVERS),
          f"brick processes not all replaced: {before} -> {after}")
    wait_healed("instances", timeout=120)
    gone = lost(writer)
    env.figure("gluster rolling restart (s)", round(run.seconds, 1))
    env.count("gluster rolling restart: files via the mount", len(writer.acked),
              len(gone["missing"]) + len(gone["corrupt"]))
