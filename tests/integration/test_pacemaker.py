"""Controller tier on the testbed: Pacemaker 2.1 + Corosync 3.1 on ctl1/ctl2 with real
fencing (fence_docker through the testbed's TLS endpoint), the controller group (VIP +
memcached + lighttpd) active on exactly one node (playbooks/pacemaker.yml)."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import pytest

from .conftest import FIGURES, INVENTORY, ansible_playbook
from .pcmkdrill import NODES, Probe, Watch, docker, on_node, started_at


def crm_mon() -> ET.Element:
    for host in NODES:
        out = on_node(host, "crm_mon --one-shot --inactive --output-as=xml", check=False)
        if "<pacemaker-result" in out:
            return ET.fromstring(out)
    raise AssertionError("no node answers crm_mon")


def active_node() -> str:
    where = {n.get("name") for r in crm_mon().iter("resource")
             if r.get("id") == "controller-vip" for n in r.iter("node")}
    assert len(where) == 1, where
    return where.pop()


def wait_healthy(timeout: float = 240) -> float:
    """Seconds until both nodes are online, the group runs on one node, no failed action
    (the role's gate, asked through the module)."""
    start = time.monotonic()
    last = None
    while time.monotonic() - start < timeout:
        run = ansible_playbook("pacemaker-gate.yml")
        if run.rc == 0:
            return time.monotonic() - start
        last = run.output[-2000:]
        time.sleep(2)
    raise AssertionError(f"cluster not healthy after {timeout} s: {last}")


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


@pytest.mark.parametrize("how", ["killed", "silent"])
def test_drill_active_controller_fails_peer_fences_it_and_takes_over(how):
    """docker kill (sockets close) or docker pause (silent: must be fenced, not waited
    for): the peer powers it off and on through fence_docker, starts the group; seconds
    until the VIP answers from the peer; the group is never active on both."""
    active = active_node()
    peer = next(n for n in NODES if n != active)
    before = started_at(active)
    probe, watch = Probe().start(), Watch().start()
    try:
        probe.wait_answer(30)
        time.sleep(2)
        t0 = time.time()
        docker("kill" if how == "killed" else "pause", f"pstb-{active}")
        deadline = time.monotonic() + 120
        while probe.back_after(t0, not_from=active) is None:
            assert time.monotonic() < deadline, "the VIP did not come back on the peer"
            time.sleep(0.5)
        back = probe.back_after(t0, not_from=active)
        fenced = started_at(active) != before
        wait_fenced = time.monotonic() + 60
        while not fenced and time.monotonic() < wait_fenced:
            time.sleep(1)
            fenced = started_at(active) != before
    finally:
        if how == "silent":
            docker("unpause", f"pstb-{active}", check=False)
        rejoin = wait_healthy(300)
        watch.stop()
        probe.stop()
    FIGURES[f"pacemaker active {how}: VIP answering from the peer after (s)"] = round(back, 1)
    FIGURES[f"pacemaker active {how}: fenced (powered off and on), rejoined after (s)"] = (
        fenced, round(rejoin, 1))
    FIGURES[f"pacemaker active {how}: samples with the group on two nodes"] = (
        watch.twice, len(watch.samples))
    assert fenced, f"{active} was not fenced"
    assert watch.twice == 0
    assert active_node() == peer


def test_drill_cut_cluster_network_of_the_active_node_the_passive_is_fenced():
    """Both corosync links of the active node dropped (nftables, both ways): each side
    sees the other gone and both race to fence; priority-fencing-delay holds back the
    fencing of the node running the group, so the passive node is fenced and the
    services never move. The fencing path (TCP to the bridge) stays open."""
    active = active_node()
    passive = next(n for n in NODES if n != active)
    before = {n: started_at(n) for n in NODES}
    probe, watch = Probe().start(), Watch().start()
    try:
        probe.wait_answer(30)
        t0 = time.time()
        on_node(active, "nft add table inet drill && nft add chain inet drill c "
                        "'{ type filter hook input priority -10; }' && "
                        "nft add chain inet drill o '{ type filter hook output priority -10; }' "
                        "&& nft add rule inet drill c udp dport 5405-5412 drop && "
                        "nft add rule inet drill o udp dport 5405-5412 drop")
        deadline = time.monotonic() + 120
        while started_at(passive) == before[passive] and started_at(active) == before[active]:
            assert time.monotonic() < deadline, "nobody was fenced"
            time.sleep(1)
        fence_s = time.time() - t0
        time.sleep(5)
    finally:
        on_node(active, "nft delete table inet drill", check=False)
        rejoin = wait_healthy(300)
        watch.stop()
        probe.stop()
    survivor = active if started_at(active) == before[active] else passive
    gaps = [b - a for (a, _), (b, _) in zip(probe.answers, probe.answers[1:], strict=False)
            if a > t0]
    FIGURES["pacemaker cluster network cut: fenced after (s), survivor, longest VIP gap (s)"] = (
        round(fence_s, 1), survivor, round(max(gaps, default=0), 1))
    assert survivor == active, "the node running the group was fenced"
    assert started_at(passive) != before[passive]
    assert watch.twice == 0
    assert rejoin >= 0


def test_drill_standby_and_back_moves_the_group_cleanly():
    """playbooks/pacemaker-standby.yml on the active node, then back: the group moves to
    the peer (seconds until the VIP answers from it), stays there once the node is back
    (stickiness), never runs on both; a second standby-off run changes nothing."""
    active = active_node()
    peer = next(n for n in NODES if n != active)
    probe, watch = Probe().start(), Watch().start()
    try:
        probe.wait_answer(30)
        t0 = time.time()
        run = ansible_playbook("pacemaker-standby.yml", INVENTORY, "-e", f"node={active}")
        assert run.rc == 0 and run.changed == 1, run.output[-3000:]
        moved = probe.back_after(t0, not_from=active)
        assert moved is not None, "the VIP did not answer from the peer"
        back = ansible_playbook("pacemaker-standby.yml", INVENTORY, "-e", f"node={active}",
                                "-e", "standby=false")
        assert back.rc == 0 and back.changed == 1, back.output[-3000:]
        again = ansible_playbook("pacemaker-standby.yml", INVENTORY, "-e", f"node={active}",
                                 "-e", "standby=false")
        assert again.rc == 0 and again.changed == 0, again.recap
    finally:
        watch.stop()
        probe.stop()
    FIGURES["pacemaker standby of the active node: VIP answering from the peer after (s)"] = (
        round(moved, 1))
    FIGURES["pacemaker standby playbook, back-online playbook (s)"] = (
        round(run.seconds, 1), round(back.seconds, 1))
    assert active_node() == peer      # stickiness: the group stays where it moved
    assert watch.twice == 0


def test_rolling_restart_moves_the_group_once_and_fences_nobody():
    """playbooks/pacemaker-rolling-restart.yml: both nodes' pacemaker + corosync restarted
    one at a time; nobody fenced, the group never on two nodes, VIP requests that failed
    counted."""
    before = {n: started_at(n) for n in NODES}
    probe, watch = Probe().start(), Watch().start()
    try:
        probe.wait_answer(30)
        t0 = time.time()
        run = ansible_playbook("pacemaker-rolling-restart.yml")
        assert run.rc == 0, run.output[-4000:]
    finally:
        watch.stop()
        probe.stop()
    failed = [t for t in probe.errors if t > t0]
    gaps = [b - a for (a, _), (b, _) in zip(probe.answers, probe.answers[1:], strict=False)
            if a > t0]
    FIGURES["pacemaker rolling restart (s), longest VIP gap (s), failed of VIP requests"] = (
        round(run.seconds, 1), round(max(gaps, default=0), 1),
        f"{len(failed)} of {len([a for a in probe.answers if a[0] > t0]) + len(failed)}")
    assert {n: started_at(n) for n in NODES} == before, "a node was fenced"
    assert watch.twice == 0
    wait_healthy()


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


def test_drill_killed_service_is_restarted_in_place_with_a_failcount():
    active = active_node()
    t0 = time.time()
    on_node(active, "pkill -9 -x memcached")
    deadline = time.monotonic() + 60
    while True:
        out = on_node(active, "crm_failcount --query -r controller-memcached "
                              f"-N {active}", check=False)
        if "value=1" in out.replace(" ", "") or "value=INFINITY" in out:
            break
        assert time.monotonic() < deadline, out
        time.sleep(0.5)
    detected = time.time() - t0
    while on_node(active, "systemctl is-active memcached", check=False).strip() != "active":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    restarted = time.time() - t0
    assert active_node() == active
    on_node(active, "crm_resource --cleanup -r controller-memcached")
    FIGURES["pacemaker memcached killed: failure seen, running again in place (s)"] = (
        round(detected, 1), round(restarted, 1))
    wait_healthy()
