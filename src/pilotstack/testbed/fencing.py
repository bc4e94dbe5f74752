"""The testbed's fencing endpoint: the Docker API behind TLS with client
certificates, listening on the management bridge's gateway address only, so Debian's
`fence_docker` on the controllers can really power a container off and on.

Never the bare Docker socket on a network: the proxy (socat) accepts only clients whose
certificate is signed by this testbed's own CA, made here and removed by `down`.
Files under <state>/fencing/: ca.pem, ca.key, server.pem/.key, client.pem/.key, socat.pid.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

PORT = 2376
DAYS = "30"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(state: Path, bridge_ip: str) -> Path:
    """A CA, a server certificate for bridge_ip and a client certificate (idempotent)."""
    d = state / "fencing"
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    if (d / "client.pem").exists():
        return d
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", DAYS,
             "-subj", "/CN=pilotstack testbed fencing CA", cwd=d)
    for name, extra in (("server", f"subjectAltName=IP:{bridge_ip}"),
                        ("client", "extendedKeyUsage=clientAuth")):
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN=pilotstack fencing {name}", cwd=d)
        (d / f"{name}.ext").write_text(extra + "\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", DAYS,
                 "-extfile", f"{name}.ext", cwd=d)
    for key in d.glob("*.key"):
        os.chmod(key, 0o600)
    return d


START_CHECK_S = 1.0


def start(state: Path, bridge_ip: str) -> int:
    """Starts the TLS proxy (once); returns its pid."""
    d = make_certificates(state, bridge_ip)
    pid_file = d / "socat.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text())
        try:
            os.kill(pid, 0)
            return pid
        except OSError:
            pid_file.unlink()
    listen = (f"OPENSSL-LISTEN:{PORT},bind={bridge_ip},reuseaddr,fork,verify=1,"
              f"cert={d / 'server.pem'},key={d / 'server.key'},cafile={d / 'ca.pem'}")
    log_path = d / "socat.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(["socat", listen, "UNIX-CONNECT:/var/run/docker.sock"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=log, start_new_session=True)
    # socat exits at once when it cannot listen (another proxy holds the port: a testbed of
    # another checkout, or one left running): fencing would then fail on every node, late
    # and far from the cause. Fail here instead.
    try:
        proc.wait(timeout=START_CHECK_S)
    except subprocess.TimeoutExpired:
        pid_file.write_text(str(proc.pid))
        return proc.pid
    lines = log_path.read_text(errors="replace").strip().splitlines()
    raise RuntimeError(
        f"the fencing proxy did not start on {bridge_ip}:{PORT}: "
        f"{lines[-1] if lines else f'socat exited {proc.returncode}'}. If another "
        f"testbed's proxy holds the port, take that testbed down (or stop it: "
        f"pkill -f 'OPENSSL-LISTEN:{PORT}') and run `pilotstack testbed up` again")


def stop(state: Path, remove: bool = False) -> None:
    """Stops the proxy; `remove` also deletes the CA and certificates (testbed down)."""
    d = state / "fencing"
    pid_file = d / "socat.pid"
    if pid_file.exists():
        with contextlib.suppress(OSError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        pid_file.unlink()
    if remove and d.exists():
        shutil.rmtree(d)
