"""Fault-drill tools for the Ceph tier: a client on a compute host that writes checksummed
64 KiB blocks to an RBD image with client.cinder's key (librbd, as Nova and Cinder do), the
read-back of what it acknowledged, and waits on the cluster's own state.

A block is acknowledged when write + flush returned without error; its SHA-256 is printed
then, and only then. After a drill every acknowledged block must read back with that
checksum.
"""

from __future__ import annotations

import json
import time

from module_utils.pilotstack_ceph import mds_state, problems, summarize

from .glusterdrill import Writer, on_node

MONS = ["st1", "st2", "st3"]

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


def ceph(*args: str, host: str = "st1", timeout: int = 10):
    """`ceph ARGS -f json` on a mon host (None when the cluster does not answer)."""
    out = on_node(host, f"timeout {timeout + 5} ceph --connect-timeout {timeout} "
                        f"{' '.join(args)} -f json 2>/dev/null", check=False,
                  timeout=timeout + 30)
    try:
        return json.loads(out) if out.strip() else None
    except ValueError:
        return None


def state(host: str = "st1") -> dict | None:
    status = ceph("status", host=host)
    if status is None:
        return None
    fs_dump = ceph("fs", "dump", host=host) or {}
    osd_dump = ceph("osd", "dump", host=host) or {}
    return summarize(status, fs_dump, osd_dump.get("flags", ""))


def whole_problems(host: str = "st1") -> list[str]:
    found = state(host)
    if found is None:
        return ["the cluster does not answer"]
    return problems(found, MONS, 3, 2)


def wait_whole(timeout: float = 600, host: str = "st1") -> float:
    """Seconds until every mon is in quorum, every OSD up and in, every PG active+clean,
    the filesystem's rank active with both MDS up, no flag and no health check."""
    start = time.monotonic()
    last = []
    while time.monotonic() - start < timeout:
        last = whole_problems(host)
        if not last:
            return time.monotonic() - start
        time.sleep(1)
    raise AssertionError(f"Ceph not whole after {timeout} s: {last}")


def active_mds(host: str = "st1") -> str | None:
    fs = mds_state(ceph("fs", "dump", host=host) or {})["filesystems"].get("cephfs") or {}
    rank = (fs.get("ranks") or {}).get(0) or {}
    return rank.get("name") if rank.get("state") == "up:active" else None


def quorum(host: str = "st1", timeout: int = 5) -> list[str] | None:
    found = ceph("quorum_status", host=host, timeout=timeout)
    return found["quorum_names"] if found else None


def stop_daemon(host: str, unit: str) -> None:
    """SIGKILL a daemon and keep it down (masked for this boot: systemd would restart it
    within 10 s, before the cluster even noticed)."""
    on_node(host, f"systemctl mask --runtime {unit} >/dev/null 2>&1; "
                  f"systemctl kill -s KILL {unit}")


def start_daemon(host: str, unit: str) -> None:
    on_node(host, f"systemctl unmask --runtime {unit} >/dev/null 2>&1; "
                  f"systemctl reset-failed {unit} 2>/dev/null; systemctl start {unit}")


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
    keyring = on_node("st1", "ceph fs authorize cephfs client.pilotstack-test / rw")
    for host in hosts:
        on_node(host, f"cat > /etc/ceph/ceph.client.pilotstack-test.keyring <<'K'\n{keyring}K\n"
                      "chmod 600 /etc/ceph/ceph.client.pilotstack-test.keyring; "
                      f"mkdir -p {CEPHFS}; mountpoint -q {CEPHFS} || "
                      f"ceph-fuse --id pilotstack-test {CEPHFS} >/dev/null")
    return CEPHFS


def unmount_cephfs(*hosts: str) -> None:
    for host in hosts:
        on_node(host, f"fusermount -u {CEPHFS}", check=False)
