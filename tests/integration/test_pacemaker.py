"""Controller tier on the testbed: Pacemaker 2.1 + Corosync 3.1 on ctl1/ctl2 with real
fencing (fence_docker through the testbed's TLS endpoint), the controller group (VIP +
memcached + lighttpd) active on exactly one node (playbooks/pacemaker.yml)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import yaml

from pilotstack.drills import pacemaker as pcmk
from pilotstack.drills.pacemaker import NODES, Probe, active_node, crm_mon, on_node

from .conftest import FIGURES, INVENTORY, ROOT, ansible_playbook, run_drill


def wait_healthy(timeout: float = 240) -> float:
    from pilotstack.drills.env import Env
    return pcmk.wait_healthy(Env(ROOT), timeout)


@pytest.fixture(scope="module", autouse=True)
def deployed(stack):
    if on_node("ctl1", "systemctl is-active pacemaker", check=False).strip() != "active":
        run = ansible_playbook("pacemaker.yml")
        assert run.rc == 0, run.output[-6000:]
    wait_healthy()
    return stack


def test_two_nodes_online_with_quorum_and_the_group_on_one_of_them():
    mon = crm_mon()
    assert mon.find("./summary/current_dc").get("with_quorum") == "true"
    nodes = {n.get("name"): n.get("online") for n in mon.findall("./nodes/node")}
    assert nodes == {"ctl1": "true", "ctl2": "true"}
    group = mon.find("./resources/group[@id='controller']")
    where = {n.get("name") for r in group.iter("resource") for n in r.iter("node")}
    assert len(where) == 1
    assert all(r.get("active") == "true" for r in group.iter("resource"))
    fences = [r for r in mon.iter("resource") if r.get("resource_agent") == "stonith:fence_docker"]
    assert len(fences) == 2 and all(r.get("active") == "true" for r in fences)
    for r in fences:   # never on the node it fences
        assert {n.get("name") for n in r.iter("node")} != {r.get("id").removeprefix("fence-")}


def test_corosync_two_encrypted_links_and_two_node_quorum():
    for host in NODES:
        cmap = on_node(host, "corosync-cmapctl totem.crypto_cipher totem.crypto_hash "
                             "quorum.two_node quorum.wait_for_all")
        assert "totem.crypto_cipher (str) = aes256" in cmap
        assert "totem.crypto_hash (str) = sha256" in cmap
        assert "quorum.two_node (u8) = 1" in cmap
        links = on_node(host, "corosync-cfgtool -s")
        assert links.count("LINK ID") == 2, links
        assert "disconnected" not in links.lower(), links
        assert on_node(host, "stat -c %a /etc/corosync/authkey").strip() == "400"


def test_the_vip_answers_from_the_active_node():
    probe = Probe().start()
    try:
        probe.wait_answer(30)
        time.sleep(1)
    finally:
        probe.stop()
    assert probe.served_by() == {active_node()}


def test_rerun_and_check_mode_change_nothing():
    again = ansible_playbook("pacemaker.yml")
    assert again.rc == 0 and again.changed == 0, again.recap
    check = ansible_playbook("pacemaker.yml", INVENTORY, "--check", "--diff")
    assert check.rc == 0 and check.changed == 0, check.recap
    FIGURES["pacemaker.yml re-run (s)"] = round(again.seconds, 1)


@pytest.mark.parametrize("name", [
    pytest.param("pacemaker-active-killed", marks=pytest.mark.full), "pacemaker-active-frozen",
    pytest.param("pacemaker-links-cut", marks=pytest.mark.full),
    pytest.param("pacemaker-standby", marks=pytest.mark.full),
    pytest.param("pacemaker-rolling-restart", marks=pytest.mark.full)])
def test_drill(drill_env, name):
    run_drill(drill_env, name)


def cib_configuration(host: str = "ctl1") -> str:
    return on_node(host, "cibadmin --query --scope configuration")


def adhoc_cib(spec: dict) -> dict:
    """pilotstack_pacemaker_cib run ad hoc on ctl1 with `spec`; its JSON result."""
    import json
    import subprocess

    from .conftest import BIN, ENV, ROOT
    proc = subprocess.run(
        [str(BIN / "ansible"), "ctl1", "-i", str(INVENTORY), "-m", "pilotstack_pacemaker_cib",
         "-a", json.dumps({"spec": spec}),
         "--vault-password-file", str(INVENTORY / ".vault_pass")],
        cwd=ROOT, env=ENV, capture_output=True, text=True)
    out = proc.stdout
    if "=>" not in out:
        return {"msg": out + proc.stderr}
    result = json.loads(out[out.index("=>") + 2:])
    result["failed"] = "| FAILED!" in out.split("=>")[0]
    return result


@pytest.mark.parametrize(("spec", "says"), [
    ({"primitives": [{"id": "drill-bad", "class": "ocf", "provider": "heartbeat",
                      "type": "NoSuchAgent"}]},
     "resource agent ocf:heartbeat:NoSuchAgent is not installed"),
    ({"colocations": [{"id": "drill-bad-with", "rsc": "controller", "with_rsc": "no-such",
                       "score": "INFINITY"}]},
     "no-such"),
])
def test_bad_input_is_refused_and_the_live_cib_is_untouched(spec, says):
    before = cib_configuration()
    result = adhoc_cib(spec)
    assert result.get("failed") and says in result["msg"], result
    assert "The live CIB was not touched" in result["msg"]
    assert cib_configuration() == before


def test_a_missing_authkey_is_refused_before_any_node_changes():
    before = {n: (cib_configuration(n), on_node(n, "sha256sum /etc/corosync/authkey"))
              for n in NODES}
    run = ansible_playbook("pacemaker.yml", INVENTORY, "-e", '{"pilotstack_secrets": {}}')
    assert run.rc != 0 and "needs the corosync_authkey secret" in run.output, run.output[-3000:]
    assert run.changed == 0
    assert {n: (cib_configuration(n), on_node(n, "sha256sum /etc/corosync/authkey"))
            for n in NODES} == before


@pytest.mark.full
def test_drill_killed_service_is_restarted_in_place_with_a_failcount(drill_env):
    run_drill(drill_env, "pacemaker-service-killed")


def _tls_get(ca: Path, cert: Path | None, key: Path | None) -> str:
    """GET /version on the fencing endpoint; the HTTP status line, or the TLS refusal."""
    import socket
    import ssl
    host = yaml.safe_load((INVENTORY / "group_vars" / "all" / "testbed.yml").read_text())[
        "pacemaker_fencing"]["ctl1"]["params"]["ipaddr"]
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key))
    try:
        with socket.create_connection((host, 2376), timeout=5) as raw, \
                ctx.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(b"GET /version HTTP/1.0\r\nHost: docker\r\n\r\n")
            data = tls.recv(4096)
            if not data:
                return "refused: closed without an answer"
            return data.split(b"\r\n", 1)[0].decode()
    except (ssl.SSLError, OSError) as exc:
        return f"refused: {exc}"


def test_fencing_endpoint_needs_a_client_certificate_from_its_own_ca(tmp_path):
    """The fence devices' TLS endpoint (the Docker API on the testbed's bridge): the
    testbed's client certificate gets an answer; no certificate, or one from another CA
    with the same subject, is refused."""
    d = ROOT / ".pilotstack" / "testbed" / "pstb" / "fencing"
    assert _tls_get(d / "ca.pem", d / "client.pem", d / "client.key").endswith("200 OK")
    assert _tls_get(d / "ca.pem", None, None).startswith("refused")

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
            "-subj", "/CN=pilotstack testbed fencing CA")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=pilotstack fencing client")
    (tmp_path / "ext").write_text("extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "client.pem", "-days", "1", "-extfile", "ext")
    assert _tls_get(d / "ca.pem", tmp_path / "client.pem", tmp_path / "client.key").startswith(
        "refused")
