"""Address filters: right values, and errors that name host and variable."""

from __future__ import annotations

import pytest

from tests.conftest import load_plugin

net = load_plugin("filter_plugins", "pilotstack_net")

HOSTVARS = {
    "db1": {"inventory_hostname": "db1", "pilotstack_ip": {"mgmt": "10.0.0.21",
                                                           "storage": "10.1.0.21"}},
    "db2": {"inventory_hostname": "db2", "pilotstack_ip": {"mgmt": "10.0.0.22",
                                                           "storage": "10.1.0.22"}},
    "db3": {"inventory_hostname": "db3", "pilotstack_ip": {"mgmt": "10.0.0.23"}},
}
NETWORKS = {"mgmt": {"cidr": "10.0.0.0/24"}, "storage": {"cidr": "10.1.0.0/24"}}


def test_address_of_a_host_on_a_network():
    assert net.pilotstack_address(HOSTVARS["db1"], "storage") == "10.1.0.21"
    assert net.pilotstack_address(HOSTVARS["db1"]) == "10.0.0.21"


def test_missing_address_names_host_and_variable():
    with pytest.raises(net.AnsibleFilterError, match=r"db3: pilotstack_ip.storage is not set"):
        net.pilotstack_address(HOSTVARS["db3"], "storage")


def test_bad_address_is_refused():
    bad = {"inventory_hostname": "x", "pilotstack_ip": {"mgmt": "10.0.0.300"}}
    with pytest.raises(net.AnsibleFilterError, match=r"x: pilotstack_ip.mgmt '10.0.0.300'"):
        net.pilotstack_address(bad)


def test_gcomm_address_lists_members_in_order():
    assert net.pilotstack_gcomm(["db2", "db1"], HOSTVARS, "storage") == \
        "gcomm://10.1.0.22,10.1.0.21"


def test_corosync_nodelist_two_rings():
    nodes = net.pilotstack_corosync_nodes(["db1", "db2"], HOSTVARS, ["mgmt", "storage"])
    assert nodes == [
        {"name": "db1", "nodeid": 1, "rings": ["10.0.0.21", "10.1.0.21"]},
        {"name": "db2", "nodeid": 2, "rings": ["10.0.0.22", "10.1.0.22"]},
    ]
    assert net.pilotstack_corosync_nodes(["db3"], HOSTVARS, "mgmt")[0]["rings"] == ["10.0.0.23"]


def test_common_networks_give_a_knet_link_each():
    assert net.pilotstack_common_networks(["db1", "db2"], HOSTVARS, ["mgmt", "storage"]) == [
        "mgmt", "storage"]
    assert net.pilotstack_common_networks(["db1", "db3"], HOSTVARS, ["storage", "mgmt"]) == [
        "mgmt"]
    with pytest.raises(net.AnsibleFilterError, match="db3 has mgmt"):
        net.pilotstack_common_networks(["db1", "db3"], HOSTVARS, "storage")


def test_bricks():
    assert net.pilotstack_bricks(["db1", "db2"], HOSTVARS, "/srv/gluster/b1") == [
        "10.1.0.21:/srv/gluster/b1", "10.1.0.22:/srv/gluster/b1"]
    with pytest.raises(net.AnsibleFilterError, match="must be absolute"):
        net.pilotstack_bricks(["db1"], HOSTVARS, "relative/path")


def test_vip_cidr_and_membership():
    vip = {"address": "10.0.0.100", "network": "mgmt"}
    assert net.pilotstack_vip_cidr(vip, NETWORKS) == "10.0.0.100/24"
    with pytest.raises(net.AnsibleFilterError, match=r"outside network mgmt \(10.0.0.0/24\)"):
        net.pilotstack_vip_cidr({"address": "10.1.0.5", "network": "mgmt"}, NETWORKS)
    with pytest.raises(net.AnsibleFilterError, match="no network 'public'"):
        net.pilotstack_vip_cidr({"address": "10.1.0.5", "network": "public"}, NETWORKS)
    assert net.pilotstack_in_network("10.0.0.9", "10.0.0.0/24") is True
    assert net.pilotstack_in_network("10.0.1.9", "10.0.0.0/24") is False
    assert net.pilotstack_in_network("garbage", "10.0.0.0/24") is False
    assert net.pilotstack_prefixlen("10.0.0.0/22") == 22


def test_secret_lookup():
    assert net.pilotstack_secret({"a": "s3cret"}, "a") == "s3cret"
    with pytest.raises(net.AnsibleFilterError, match=r"pilotstack_secrets.b is missing: run"):
        net.pilotstack_secret({"a": "s3cret"}, "b")
    with pytest.raises(net.AnsibleFilterError, match="pilotstack_secrets.a is missing"):
        net.pilotstack_secret({"a": ""}, "a")


# Shape of `ip -j -4 addr show` on a testbed container (iproute2 6.1), trimmed.
IP_ADDR = [
    {"ifindex": 1, "ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1"}]},
    {"ifindex": 40, "ifname": "eth0", "addr_info": [{"family": "inet", "local": "10.0.0.11",
                                                     "prefixlen": 24},
                                                    {"family": "inet", "local": "10.0.0.100",
                                                     "prefixlen": 24}]},
    {"ifindex": 42, "ifname": "eth1", "addr_info": [{"family": "inet", "local": "10.1.0.11"}]},
]


def test_interface_holding_an_address():
    assert net.pilotstack_interface(IP_ADDR, "10.0.0.11") == "eth0"
    assert net.pilotstack_interface(IP_ADDR, "10.1.0.11") == "eth1"
    with pytest.raises(net.AnsibleFilterError, match="no interface on this host holds 10.0.0.99"):
        net.pilotstack_interface(IP_ADDR, "10.0.0.99")


def test_missing_secrets_lists_every_absent_or_empty_one():
    assert net.pilotstack_missing_secrets({"a": "x", "b": ""}, ["a", "b", "c"]) == ["b", "c"]
    assert net.pilotstack_missing_secrets(None, ["a"]) == ["a"]


def test_preflight_view_exposes_addresses_and_references_only():
    hv = {"db1": {"pilotstack_ip": {"mgmt": "1.2.3.4"}, "pilotstack_secrets": {"x": "y"},
                  "galera_network": "storage", "keepalived_group": "lb",
                  "haproxy_monitor_group": "haproxy-monitor",
                  "ansible_ssh_network": "x"}}
    assert net.pilotstack_preflight_view(hv, ["db1"]) == {
        "db1": {"pilotstack_ip": {"mgmt": "1.2.3.4"},
                "references": {"galera_network": "storage", "keepalived_group": "lb"}}}


def test_every_filter_is_registered():
    names = set(net.FilterModule().filters())
    assert {"pilotstack_address", "pilotstack_addresses", "pilotstack_gcomm",
            "pilotstack_corosync_nodes", "pilotstack_common_networks", "pilotstack_bricks",
            "pilotstack_vip_cidr",
            "pilotstack_secret", "pilotstack_in_network",
            "pilotstack_interface", "pilotstack_missing_secrets"} <= names
