"""crm_mon's XML (recorded from Pacemaker 2.1.5 on the testbed) read by parse_crm_mon, and
the gate's decisions on it."""

from pathlib import Path

from module_utils.pilotstack_pacemaker import build, cluster_health, parse_crm_mon
from tests.conftest import load_plugin

FIX = Path(__file__).parent / "fixtures" / "pacemaker"
pm = load_plugin("filter_plugins", "pilotstack_pacemaker")


def rec(name: str) -> str:
    return (FIX / f"pacemaker-2.1-{name}.xml").read_text()


def test_fresh_cluster_has_quorum_two_nodes_and_nothing_running():
    state = parse_crm_mon(rec("crm-mon-fresh"))
    assert state["quorum"] and state["dc"] in ("ctl1", "ctl2")
    assert {n: s["online"] for n, s in state["nodes"].items()} == {"ctl1": True, "ctl2": True}
    assert state["resources"] == {} and state["failures"] == []
    assert cluster_health(state, ["ctl1", "ctl2"], []) == []
    assert cluster_health(state, ["ctl1", "ctl2"], ["controller"]) == [
        "group controller is not fully started"]


def test_configured_cluster_runs_the_group_on_one_node_fences_elsewhere():
    state = parse_crm_mon(rec("crm-mon-controller"))
    group = {rid: r for rid, r in state["resources"].items() if r["group"] == "controller"}
    assert sorted(group) == ["controller-lighttpd", "controller-memcached", "controller-vip"]
    assert {n for r in group.values() for n in r["nodes"]} == {"ctl1"}
    assert state["resources"]["fence-ctl1"]["nodes"] == ["ctl2"]
    assert state["resources"]["fence-ctl2"]["nodes"] == ["ctl1"]
    assert cluster_health(state, ["ctl1", "ctl2"], ["controller"]) == []
    assert cluster_health(state, ["ctl1", "ctl2", "ctl3"], ["controller"]) == [
        "node ctl3 is not online"]


def test_the_live_cib_the_module_wrote_needs_no_change():
    """The spec the role builds for the testbed, compared with the CIB the module applied
    on the testbed: nothing to change (the second run's changed=0, without a cluster)."""
    fence = {n: {"agent": "fence_docker", "params": {
        "ipaddr": "10.213.10.1", "ipport": "2376", "ssl_secure": "1",
        "tlscert": "/etc/pilotstack/fencing/client.pem",
        "tlskey": "/etc/pilotstack/fencing/client.key",
        "tlscacert": "/etc/pilotstack/fencing/ca.pem", "api_version": "1.41",
        "pcmk_host_map": f"{n}:pstb-{n}"}} for n in ("ctl1", "ctl2")}
    spec = pm.pilotstack_pacemaker_spec(
        ["ctl1", "ctl2"], fence, "10.213.10.110/24", ["memcached", "lighttpd"],
        properties={"no-quorum-policy": "stop", "cluster-recheck-interval": "5min"},
        rsc_defaults={"resource-stickiness": "100", "migration-threshold": "3",
                      "failure-timeout": "10min"})
    _, changes = build(rec("cib-controller"), spec)
    assert changes == []
    _, changes = build(rec("cib-fresh"), spec)
    assert "create group controller" in changes and "create primitive fence-ctl1" in changes


def test_a_stopped_fence_device_or_a_pending_action_holds_the_gate():
    """Edited from the recorded state: fence-ctl1 stopped, then the VIP still starting."""
    state = parse_crm_mon(rec("crm-mon-controller"))
    state["resources"]["fence-ctl1"].update(active=False, role="Stopped", nodes=[])
    assert cluster_health(state, ["ctl1", "ctl2"], ["controller"]) == [
        "fence device fence-ctl1 is not started: a node that fails could not be fenced"]
    state["resources"]["fence-ctl1"]["target_role"] = "Stopped"  # stopped on purpose
    assert cluster_health(state, ["ctl1", "ctl2"], ["controller"]) == []
    state["resources"]["controller-vip"]["pending"] = "Starting"
    assert cluster_health(state, ["ctl1", "ctl2"], ["controller"]) == [
        "resource controller-vip: starting (an action is pending)"]


def test_with_a_node_in_standby_the_peer_s_fence_device_may_stay_stopped():
    """Edited from the recorded state: ctl1 in standby, the group on ctl2, fence-ctl2 (kept
    off ctl2) stopped: what standby.yml waits for, not a problem there."""
    state = parse_crm_mon(rec("crm-mon-controller"))
    state["nodes"]["ctl1"]["standby"] = True
    state["resources"]["fence-ctl2"].update(active=False, role="Stopped", nodes=[])
    for rid in ("controller-vip", "controller-memcached", "controller-lighttpd"):
        state["resources"][rid]["nodes"] = ["ctl2"]
    assert cluster_health(state, ["ctl2"], ["controller"], fencing=False) == []
    assert "fence device fence-ctl2 is not started" in " ".join(
        cluster_health(state, ["ctl2"], ["controller"]))
