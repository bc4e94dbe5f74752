"""Deploy benchmark (`make bench`): prints one line per figure.

  image build (s)             debootstrap + import of the base image (only with --image)
  testbed up (s)              12 containers created, booted and reachable over SSH
  strategy                    what `pilotstack deploy` runs with by default (mitogen_linear
                              when the mitogen package is installed, else linear)
  cold deploy (s)             `pilotstack deploy` (site.yml, every tier) on fresh
                              containers (warm package cache)
  cold deploy, tier T (s)     wall time of each tier in that run
  re-run (s), re-run changed  `pilotstack deploy` again: its wall time and changed count
                              (must be 0)
  re-run, tier T (s)          wall time of each tier in the re-run
  re-run linear (s), changed  the same re-run with Ansible's own linear strategy
                              (`pilotstack deploy --strategy linear`, plain ansible-playbook)
  testbed memory peak (MiB)   highest proportional set size of the 12 containers, sampled
                              every 10 s during both runs
  testbed memory idle (MiB)   the same after the re-run

It takes down the default testbed first and leaves it down (--keep: up).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RECAP = re.compile(r"^\S+\s+:\s+ok=\d+\s+changed=(\d+)", re.M)


def sh(*argv: str) -> str:
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def timed(*argv: str) -> tuple[float, str]:
    start = time.monotonic()
    out = sh(*argv)
    return time.monotonic() - start, out


def memory_mib(prefix: str = "pstb-") -> float:
    """Proportional set size of every process in the testbed containers' PID namespaces
    (docker stats reads 0 B on this machine's cgroup v1 with a host cgroup namespace)."""
    names = [n for n in sh("docker", "ps", "--format", "{{.Names}}").split()
             if n.startswith(prefix)]
    namespaces = set()
    for name in names:
        pid = sh("docker", "inspect", "-f", "{{.State.Pid}}", name).strip()
        namespaces.add(Path(f"/proc/{pid}/ns/pid").readlink())
    total_kib = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "ns" / "pid").readlink() not in namespaces:
                continue
            for line in (proc / "smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024


class MemorySampler:
    """Peak testbed memory: samples memory_mib() every `interval` s in the background."""

    def __init__(self, interval: float = 10.0):
        self.interval, self.peak = interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            # SystemExit: a container went away between two docker calls
            with contextlib.suppress(SystemExit):
                self.peak = max(self.peak, memory_mib())
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def tiers(label: str) -> None:
    data = json.loads((ROOT / ".pilotstack" / "last-run-tiers.json").read_text())
    for tier, figures in data["tiers"].items():
        print(f"{label}, tier {tier} (s): {figures['seconds']:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", action="store_true", help="rebuild the base image first")
    parser.add_argument("--keep", action="store_true", help="leave the testbed up")
    args = parser.parse_args()
    pilotstack = str(BIN / "pilotstack")
    sys.path.insert(0, str(ROOT / "src"))
    from pilotstack.testbed import image

    sh(pilotstack, "testbed", "down")
    if args.image:
        subprocess.run(["docker", "rmi", "-f", image.tag()], capture_output=True)
        _, out = timed(pilotstack, "testbed", "up", "--json")
        timings = json.loads(out.strip().splitlines()[-1])
        print(f"image build (s): {timings['image_build_s']:.1f}", flush=True)
        sh(pilotstack, "testbed", "down")
    seconds, _ = timed(pilotstack, "testbed", "up")
    print(f"testbed up (s): {seconds:.1f}", flush=True)
    sh(pilotstack, "secrets")
    from pilotstack.cli import strategy_env
    print(f"strategy: {strategy_env('auto').get('ANSIBLE_STRATEGY', 'linear')}", flush=True)
    with MemorySampler() as sampler:
        seconds, _ = timed(pilotstack, "deploy")
        print(f"cold deploy (s): {seconds:.1f}", flush=True)
        tiers("cold deploy")
        for label, strategy in (("re-run", "auto"), ("re-run linear", "linear")):
            seconds, out = timed(pilotstack, "deploy", "--strategy", strategy)
            print(f"{label} (s): {seconds:.1f}")
            print(f"{label} changed: {sum(int(c) for c in RECAP.findall(out))}")
            tiers(label)
    print(f"testbed memory peak (MiB): {max(sampler.peak, memory_mib()):.0f}")
    print(f"testbed memory idle (MiB): {memory_mib():.0f}", flush=True)
    if not args.keep:
        sh(pilotstack, "testbed", "down")


if __name__ == "__main__":
    main()
