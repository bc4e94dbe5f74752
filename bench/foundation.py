"""Foundation benchmark: prints one line per figure.

  image build (s)        debootstrap + import of the testbed base image, cache warm
  testbed up (s)         12 containers created, booted and reachable over SSH
  site cold run (s)      site.yml (preflight, base, database tier) on fresh containers
  site re-run (s)        the same again, and its changed count (must be 0)
  testbed memory (MiB)   resident memory of the 12 containers after the re-run

It takes down the default testbed first and leaves it down.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
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


def main() -> None:
    pilotstack = str(BIN / "pilotstack")
    sys.path.insert(0, str(ROOT / "src"))
    from pilotstack.testbed import image

    sh(pilotstack, "testbed", "down")
    subprocess.run(["docker", "rmi", "-f", image.tag()], capture_output=True)
    _, out = timed(pilotstack, "testbed", "up", "--json")
    timings = json.loads(out.strip().splitlines()[-1])
    print(f"image build (s): {timings['image_build_s']:.1f}")
    sh(pilotstack, "testbed", "down")
    seconds, _ = timed(pilotstack, "testbed", "up")
    print(f"testbed up (s): {seconds:.1f}")
    sh(pilotstack, "secrets")
    seconds, _ = timed(pilotstack, "deploy")
    print(f"site cold run (s): {seconds:.1f}")
    seconds, out = timed(pilotstack, "deploy")
    changed = sum(int(c) for c in RECAP.findall(out))
    print(f"site re-run (s): {seconds:.1f}")
    print(f"site re-run changed: {changed}")
    print(f"testbed memory (MiB): {memory_mib():.0f}")
    sh(pilotstack, "testbed", "down")


if __name__ == "__main__":
    main()
