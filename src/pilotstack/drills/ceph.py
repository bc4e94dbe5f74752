"""Ceph tier drills: a client on a compute host that writes checksummed
64 KiB blocks to an RBD image with client.cinder's key (librbd, as Nova and Cinder do), the
read-back of what it acknowledged, and waits on the cluster's own state.

A block is acknowledged when write + flush returned without error; its SHA-256 is printed
then, and only then. After a drill every acknowledged block must read back with that
checksum.
"""

from __future__ import annotations

import json
import subprocess
import time

from ..mu import ceph_mu
from . import DrillFailed, check, drill
from .env import FAULTS, TOPOLOGY, group, on_node
from .gluster import Writer, host_fault, lost

mds_state, problems, summarize = ceph_mu.mds_state, ceph_mu.problems, ceph_mu.summarize

# From the testbed's topology: the mons (the first is asked), the OSD host that fails,
# the client.
MONS = group("ceph_mon")
ASK = MONS[0]
OSD_VICTIM = group("ceph_osd")[-1]
CLIENT = group("compute")[0]

RBD_WRITER = r"""
import hashlib, os, sys, time, rados, rbd
spec, stop, pace = sys.argv[1], sys.argv[2], float(sys.argv[3])
pool, name = spec.split("/")
cluster = rados.Rados(conffile="/etc/ceph/ceph.conf", rados_id="cinder",
                      conf={"keyring": "/etc/ceph/ceph.client.cinder.keyring"})
cluster.connect(timeout=30)
ioctx = cluster.open_ioctx(pool)
try:
    rbd.RBD().create(ioctx, name, 1 << 30)
except rbd.ImageExists:
    pass
image = rbd.Image(ioctx, name)
i = 0
while not os.path.exists(stop):
    data = os.urandom(65536)
    try:
        image.write(data, i * 65536)
        image.flush()
    except Exception as e:
        print("ERR %.3f %s b%07d" % (time.time(), type(e).__name__, i), flush=True)
        time.sleep(0.2)
        continue
    print("OK %.3f b%07d %s" % (time.time(), i, hashlib.sha256(data).hexdigest()), flush=True)
    i += 1
    time.sleep(pace)
image.close()
ioctx.close()
cluster.shutdown()
"""

RBD_READER = r"""
import hashlib, sys, rados, rbd
pool, name = sys.argv[1].split("/")
count = int(sys.argv[2])
cluster = rados.Rados(conffile="/etc/ceph/ceph.conf", rados_id="cinder",
                      conf={"keyring": "/etc/ceph/ceph.client.cinder.keyring"})
cluster.connect(timeout=30)
ioctx = cluster.open_ioctx(pool)
image = rbd.Image(ioctx, name, read_only=True)
for i in range(count):
    print("b%07d" % i, hashlib.sha256(image.read(i * 65536, 65536)).hexdigest())
image.close()
ioctx.close()
cluster.shutdown()
"""


class RbdWriter(Writer):
    """Writer of checksummed blocks to the RBD image `directory` ("pool/image") on `host`,
    about 20 blocks (1.3 MB) per second."""
    script = RBD_WRITER


def rbd_lost(writer: RbdWriter) -> dict:
    """Acknowledged blocks that read back different (or not at all)."""
    count = len(writer.acked)
    out = on_node(writer.host, f"python3 -c '{RBD_READER}' {writer.directory} {count}",
                  timeout=600)
    seen = dict(line.split() for line in out.splitlines() if line.strip())
    missing = [n for n in writer.acked if n not in seen]
    corrupt = [n for n, (_, sha) in writer.acked.items() if n in seen and seen[n] != sha]
    return {"missing": missing, "corrupt": corrupt}


def ceph(*args: str, host: str = ASK, timeout: int = 10):
    """`ceph ARGS -f json` on a mon host (None when the cluster does not answer)."""
    out = on_node(host, f"timeout {timeout + 5} ceph --connect-timeout {timeout} "
                        f"{' '.join(args)} -f json 2>/dev/null", check=False,
                  timeout=timeout + 30)
    try:
        return json.loads(out) if out.strip() else None
    except ValueError:
        return None


def state(host: str = ASK) -> dict | None:
    status = ceph("status", host=host)
    if status is None:
        return None
    fs_dump = ceph("fs", "dump", host=host) or {}
    osd_dump = ceph("osd", "dump", host=host) or {}
    return summarize(status, fs_dump, osd_dump.get("flags", ""))


def whole_problems(host: str = ASK) -> list[str]:
    found = state(host)
    if found is None:
        return ["the cluster does not answer"]
    return problems(found, MONS, 3, 2)


def wait_whole(timeout: float = 600, host: str = ASK) -> float:
    """Seconds until every mon is in quorum, every OSD up and in, every PG active+clean,
    the filesystem's rank active with both MDS up, no flag and no health check."""
    start = time.monotonic()
    last = []
    while time.monotonic() - start < timeout:
        last = whole_problems(host)
        if not last:
            return time.monotonic() - start
        time.sleep(1)
    raise DrillFailed(f"Ceph not whole after {timeout} s: {last}")


def active_mds(host: str = ASK) -> str | None:
    fs = mds_state(ceph("fs", "dump", host=host) or {})["filesystems"].get("cephfs") or {}
    rank = (fs.get("ranks") or {}).get(0) or {}
    return rank.get("name") if rank.get("state") == "up:active" else None


def quorum(host: str = ASK, timeout: int = 5) -> list[str] | None:
    found = ceph("quorum_status", host=host, timeout=timeout)
    return found["quorum_names"] if found else None


def stop_daemon(host: str, unit: str) -> None:
    """SIGKILL a daemon and keep it down (the fault layer's kill_unit)."""
    FAULTS.kill_unit(host, unit)


def start_daemon(host: str, unit: str) -> None:
    FAULTS.start_unit(host, unit)


def memory_mib(hosts: list[str] | tuple = tuple(MONS)) -> float:
    """Resident memory of every Ceph daemon on `hosts` (default the storage hosts), MiB."""
    total = 0
    for host in hosts:
        out = on_node(host, "ps -C ceph-mon,ceph-mgr,ceph-osd,ceph-mds -o rss= || true",
                      check=False)
        total += sum(int(x) for x in out.split() if x.isdigit())
    return total / 1024


CEPHFS = "/mnt/cephfs"


def mount_cephfs(*hosts: str) -> str:
    """CephFS mounted with ceph-fuse at /mnt/cephfs on `hosts`, with a key made for the
    tests (`ceph fs authorize`, rw on the whole filesystem)."""
    keyring = on_node(ASK, "ceph fs authorize cephfs client.pilotstack-test / rw")
    for host in hosts:
        on_node(host, f"cat > /etc/ceph/ceph.client.pilotstack-test.keyring <<'K'\n{keyring}K\n"
                      "chmod 600 /etc/ceph/ceph.client.pilotstack-test.keyring; "
                      f"mkdir -p {CEPHFS}; mountpoint -q {CEPHFS} || "
                      f"ceph-fuse --id pilotstack-test {CEPHFS} >/dev/null")
    return CEPHFS


def unmount_cephfs(*hosts: str) -> None:
    for host in hosts:
        on_node(host, f"fusermount -u {CEPHFS}", check=False)



# --- the drills -------------------------------------------------------------------------------

# Memory of the Ceph daemons sampled during the drills (MiB): the peak is a figure.
PEAK: list[float] = []


def wait_until(predicate, timeout: float, pause: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(pause)
    raise DrillFailed(f"not true after {timeout} s")


def _lost_count(env, what: str, writer, gone: dict) -> None:
    env.count(what, len(writer.acked), len(gone["missing"]) + len(gone["corrupt"]))


@drill("ceph-mds-killed", "ceph")
def mds_killed(env) -> None:
    """The active MDS killed under CephFS writes (ceph-fuse on cmp1): the standby-replay
    daemon takes over, writes resume, every acknowledged file intact. Measured on a settled
    quorum (the mons fail no MDS while their quorum is younger than 60 s)."""
    wait_whole(600)
    wait_until(lambda: (ceph("status") or {}).get("quorum_age", 0) > 65, 120, pause=2)
    active = active_mds()
    check(active in MONS, f"no active MDS: {active}")
    cephfs = mount_cephfs(CLIENT)
    try:
        writer = Writer(CLIENT, f"{cephfs}/drill-mds-{int(time.time())}").start()
        writer.wait_acks(40)
        start = time.time()
        stop_daemon(active, f"ceph-mds@{active}")
        try:
            wait_until(lambda: active_mds() not in (None, active), 120)
            takeover = time.time() - start
            writer.wait_acks(len(writer.acked) + 40)
            resumed = writer.stall(start, time.time())
        finally:
            start_daemon(active, f"ceph-mds@{active}")
        writer.stop()
        gone = lost(writer)
    finally:
        unmount_cephfs(CLIENT)
    wait_whole(300)
    env.figure("ceph active MDS killed: standby active after (s)", round(takeover, 1))
    env.figure("ceph active MDS killed: CephFS write stall (s)", round(resumed, 1))
    _lost_count(env, "ceph active MDS killed: CephFS files", writer, gone)


def _osd_host(env, how: str) -> None:
    wait_whole(600)
    writer = RbdWriter(CLIENT, f"volumes/drill-osd-{how}-{int(time.time())}").start()
    writer.wait_acks(40)
    start = time.time()
    with host_fault(OSD_VICTIM, how):
        # Kept down 40 s: long enough to see the whole stall and I/O carry on without it.
        time.sleep(40)
        PEAK.append(memory_mib([h for h in MONS if h != OSD_VICTIM]))
        acked_while_down = writer.acked_between(start + 30, time.time())
    back = time.time()
    writer.wait_acks(len(writer.acked) + 20)
    writer.stop()
    whole_after = wait_whole(600)
    gone = rbd_lost(writer)
    env.figure(f"ceph OSD host {how}: RBD write stall (s)", round(writer.stall(start, back), 1))
    env.figure(f"ceph OSD host {how}: whole again after its return (s)", round(whole_after, 1))
    _lost_count(env, f"ceph OSD host {how}: RBD blocks", writer, gone)
    check(acked_while_down > 0, "writes did not resume while the host was down")


@drill("ceph-osd-host-killed", "ceph")
def osd_host_killed(env) -> None:
    """st3 (mon, mgr, OSD) killed for 40 s under checksummed RBD writes with cinder's key:
    the I/O stall, then writes carry on; every acknowledged block reads back intact."""
    _osd_host(env, "killed")


@drill("ceph-osd-host-frozen", "ceph")
def osd_host_frozen(env) -> None:
    """st3 frozen (docker pause: silent) for 40 s under checksummed RBD writes: the I/O
    stall until the heartbeat grace, then writes carry on; every block intact."""
    _osd_host(env, "silent")


def new_client_op(timeout: int = 20) -> bool:
    """A new client (rbd ls with cinder's key) gets an answer within `timeout` seconds."""
    proc = subprocess.run(["docker", "exec", TOPOLOGY.container(CLIENT), "timeout",
                           str(timeout), "rbd", "--id", "cinder", "ls", "volumes"],
                          capture_output=True)
    return proc.returncode == 0


@drill("ceph-mons-killed", "ceph")
def mons_killed(env) -> None:
    """One mon killed: quorum of 2, clients served; a second killed: quorum lost, new
    clients block, nothing acknowledged is lost; both back: quorum of 3."""
    wait_whole(600)
    writer = RbdWriter(CLIENT, f"volumes/drill-mon-{int(time.time())}").start()
    writer.wait_acks(40)
    first = time.time()
    first_mon, second_mon, last_mon = MONS[-1], MONS[-2], MONS[0]
    stop_daemon(first_mon, f"ceph-mon@{first_mon}")
    try:
        two = time.monotonic()
        wait_until(lambda: sorted(quorum(last_mon) or []) == sorted(MONS[:-1]), 60)
        quorum_s = time.monotonic() - two
        time.sleep(5)
        one_down_ok = new_client_op()
        stall_one = writer.stall(first, time.time())
        second = time.time()
        stop_daemon(second_mon, f"ceph-mon@{second_mon}")
        # The last mon notices when its lease runs out (mon_lease 5 s x 2).
        lost_s = wait_until(lambda: quorum(last_mon, timeout=5) is None and time.time(),
                            60) - second
        no_quorum = quorum(last_mon, timeout=5) is None
        new_blocked = not new_client_op(15)
        acked_without_quorum = writer.acked_between(second + 5, time.time())
    finally:
        start_daemon(second_mon, f"ceph-mon@{second_mon}")
        start_daemon(first_mon, f"ceph-mon@{first_mon}")
    restart = time.monotonic()
    wait_until(lambda: sorted(quorum(last_mon) or []) == sorted(MONS), 120)
    back_s = time.monotonic() - restart
    writer.wait_acks(len(writer.acked) + 20)
    writer.stop()
    wait_whole(600)
    gone = rbd_lost(writer)
    env.figure("ceph one mon killed: quorum of 2 after (s)", round(quorum_s, 1))
    env.figure("ceph one mon killed: RBD write stall (s)", round(stall_one, 1))
    env.figure("ceph one mon killed: new client served", one_down_ok)
    env.figure("ceph two mons killed: quorum lost after (s)", round(lost_s, 1))
    env.figure("ceph two mons killed: new client blocked", new_blocked)
    env.figure("ceph two mons killed: blocks the running writer got acknowledged meanwhile",
               acked_without_quorum)
    env.figure("ceph two mons killed: quorum back after their restart (s)", round(back_s, 1))
    _lost_count(env, "ceph mons killed: RBD blocks", writer, gone)
    check(one_down_ok, "a new client was not served with one mon down")
    check(no_quorum and new_blocked, "quorum not lost or a new client not blocked with two "
                                     "mons down")


def daemon_pids(host: str) -> set[str]:
    return set(on_node(host, "pgrep -d, -x 'ceph-(mon|mgr|osd|mds)' || pgrep -d, ceph-",
                       check=False).strip().split(",")) - {""}


@drill("ceph-rolling-restart", "ceph")
def rolling_restart(env) -> None:
    """ceph-rolling-restart.yml under RBD writes: every daemon replaced, noout unset at the
    end, every acknowledged block intact, the cluster whole."""
    wait_whole(600)
    before = {h: daemon_pids(h) for h in MONS}
    writer = RbdWriter(CLIENT, f"volumes/drill-rolling-{int(time.time())}").start()
    writer.wait_acks(40)
    start = time.time()
    try:
        run = env.playbook("ceph-rolling-restart.yml")
    finally:
        end = time.time()
        PEAK.append(memory_mib())
        writer.stop()
    check(run.rc == 0, f"ceph-rolling-restart.yml failed:\n{run.output[-4000:]}")
    after = {h: daemon_pids(h) for h in MONS}
    check(not any(before[h] & after[h] for h in MONS),
          f"daemons not all restarted: {before} -> {after}")
    check("noout" not in ceph("osd", "dump")["flags"], "noout still set")
    gone = rbd_lost(writer)
    env.figure("ceph rolling restart under RBD writes: wall (s)", round(end - start, 1))
    env.figure("ceph rolling restart: longest RBD write stall (s)",
               round(writer.stall(start, end), 1))
    _lost_count(env, "ceph rolling restart: RBD blocks", writer, gone)
    check(wait_whole(120) < 120, "not whole 120 s after the rolling restart")
