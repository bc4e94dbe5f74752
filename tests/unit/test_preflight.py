"""Preflight decisions: table-driven cases on validate(), and the module's main()."""

from __future__ import annotations

import copy
import json

import pytest
from ansible.module_utils.pilotstack_inventory import validate  # noqa: E402  (path set up)

from tests.conftest import load_plugin, run_module

CATALOGUE = [
    {"name": "galera_sst_password", "tiers": ["galera"]},
    {"name": "ceph_fsid", "tiers": ["ceph"]},
    {"name": "keepalived_auth_pass", "tiers": ["lb"]},
]


def host(mgmt, storage=None):
    ips = {"mgmt": mgmt}
    if storage:
        ips["storage"] = storage
    return {"pilotstack_ip": ips}


def sound_model() -> dict:
    hosts = {
        "lb1": host("10.0.0.11"), "lb2": host("10.0.0.12"),
        "db1": host("10.0.0.21", "10.1.0.21"), "db2": host("10.0.0.22", "10.1.0.22"),
        "db3": host("10.0.0.23", "10.1.0.23"),
        "ctl1": host("10.0.0.31", "10.1.0.31"), "ctl2": host("10.0.0.32", "10.1.0.32"),
        "st1": host("10.0.0.41", "10.1.0.41"), "st2": host("10.0.0.42", "10.1.0.42"),
        "st3": host("10.0.0.43", "10.1.0.43"),
        "cmp1": host("10.0.0.51", "10.1.0.51"),
    }
    storage = ["st1", "st2", "st3"]
    return {
        "groups": {"lb": ["lb1", "lb2"], "galera": ["db1", "db2", "db3"],
                   "rabbitmq": ["db1", "db2", "db3"], "controllers": ["ctl1", "ctl2"],
                   "network_nodes": ["ctl1", "ctl2"], "gluster": storage, "ceph_mon": storage,
                   "ceph_osd": storage, "ceph_mds": ["st1", "st2"], "compute": ["cmp1"]},
        "hosts": hosts,
        "networks": {"mgmt": {"cidr": "10.0.0.0/24"}, "storage": {"cidr": "10.1.0.0/24"}},
        "vips": {"internal": {"address": "10.0.0.100", "network": "mgmt",
                              "vrrp_router_id": 51, "hosts_group": "lb"},
                 "controller": {"address": "10.0.0.110", "network": "mgmt",
                                "hosts_group": "controllers"}},
        "disabled_tiers": [],
        "secrets_present": [c["name"] for c in CATALOGUE],
        "secrets_catalogue": CATALOGUE,
        "gluster_replica": 3,
        "ceph_pool_size": 3,
    }


def test_sound_inventory_has_no_problem():
    assert validate(sound_model()) == []
    model = sound_model()
    _refs(model, glusterfs_volumes=[{"name": "images", "clients": ["controllers"]}],
          galera_network="storage", galera_hosts=["db1", "db2", "db3"], keepalived_group="lb")
    assert validate(model) == []


def _dup_ip(m):
    m["hosts"]["db2"]["pilotstack_ip"]["mgmt"] = "10.0.0.21"


def _vip_outside(m):
    m["vips"]["internal"]["address"] = "10.9.9.9"


def _two_galera(m):
    m["groups"]["galera"] = ["db1", "db2"]


def _even_mons(m):
    m["groups"]["ceph_mon"] = ["st1", "st2"]


def _missing_secret(m):
    m["secrets_present"].remove("ceph_fsid")


def _vip_is_host(m):
    m["vips"]["controller"]["address"] = "10.0.0.31"


def _vips_same(m):
    m["vips"]["controller"]["address"] = "10.0.0.100"


def _router_id_dup(m):
    m["vips"]["public"] = {"address": "10.0.0.101", "network": "mgmt", "vrrp_router_id": 51}


def _router_id_range(m):
    m["vips"]["internal"]["vrrp_router_id"] = 300


def _addr_outside(m):
    m["hosts"]["cmp1"]["pilotstack_ip"]["mgmt"] = "10.5.0.51"


def _no_mgmt(m):
    del m["hosts"]["lb2"]["pilotstack_ip"]["mgmt"]


def _no_storage(m):
    del m["hosts"]["st3"]["pilotstack_ip"]["storage"]


def _one_lb(m):
    m["groups"]["lb"] = ["lb1"]


def _one_mds(m):
    m["groups"]["ceph_mds"] = ["st1"]


def _gluster_replica(m):
    m["gluster_replica"] = 2


def _pool_size(m):
    m["ceph_pool_size"] = 4


def _bad_hostname(m):
    m["hosts"]["DB_4"] = host("10.0.0.24", "10.1.0.24")


def _case_clash(m):
    m["hosts"]["Lb1"] = host("10.0.0.13")


def _unknown_member(m):
    m["groups"]["compute"] = ["cmp1", "cmp9"]


def _overlap(m):
    m["networks"]["storage"]["cidr"] = "10.0.0.128/25"


def _broadcast(m):
    m["hosts"]["cmp1"]["pilotstack_ip"]["mgmt"] = "10.0.0.255"


def _vip_network_unknown(m):
    m["vips"]["internal"]["network"] = "public"


def _unknown_tier(m):
    m["disabled_tiers"] = ["cepf"]


def _refs(m, **refs):
    for hv in m["hosts"].values():
        hv["references"] = dict(refs)


def _volume_clients(m):
    _refs(m, glusterfs_volumes=[{"name": "instances", "clients": ["compute"]},
                                {"name": "images", "clients": ["controler"]}])


def _network_ref(m):
    _refs(m, galera_network="replication")


def _hosts_ref(m):
    _refs(m, galera_hosts=["db1", "db2", "db4"])


def _group_ref(m):
    _refs(m, keepalived_group="balancers")


CASES = [
    (_dup_ip, "db2: pilotstack_ip.mgmt 10.0.0.21 duplicates db1 pilotstack_ip.mgmt"),
    (_vip_outside, "pilotstack_vips.internal.address 10.9.9.9 is outside network mgmt"),
    (_two_galera, "group galera: 2 host(s) (db1, db2); the galera tier needs an odd number"),
    (_even_mons, "group ceph_mon: 2 host(s) (st1, st2); the ceph tier needs an odd number"),
    (_missing_secret, "pilotstack_secrets.ceph_fsid is missing (needed by tier ceph)"),
    (_vip_is_host, "pilotstack_vips.controller.address 10.0.0.31 is already ctl1 "
                   "pilotstack_ip.mgmt"),
    (_vips_same, "pilotstack_vips.internal.address 10.0.0.100 is also "
                 "pilotstack_vips.controller.address"),
    (_router_id_dup, "pilotstack_vips.public.vrrp_router_id 51 is also used by "
                     "pilotstack_vips.internal on network mgmt"),
    (_router_id_range, "pilotstack_vips.internal.vrrp_router_id 300 must be an integer from 1"),
    (_addr_outside, "cmp1: pilotstack_ip.mgmt 10.5.0.51 is outside network mgmt"),
    (_no_mgmt, "lb2: pilotstack_ip.mgmt is missing"),
    (_no_storage, "st3: pilotstack_ip.storage is missing"),
    (_one_lb, "group lb: 1 host(s) (lb1); the lb tier needs at least 2"),
    (_one_mds, "group ceph_mds: 1 host(s) (st1); the ceph tier needs at least 2"),
    (_gluster_replica, "group gluster: 3 host(s) (st1, st2, st3) but pilotstack_gluster_replica "
                       "is 2"),
    (_pool_size, "group ceph_osd: 3 host(s) (st1, st2, st3) but pilotstack_ceph_pool_size is 4"),
    (_bad_hostname, "DB_4: inventory_hostname is not a valid host name"),
    (_case_clash, "lb1: host name clashes with Lb1"),
    (_unknown_member, "group compute: member cmp9 is not a host of the inventory"),
    (_overlap, "pilotstack_networks.mgmt 10.0.0.0/24 and pilotstack_networks.storage "
               "10.0.0.128/25 overlap"),
    (_broadcast, "cmp1: pilotstack_ip.mgmt 10.0.0.255 is the network or broadcast address"),
    (_vip_network_unknown, "pilotstack_vips.internal.network: no network 'public'"),
    (_unknown_tier, "pilotstack_disabled_tiers: unknown tier(s) ['cepf']"),
    (_volume_clients, "glusterfs_volumes 'images': clients names no inventory group "
                      "'controler' (on every host)"),
    (_network_ref, "galera_network: no network 'replication' in pilotstack_networks "
                   "(mgmt, storage) (on every host)"),
    (_hosts_ref, "galera_hosts: db4 not in the inventory"),
    (_group_ref, "keepalived_group: no inventory group 'balancers'"),
]


@pytest.mark.parametrize("mutate,expected", CASES, ids=[c[0].__name__[1:] for c in CASES])
def test_each_problem_is_named(mutate, expected):
    model = sound_model()
    mutate(model)
    problems = validate(model)
    assert any(expected in p for p in problems), problems


def test_every_problem_is_reported_at_once():
    model = sound_model()
    for mutate, _ in CASES[:5]:
        mutate(model)
    problems = validate(model)
    for _, expected in CASES[:5]:
        assert any(expected in p for p in problems), (expected, problems)


def test_disabled_tier_is_not_checked():
    model = sound_model()
    model["groups"]["ceph_mon"] = []
    model["groups"]["ceph_osd"] = []
    model["groups"]["ceph_mds"] = []
    model["secrets_present"].remove("ceph_fsid")
    assert validate(model) != []
    model["disabled_tiers"] = ["ceph"]
    assert validate(model) == []


# --- the module's main(), as Ansible runs it -------------------------------------------

MODULE = load_plugin("library", "pilotstack_preflight")


def _args(model):
    args = copy.deepcopy(model)
    args["groups"] = dict(args["groups"], all=list(model["hosts"]), ungrouped=[])
    return json.loads(json.dumps(args))


def test_module_passes_sound_inventory():
    result = run_module(MODULE, _args(sound_model()))
    assert result["failed"] is False
    assert result["changed"] is False
    assert result["problems"] == []
    assert result["summary"]["hosts"] == 11


def test_module_fails_with_every_problem_listed():
    model = sound_model()
    _dup_ip(model)
    _two_galera(model)
    result = run_module(MODULE, _args(model))
    assert result["failed"] is True
    assert "preflight found 2 problem(s)" in result["msg"]
    assert "db2: pilotstack_ip.mgmt 10.0.0.21 duplicates db1" in result["msg"]
    assert "group galera: 2 host(s)" in result["msg"]


def test_module_rejects_missing_required_argument():
    args = _args(sound_model())
    del args["networks"]
    result = run_module(MODULE, args)
    assert result["failed"] is True
    assert "networks" in result["msg"]


def test_facts_are_never_shared_between_inventories():
    # a fact cache keyed by host name let another inventory's preflight pass its OS check
    # on the testbed's facts (db1, lb1... exist in both): facts live for one run only
    import configparser

    from tests.conftest import ROOT
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    assert cfg["defaults"]["fact_caching"] == "memory"
    assert "fact_caching_connection" not in cfg["defaults"]
