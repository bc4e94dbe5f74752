"""A thin wrapper over the docker CLI: every call is logged argv, every failure says why."""

from __future__ import annotations

import json
import subprocess

LABEL = "pilotstack.testbed"


class DockerError(RuntimeError):
    pass


def run(*args: str, check: bool = True, input: bytes | None = None) -> str:
    argv = ["docker", *args]
    try:
        proc = subprocess.run(argv, capture_output=True, input=input, timeout=300)
    except FileNotFoundError as exc:
        raise DockerError("the docker client is not installed (apt-get install docker.io)") from exc
    if check and proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise DockerError(f"{' '.join(argv[:4])} ...: {err}")
    return proc.stdout.decode(errors="replace")


def engine_ok() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False


def image_exists(tag: str) -> bool:
    return bool(run("image", "ls", "-q", tag).strip())


def labelled(kind: str, testbed: str) -> list[str]:
    """Names of containers/networks/volumes that carry this testbed's label."""
    flt = f"label={LABEL}={testbed}"
    if kind == "container":
        out = run("ps", "-a", "--filter", flt, "--format", "{{.Names}}")
    elif kind == "network":
        out = run("network", "ls", "--filter", flt, "--format", "{{.Name}}")
    elif kind == "volume":
        out = run("volume", "ls", "--filter", flt, "--format", "{{.Name}}")
    else:
        raise ValueError(kind)
    return [line for line in out.splitlines() if line]


def inspect(kind: str, name: str) -> dict | None:
    proc = subprocess.run(["docker", kind, "inspect", name], capture_output=True)
    if proc.returncode != 0:
        return None
    data = json.loads(proc.stdout or b"[]")
    return data[0] if data else None
