"""Testbed topology parsing: the default is sound; every mistake is reported at once."""

from __future__ import annotations

import copy

import netaddr
import pytest
import yaml

from pilotstack.testbed import topology

DEFAULT = yaml.safe_load(topology.DEFAULT_TOPOLOGY.read_text())


def test_default_topology_is_the_seed_layout():
    topo = topology.load()
    groups = topo.groups
    assert len(topo.hosts) == 12
    assert {g: len(m) for g, m in groups.items()} == {
        "lb": 2, "galera": 3, "rabbitmq": 3, "controllers": 2, "network_nodes": 2,
        "gluster": 3, "ceph_mon": 3, "ceph_osd": 3, "ceph_mds": 2, "compute": 2}
    assert topo.container("db1") == "pstb-db1"
    assert len(topo.bridge_name("storage")) <= 15


def test_every_mistake_is_listed():
    data = copy.deepcopy(DEFAULT)
    data["hosts"]["db2"]["addresses"]["mgmt"] = data["hosts"]["db1"]["addresses"]["mgmt"]
    data["hosts"]["lb1"]["addresses"]["mgmt"] = "10.213.10.1"        # the gateway
    data["hosts"]["cmp1"]["devices"] = ["/dev/sda"]
    data["hosts"]["st1"]["addresses"]["backup"] = "10.9.9.9"
    data["networks"]["storage"]["cidr"] = "10.213.10.128/25"         # overlaps mgmt
    with pytest.raises(topology.TopologyError) as err:
        topology.parse(data)
    text = "\n".join(err.value.problems)
    assert "hosts.db2.addresses.mgmt 10.213.10.21 is also db1's address" in text
    assert "hosts.lb1.addresses.mgmt 10.213.10.1 must be a host address" in text
    assert "hosts.cmp1.devices: /dev/sda is not one of" in text
    assert "hosts.st1.addresses.backup: no such network" in text
    assert "networks.mgmt and networks.storage overlap" in text


def test_overlap_with_taken_networks():
    topo = topology.load()
    taken = [netaddr.IPNetwork("192.0.2.0/24"), netaddr.IPNetwork("10.213.20.7/32")]
    assert topology.overlaps(topo, taken) == [
        "networks.storage 10.213.20.0/24 overlaps 10.213.20.7/32"]
    assert topology.overlaps(topo, [netaddr.IPNetwork("172.17.0.0/16")]) == []
    assert topology.overlaps(topo, [netaddr.IPNetwork("10.0.0.0/8")]) != []
