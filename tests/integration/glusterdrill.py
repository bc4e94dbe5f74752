"""Fault-drill tools for the shared storage tier: a client on a compute host that writes
checksummed files through the FUSE mount, and the counts of what survived.

A file is acknowledged when write + fsync + close returned without error on the client;
its SHA-256 is printed then, and only then. After the drill every acknowledged file must
read back with that checksum through the mount and from every brick.
"""

from __future__ import annotations

import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

SERVERS = {"st1": "10.213.20.41", "st2": "10.213.20.42", "st3": "10.213.20.43"}
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


def container(host: str) -> str:
    return f"pstb-{host}"


def on_node(host: str, command: str, check: bool = True, timeout: int = 300) -> str:
    proc = subprocess.run(["docker", "exec", container(host), "sh", "-c", command],
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{host}: {command}: {proc.stdout}{proc.stderr}")
    return proc.stdout


def docker(*args: str) -> None:
    subprocess.run(["docker", *args], check=True, capture_output=True, timeout=120)


@dataclass
class Writer:
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
        self.stop_file = f"/tmp/writer-stop-{time.monotonic_ns()}"
        self.proc = subprocess.Popen(
            ["docker", "exec", container(self.host), "python3", "-c", self.script,
             self.directory, self.stop_file, str(self.pace)], stdout=subprocess.PIPE,
            text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            parts = line.split()
            if parts[0] == "OK":
                self.acked[parts[2]] = (float(parts[1]), parts[3])
                self.times.append(float(parts[1]))
            elif parts[0] == "ERR":
                self.errors.append((float(parts[1]), parts[2]))

    def wait_acks(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) < count:
            assert time.monotonic() < deadline, f"only {len(self.acked)} files written"
            time.sleep(0.2)

    def stop(self, timeout: float = 180) -> Writer:
        on_node(self.host, f"touch {self.stop_file}")
        try:
            self.proc.wait(timeout)
        finally:
            self.thread.join(10)
            on_node(self.host, f"rm -f {self.stop_file}", check=False)
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


def heal_summary(volume: str, ask: str = "st1") -> dict[str, dict]:
    """Per brick: connected, entries to heal, entries in split-brain."""
    out = on_node(ask, f"gluster --mode=script volume heal {volume} info summary --xml",
                  check=False)
    result = {}
    try:
        root = ET.fromstring(out)
    except ET.ParseError:
        return {}
    for b in root.iter("brick"):
        connected = b.findtext("status") == "Connected"
        total = b.findtext("totalNumberOfEntries") or ""
        split = b.findtext("numberOfEntriesInSplitBrain") or ""
        result[b.findtext("name")] = {
            "connected": connected,
            "total": int(total) if total.isdigit() else None,
            "split_brain": int(split) if split.isdigit() else None}
    return result


def wait_healed(volume: str, bricks: int = 3, timeout: float = 600, ask: str = "st1") -> float:
    """Seconds until every brick answers with 0 entries to heal (fails after timeout)."""
    start = time.monotonic()
    last = {}
    while time.monotonic() - start < timeout:
        last = heal_summary(volume, ask)
        if len(last) == bricks and all(b["connected"] and b["total"] == 0
                                       for b in last.values()):
            return time.monotonic() - start
        time.sleep(1)
    raise AssertionError(f"volume {volume} not healed after {timeout} s: {last}")


def split_brain(volume: str, ask: str = "st1") -> int:
    return sum(b["split_brain"] or 0 for b in heal_summary(volume, ask).values())


CLIENTS = ("ctl1", "ctl2", "cmp1", "cmp2")


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


def power_off(host: str) -> None:
    docker("kill", container(host))


def power_on(host: str) -> None:
    docker("start", container(host))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = subprocess.run(["docker", "exec", container(host), "systemctl",
                                "is-active", "glusterd"], capture_output=True, text=True)
        if state.stdout.strip() == "active":
            return
        time.sleep(1)
    raise AssertionError(f"{host}: glusterd not active 120 s after power-on")
