"""The testbed's fencing endpoint certificates: the client certificate is
signed by the testbed's own CA, the server certificate names the bridge address only."""

import subprocess

from pilotstack.testbed import fencing


def test_certificates_chain_to_the_testbed_ca(tmp_path):
    d = fencing.make_certificates(tmp_path, "10.213.10.1")
    for name in ("server", "client"):
        out = subprocess.run(["openssl", "verify", "-CAfile", str(d / "ca.pem"),
                              str(d / f"{name}.pem")], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", str(d / "server.pem")],
                          capture_output=True, text=True).stdout
    assert "IP Address:10.213.10.1" in text
    assert oct((d / "client.key").stat().st_mode & 0o777) == "0o600"
    assert fencing.make_certificates(tmp_path, "10.213.10.1") == d  # idempotent


def test_a_proxy_that_cannot_listen_fails_the_start_with_the_reason(tmp_path):
    """Another process holds the port (a testbed of another checkout): fail closed at once,
    not with fence devices failing on every node later."""
    import socket

    import pytest

    from pilotstack.testbed import fencing
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", fencing.PORT))
        holder.listen()
        with pytest.raises(RuntimeError, match="Address already in use"):
            fencing.start(tmp_path, "127.0.0.1")
    assert not (tmp_path / "fencing" / "socat.pid").exists()
