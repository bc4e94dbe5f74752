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
