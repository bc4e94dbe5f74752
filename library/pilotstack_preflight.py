#!/usr/bin/python
"""Ansible module: validate a pilotstack inventory before any host is touched."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pilotstack_preflight
short_description: Validate a pilotstack inventory and report every problem at once
description:
  - Checks cluster group sizes per enabled tier (Galera, RabbitMQ and Ceph MON odd and at
    least 3, Ceph MDS at least 2, Gluster servers equal to the replica count, at least 2
    load balancers), host names, addresses (inside their network, unique), VIPs (inside
    their network, distinct, owned by no host), VRRP router ids (unique per network) and the
    presence of every secret the enabled tiers need.
  - Every problem names the host, group or VIP and the variable at fault. The module fails
    with the whole list, so one run shows everything to fix.
  - Why a custom module, in Python rather than a chain of assert tasks? The checks compare
    every host with every other (duplicate addresses, VIP ownership), which assert tasks do
    slowly and unreadably, and a pure function can be unit-tested table-style.
  - Runs on the controller (C(delegate_to=localhost)); it reads only its arguments, never a
    host, and never changes anything.
version_added: "0.1.0"
author: pilotstack developers
options:
  groups:
    description: Inventory groups and their members (the C(groups) magic variable).
    type: dict
    required: true
  hosts:
    description: Per host, the variables preflight reads (C(pilotstack_ip), and C(references),
      inventory values naming a network, hosts or groups).
    type: dict
    required: true
  networks:
    description: C(pilotstack_networks), network name to C({cidr}).
    type: dict
    required: true
  vips:
    description: C(pilotstack_vips), VIP name to C({address, network, vrrp_router_id, hosts_group}).
    type: dict
    default: {}
  disabled_tiers:
    description: Tiers not deployed; their groups are not checked.
    type: list
    elements: str
    default: []
  secrets_present:
    description: Names of the non-empty keys of C(pilotstack_secrets) (never the values).
    type: list
    elements: str
    default: []
  secrets_catalogue:
    description: Every secret and the tiers that need it (C(playbooks/vars/secrets_catalogue.yml)).
    type: list
    elements: dict
    default: []
  gluster_replica:
    description: Replica count of the Gluster volumes.
    type: int
    default: 3
  ceph_pool_size:
    description: Replica count (size) of the Ceph pools.
    type: int
    default: 3
attributes:
  check_mode:
    support: full
    description: Read-only; behaves the same in check mode.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Preflight | validate the inventory
  pilotstack_preflight:
    groups: "{{ groups }}"
    hosts: "{{ __preflight_hosts }}"
    networks: "{{ pilotstack_networks }}"
    vips: "{{ pilotstack_vips | default({}) }}"
    secrets_present: "{{ pilotstack_secrets | default({}) | dict2items
                         | selectattr('value') | map(attribute='key') | list }}"
    secrets_catalogue: "{{ pilotstack_secrets_catalogue }}"
  delegate_to: localhost
"""

RETURN = r"""
problems:
  description: Every problem found (empty). On failure the problems are in C(msg), once.
  type: list
  elements: str
  returned: success
problem_count:
  description: How many problems C(msg) lists.
  type: int
  returned: failure
  sample: ["db2: pilotstack_ip.mgmt 192.0.2.21 duplicates db1 pilotstack_ip.mgmt"]
summary:
  description: Hosts, groups and enabled tiers checked.
  type: dict
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.pilotstack_inventory import TIERS, validate  # noqa: E402


def run(params: dict) -> dict:
    model = {k: params.get(k) for k in (
        "groups", "hosts", "networks", "vips", "disabled_tiers", "secrets_present",
        "secrets_catalogue", "gluster_replica", "ceph_pool_size")}
    # Ansible's implicit groups are not cluster groups.
    model["groups"] = {g: m for g, m in (params["groups"] or {}).items()
                       if g not in ("all", "ungrouped")}
    problems = validate(model)
    disabled = set(params.get("disabled_tiers") or [])
    summary = {"hosts": len(params["hosts"] or {}),
               "groups": sorted(model["groups"]),
               "tiers_enabled": [t for t in TIERS if t not in disabled]}
    return {"problems": problems, "summary": summary}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "groups": {"type": "dict", "required": True},
            "hosts": {"type": "dict", "required": True},
            "networks": {"type": "dict", "required": True},
            "vips": {"type": "dict", "default": {}},
            "disabled_tiers": {"type": "list", "elements": "str", "default": []},
            "secrets_present": {"type": "list", "elements": "str", "default": [],
                                "no_log": False},
            "secrets_catalogue": {"type": "list", "elements": "dict", "default": []},
            "gluster_replica": {"type": "int", "default": 3},
            "ceph_pool_size": {"type": "int", "default": 3},
        },
        supports_check_mode=True,
    )
    result = run(module.params)
    if result["problems"]:
        count = len(result["problems"])
        # The problems are in msg once: the result does not repeat them as a list.
        module.fail_json(
            msg=f"preflight found {count} problem(s) in the inventory; no host was touched:\n"
                + "\n".join(f"  - {p}" for p in result["problems"]),
            changed=False, problem_count=count, summary=result["summary"])
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
