"""inventory/example/ (the seed's production layout) passes preflight's inventory checks.

Read with ansible-inventory, which contacts no host: the example's addresses are
documentation ranges and must never be reached.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible.module_utils.pilotstack_inventory import validate
from ansible.module_utils.pilotstack_pacemaker import fill_secrets

from tests.conftest import ROOT, load_plugin

NET = load_plugin("filter_plugins", "pilotstack_net")
PCMK = load_plugin("filter_plugins", "pilotstack_pacemaker")


def _inventory() -> dict:
    exe = Path(sys.executable).with_name("ansible-inventory")
    out = subprocess.run([str(exe), "-i", str(ROOT / "inventory" / "example"), "--list"],
                         capture_output=True, text=True, check=True, cwd=ROOT,
                         env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")))
    return json.loads(out.stdout)


BMC_SECRETS = ["bmc_os1_password", "bmc_os2_password", "bmc_os3_password"]


def _model(inv: dict, secrets_present: list[str]) -> dict:
    """Preflight's model of the example, built as the preflight play builds it."""
    hostvars = inv["_meta"]["hostvars"]
    allvars = next(iter(hostvars.values()))
    groups = {g: inv[g].get("hosts", []) for g in inv if g not in ("_meta", "all", "ungrouped")}
    catalogue = yaml.safe_load((ROOT / "playbooks/vars/secrets_catalogue.yml").read_text())[
        "pilotstack_secrets_catalogue"]
    return {
        "groups": groups,
        "hosts": NET.pilotstack_preflight_view(hostvars, list(hostvars)),
        "networks": allvars["pilotstack_networks"],
        "vips": allvars["pilotstack_vips"],
        "disabled_tiers": allvars["pilotstack_disabled_tiers"],
        "secrets_present": [c["name"] for c in catalogue] + secrets_present,
        "secrets_catalogue": catalogue,
        "gluster_replica": allvars["pilotstack_gluster_replica"],
        "ceph_pool_size": allvars["pilotstack_ceph_pool_size"],
    }


def test_example_inventory_passes_preflight_and_names_its_bmc_secrets():
    inv = _inventory()
    assert validate(_model(inv, BMC_SECRETS)) == []
    problems = validate(_model(inv, BMC_SECRETS[:2]))
    assert problems == ["pacemaker_fencing.os3.password_secret: the vault has no "
                        "'bmc_os3_password' (add the BMC password to the inventory's vault) "
                        "(on every host)"], problems


def test_example_inventory_passes_the_roles_own_checks():
    """What the roles check before touching a host, run on the example (hosts unreached):
    the Pacemaker spec (a fence device for every node, never a password in params, the
    vault entries it names), Ceph's OSD devices on every OSD host."""
    inv = _inventory()
    hostvars = inv["_meta"]["hostvars"]
    allvars = next(iter(hostvars.values()))
    nodes = list(dict.fromkeys(inv["controllers"]["hosts"] + inv["network_nodes"]["hosts"]))
    cidr = NET.pilotstack_vip_cidr(allvars["pilotstack_vips"]["controller"],
                                   allvars["pilotstack_networks"])
    spec = PCMK.pilotstack_pacemaker_spec(nodes, allvars["pacemaker_fencing"], cidr,
                                          ["memcached"])
    assert spec["properties"]["stonith-enabled"] == "true"
    assert PCMK.pilotstack_pacemaker_secret_names(spec) == BMC_SECRETS
    assert "password" not in json.dumps([p.get("params") for p in spec["primitives"]])
    filled, missing = fill_secrets(spec, dict.fromkeys(BMC_SECRETS, "x" * 16))
    assert missing == [] and all(
        p["params"]["password"] == "x" * 16 for p in filled["primitives"]
        if p["class"] == "stonith")
    for host in inv["ceph_osd"]["hosts"]:
        assert hostvars[host].get("ceph_osd_devices"), host


def test_a_fence_password_in_the_inventory_is_refused():
    fencing = {"os1": {"agent": "fence_ipmilan", "params": {"ip": "192.0.2.131",
                                                            "password": "in-clear"}},
               "os2": {"agent": "fence_ipmilan", "params": {"ip": "192.0.2.132"}}}
    with pytest.raises(AnsibleFilterError, match="a password in the inventory"):
        PCMK.pilotstack_pacemaker_spec(["os1", "os2"], fencing, "192.0.2.110/24", [])


def test_example_inventory_is_sound():
    inv = _inventory()
    hostvars = inv["_meta"]["hostvars"]
    allvars = next(iter(hostvars.values()))
    groups = {g: inv[g].get("hosts", []) for g in inv if g not in ("_meta", "all", "ungrouped")}
    catalogue = yaml.safe_load((ROOT / "playbooks/vars/secrets_catalogue.yml").read_text())[
        "pilotstack_secrets_catalogue"]
    model = {
        "groups": groups,
        "hosts": {h: {"pilotstack_ip": v.get("pilotstack_ip")} for h, v in hostvars.items()},
        "networks": allvars["pilotstack_networks"],
        "vips": allvars["pilotstack_vips"],
        "disabled_tiers": allvars["pilotstack_disabled_tiers"],
        "secrets_present": [c["name"] for c in catalogue],
        "secrets_catalogue": catalogue,
        "gluster_replica": allvars["pilotstack_gluster_replica"],
        "ceph_pool_size": allvars["pilotstack_ceph_pool_size"],
    }
    assert validate(model) == []
    assert len(hostvars) == 15


def test_example_uses_documentation_addresses_only():
    docs = [ipaddress.ip_network(n) for n in
            ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]
    inv = _inventory()
    for host, hv in inv["_meta"]["hostvars"].items():
        for addr in [hv["ansible_host"], *hv["pilotstack_ip"].values()]:
            assert any(ipaddress.ip_address(addr) in n for n in docs), (host, addr)
        for vip in hv["pilotstack_vips"].values():
            assert any(ipaddress.ip_address(vip["address"]) in n for n in docs)
