"""The package cache: Debian's apt-cacher-ng on this machine, shared by every container, so a
package is downloaded once per machine.

Out of the box it answers 503 here: it remaps Debian requests to its packaged default
mirror, which does not resolve. `backends_debian` must name the mirror that this machine's
own apt sources use; `configure()` writes it from them.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .net import port_open

CONF_DIR = Path("/etc/apt-cacher-ng")
PORT = 3142
PIDFILE = Path("/run/apt-cacher-ng/pid")
OWN_CONF = CONF_DIR / "zz_pilotstack.conf"


class CacheError(RuntimeError):
    pass


def host_debian_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror URL this machine's own apt sources use (deb822 or one-line)."""
    candidates: list[Path] = []
    if (sources_dir / "sources.list").is_file():
        candidates.append(sources_dir / "sources.list")
    candidates += sorted((sources_dir / "sources.list.d").glob("*.sources"))
    candidates += sorted((sources_dir / "sources.list.d").glob("*.list"))
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        for uri in re.findall(r"^\s*URIs:\s*(\S+)", text, re.M) + \
                re.findall(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)", text, re.M):
            if uri.rstrip("/").endswith("/debian") and uri.startswith("http"):
                return uri.rstrip("/") + "/"
    return "http://deb.debian.org/debian/"


def listening(host: str = "127.0.0.1", port: int = PORT) -> bool:
    return port_open(host, port)


def configure(bind: list[str], log=print) -> str:
    """Make the cache use the host's mirror and listen on `bind`; (re)start it if needed.
    Returns the mirror URL."""
    if not shutil.which("apt-cacher-ng") and not Path("/usr/sbin/apt-cacher-ng").exists():
        raise CacheError("apt-cacher-ng is not installed (apt-get install apt-cacher-ng)")
    mirror = host_debian_mirror()
    changed = _write(CONF_DIR / "backends_debian", mirror + "\n")
    addresses = " ".join(["127.0.0.1", *bind])
    # FreshIndexMaxAge: index files fetched in the last minutes are served as they are.
    # Without it, a dozen hosts asking for InRelease at once made acng race against itself
    # ("Failure to move file ... out of the way") and an apt client hung on the dropped
    # connection.
    changed |= _write(OWN_CONF, f"# written by pilotstack testbed\nBindAddress: {addresses}\n"
                                f"Port: {PORT}\nFreshIndexMaxAge: 600\n")
    up = all(listening(a) for a in ["127.0.0.1", *bind])
    if changed or not up:
        log(f"package cache: (re)starting apt-cacher-ng on {addresses}:{PORT} -> {mirror}")
        restart()
        deadline = time.monotonic() + 20
        while not all(listening(a) for a in ["127.0.0.1", *bind]):
            if time.monotonic() > deadline:
                raise CacheError(f"apt-cacher-ng does not listen on {addresses}:{PORT}; "
                                 "see /var/log/apt-cacher-ng/apt-cacher.err")
            time.sleep(0.2)
    return mirror


def warm(suites: list[str], log=print) -> None:
    """Fetch the index files once, one after the other, before many hosts ask at once."""
    import urllib.request

    host_path = host_debian_mirror().split("://", 1)[1].rstrip("/")
    for suite in suites:
        base = host_path + ("-security" if suite.endswith("-security") else "")
        url = f"http://127.0.0.1:{PORT}/{base}/dists/{suite}/InRelease"
        try:
            with urllib.request.urlopen(url, timeout=60) as resp:
                resp.read()
        except OSError as exc:
            log(f"package cache: could not pre-fetch {url}: {exc}")


def restart() -> None:
    if _systemd_host():
        subprocess.run(["systemctl", "restart", "apt-cacher-ng"], check=True)
        return
    stop()
    Path("/run/apt-cacher-ng").mkdir(exist_ok=True)
    os.chown("/run/apt-cacher-ng", *_acng_ids())
    # Least privilege: the daemon runs as its own user, as Debian's init script does.
    subprocess.run(["runuser", "-u", "apt-cacher-ng", "--", "/usr/sbin/apt-cacher-ng",
                    "-c", str(CONF_DIR), f"pidfile={PIDFILE}",
                    "SocketPath=/run/apt-cacher-ng/socket", "foreground=0"], check=True)


def stop() -> None:
    pids = subprocess.run(["pgrep", "-x", "apt-cacher-ng"], capture_output=True, text=True)
    for pid in pids.stdout.split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGTERM)
    deadline = time.monotonic() + 10
    while subprocess.run(["pgrep", "-x", "apt-cacher-ng"], capture_output=True).returncode == 0:
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)


def _acng_ids() -> tuple[int, int]:
    import pwd

    try:
        entry = pwd.getpwnam("apt-cacher-ng")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 0, 0


def _systemd_host() -> bool:
    return Path("/run/systemd/system").is_dir()


def _write(path: Path, text: str) -> bool:
    try:
        if path.read_text() == text:
            return False
    except OSError:
        pass
    path.write_text(text)
    return True
