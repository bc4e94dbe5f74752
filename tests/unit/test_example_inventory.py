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

import yaml
from ansible.module_utils.pilotstack_inventory import validate

from tests.conftest import ROOT


def _inventory() -> dict:
    exe = Path(sys.executable).with_name("ansible-inventory")
    out = subprocess.run([str(exe), "-i", str(ROOT / "inventory" / "example"), "--list"],
                         capture_output=True, text=True, check=True, cwd=ROOT,
                         env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")))
    return json.loads(out.stdout)


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
