"""Fault-drill tools for the controller tier: a client that asks the controller VIP's HTTP
endpoint ten times a second (each answer names the node that served it), and a watcher that
samples which nodes hold the VIP or run a group service, to prove the group is never
active on two nodes at once.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass, field

from .glusterdrill import container, on_node

NODES = ("ctl1", "ctl2")
VIP = "10.213.10.110"
SERVICES = ("memcached", "lighttpd")

PROBE = r"""
import sys, time, urllib.request
url, stop, pace = sys.argv[1], sys.argv[2], float(sys.argv[3])
import os
while not os.path.exists(stop):
    t = time.time()
    try:
        body = urllib.request.urlopen(url, timeout=1).read().decode().split()
        print("OK %.3f %s" % (t, body[-1] if body else "?"), flush=True)
    except Exception as e:
        print("ERR %.3f %s" % (t, type(e).__name__), flush=True)
    time.sleep(max(0.0, pace - (time.time() - t)))
"""


def docker(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {proc.stderr}")
    return proc.stdout


def started_at(host: str) -> str:
    """The container's last start time: changes when fencing powered it off and on."""
    return docker("inspect", "-f", "{{.State.StartedAt}}", container(host)).strip()


@dataclass
class Probe:
    """HTTP GETs to the VIP from `host` every `pace` seconds; answers = [(time, node)]."""
    host: str = "lb1"
    pace: float = 0.1
    answers: list[tuple[float, str]] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)

    def start(self) -> Probe:
        self.stop_file = f"/tmp/probe-stop-{time.monotonic_ns()}"
        self.proc = subprocess.Popen(
            ["docker", "exec", container(self.host), "python3", "-c", PROBE,
             f"http://{VIP}/", self.stop_file, str(self.pace)],
            stdout=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            parts = line.split()
            if parts[0] == "OK":
                self.answers.append((float(parts[1]), parts[2]))
            elif parts[0] == "ERR":
                self.errors.append(float(parts[1]))

    def wait_answer(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.answers:
            assert time.monotonic() < deadline, "the VIP never answered"
            time.sleep(0.2)

    def stop(self) -> Probe:
        on_node(self.host, f"touch {self.stop_file}", check=False)
        try:
            self.proc.wait(30)
        finally:
            self.thread.join(10)
            on_node(self.host, f"rm -f {self.stop_file}", check=False)
        return self

    def back_after(self, since: float, not_from: str | None = None) -> float | None:
        """Seconds from `since` to the first answer after it (from a node other than
        `not_from` when given); None when there was none."""
        for t, node in self.answers:
            if t > since and node != not_from:
                return t - since
        return None

    def served_by(self, since: float = 0) -> set[str]:
        return {node for t, node in self.answers if t > since}


@dataclass
class Watch:
    """Samples every node (docker exec, so a paused or stopped node simply gives no
    sample) for the VIP on an interface and the group's services active; `twice` counts
    the samples in which two nodes were active at once."""
    interval: float = 0.2
    samples: list[tuple[float, dict[str, bool]]] = field(default_factory=list)

    def start(self) -> Watch:
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _one(self, host: str) -> bool | None:
        cmd = (f"ip -o -4 addr show | grep -q ' {VIP}/' && echo vip; "
               f"systemctl is-active {' '.join(SERVICES)} | grep -qx active && echo svc; true")
        try:
            proc = subprocess.run(["docker", "exec", container(host), "sh", "-c", cmd],
                                  capture_output=True, text=True, timeout=3)
        except subprocess.TimeoutExpired:
            return None
        if proc.returncode != 0:
            return None
        return bool(proc.stdout.split())

    def _run(self) -> None:
        while not self._stop.is_set():
            t = time.time()
            self.samples.append((t, {h: self._one(h) for h in NODES}))
            self._stop.wait(max(0.0, self.interval - (time.time() - t)))

    def stop(self) -> Watch:
        self._stop.set()
        self.thread.join(10)
        return self

    @property
    def twice(self) -> int:
        return sum(1 for _, s in self.samples if sum(1 for v in s.values() if v) > 1)
