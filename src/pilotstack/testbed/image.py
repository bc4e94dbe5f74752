"""The testbed's base image: debootstrap of Debian bookworm + docker import, built locally
(no container registry can be reached). The tag carries a hash of the recipe, so the image
is rebuilt only when the recipe changes."""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
import time
from pathlib import Path

from . import docker

RECIPE_DIR = Path(__file__).with_name("image")
SUITE = "bookworm"
PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-apt",
    "iproute2", "iputils-ping", "procps", "ca-certificates", "less", "netbase",
    # fault drills cut the network between nodes (silently dropped packets)
    "nftables",
]


def tag() -> str:
    digest = hashlib.sha256()
    digest.update(SUITE.encode())
    digest.update(" ".join(PACKAGES).encode())
    for path in sorted(RECIPE_DIR.iterdir()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return f"pilotstack/base:{SUITE}-{digest.hexdigest()[:12]}"


def ensure(mirror: str, proxy: str | None, log=print) -> tuple[str, float]:
    """Build the image unless it exists. Returns (tag, seconds spent building)."""
    wanted = tag()
    if docker.image_exists(wanted):
        return wanted, 0.0
    start = time.monotonic()
    log(f"building base image {wanted} (debootstrap {SUITE}, once per recipe)")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
    if proxy:
        env["http_proxy"] = proxy
    with tempfile.TemporaryDirectory(prefix="pilotstack-rootfs-", dir="/var/tmp") as tmp:
        root = Path(tmp) / "root"
        _run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
              SUITE, str(root), mirror], env)
        script = root / "tmp" / "customize.sh"
        script.write_bytes((RECIPE_DIR / "customize.sh").read_bytes())
        _run(["chroot", str(root), "/bin/sh", "/tmp/customize.sh"], env)
        script.unlink(missing_ok=True)  # the script clears /tmp itself
        tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-c", "."],
                               stdout=subprocess.PIPE)
        imp = subprocess.run(
            ["docker", "import", "--change", 'CMD ["/sbin/init"]',
             "--change", "ENV container=docker",
             "--change", f"LABEL {docker.LABEL}.image={SUITE}", "-", wanted],
            stdin=tar.stdout, capture_output=True)
        tar.stdout.close()
        if tar.wait() != 0 or imp.returncode != 0:
            raise docker.DockerError(f"docker import failed: {imp.stderr.decode().strip()}")
    return wanted, time.monotonic() - start


def _run(argv: list[str], env: dict) -> None:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise docker.DockerError(f"{argv[0]} failed (exit {proc.returncode}):\n{tail}")
