"""The controller cluster's spec built from inventory variables (filter
pilotstack_pacemaker_spec): fencing rules, the group, and that the result builds a CIB that
a second build finds nothing to change in."""

import pytest

from module_utils.pilotstack_pacemaker import build, validate
from tests.conftest import load_plugin
from tests.unit.test_pacemaker_cib import FRESH

pm = load_plugin("filter_plugins", "pilotstack_pacemaker")
FENCE = {n: {"agent": "fence_docker", "params": {"ipaddr": "10.213.10.1", "ipport": "2376",
                                                 "port": f"pstb-{n}"}}
         for n in ("ctl1", "ctl2")}


def spec(**kw):
    args = {"nodes": ["ctl1", "ctl2"], "fencing": FENCE, "vip_cidr": "10.213.10.110/24",
            "services": ["memcached", "apache2"]}
    args.update(kw)
    return pm.pilotstack_pacemaker_spec(**args)


def test_two_nodes_fenced_group_in_order_and_split_decided_by_priority():
    s = spec(properties={"no-quorum-policy": "stop"})
    assert s["properties"] == {"no-quorum-policy": "stop", "stonith-enabled": "true",
                               "priority-fencing-delay": "10s"}
    ids = [p["id"] for p in s["primitives"]]
    assert ids == ["fence-ctl1", "fence-ctl2", "controller-vip", "controller-memcached",
                   "controller-apache2"]
    assert s["groups"] == [{"id": "controller", "meta": {"priority": "10"}, "members": [
        "controller-vip", "controller-memcached", "controller-apache2"]}]
    fence1 = s["primitives"][0]
    assert fence1["class"] == "stonith" and fence1["params"]["pcmk_host_list"] == "ctl1"
    assert s["locations"] == [
        {"id": "fence-ctl1-not-on-ctl1", "rsc": "fence-ctl1", "node": "ctl1",
         "score": "-INFINITY"},
        {"id": "fence-ctl2-not-on-ctl2", "rsc": "fence-ctl2", "node": "ctl2",
         "score": "-INFINITY"}]
    assert s["primitives"][2]["params"] == {"ip": "10.213.10.110", "cidr_netmask": "24"}


def test_three_nodes_need_no_fencing_delay():
    fence = {**FENCE, "ctl3": {"agent": "fence_ipmilan", "params": {"ip": "192.0.2.9"}}}
    s = spec(nodes=["ctl1", "ctl2", "ctl3"], fencing=fence)
    assert "priority-fencing-delay" not in s["properties"]


def test_a_node_without_fencing_is_refused_unless_allowed():
    with pytest.raises(pm.AnsibleFilterError, match="no fencing device for ctl2"):
        spec(fencing={"ctl1": FENCE["ctl1"]})
    s = spec(fencing={}, allow_no_fencing=True)
    assert s["properties"]["stonith-enabled"] == "false"
    assert not [p for p in s["primitives"] if p["class"] == "stonith"]
    with pytest.raises(pm.AnsibleFilterError, match="outside the cluster: ctl9"):
        spec(fencing={**FENCE, "ctl9": FENCE["ctl1"]})
    with pytest.raises(pm.AnsibleFilterError, match="not address/prefix"):
        spec(vip_cidr="10.213.10.110")


def test_the_spec_builds_a_cib_and_a_second_build_changes_nothing():
    import xml.etree.ElementTree as ET
    s = spec()
    assert validate(s) == []
    new, changes = build(FRESH, s)
    assert "create group controller" in changes
    assert "create primitive fence-ctl1" in changes
    again, changes = build(ET.tostring(new, encoding="unicode"), s)
    assert changes == []
