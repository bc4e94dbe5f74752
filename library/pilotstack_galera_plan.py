#!/usr/bin/python
"""Ansible module: decide, from every member's state, how to bring a Galera cluster up."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pilotstack_galera_plan
short_description: Decide how to bootstrap or rejoin a Galera cluster, or refuse
description:
  - Takes the state of EVERY member (as returned by C(pilotstack_galera_state)) and returns a
    plan, C(none), C(join), C(pc_bootstrap), C(new_cluster) or C(bootstrap), with the host
    to bootstrap, the joiners in order, and the reasons.
  - Fails closed when it cannot prove which node is newest (a member unreadable, a position
    unknown, members of different clusters, contradicting safe_to_bootstrap flags) and says
    why and how to override. The only override is I(bootstrap_host) together with
    I(accept_data_loss=true).
  - Decides only; it acts on nothing, so check mode shows the plan a real run would follow.
  - Why a custom module? No collection module makes this decision; its rules live in
    C(module_utils/pilotstack_galera.py) as pure functions with table-driven tests.
version_added: "0.1.0"
author: pilotstack developers
options:
  hosts:
    description: Cluster members in inventory order.
    type: list
    elements: str
    required: true
  states:
    description: Member name to its C(pilotstack_galera_state) result.
    type: dict
    required: true
  bootstrap_host:
    description: Operator override, the member to bootstrap from.
    type: str
  accept_data_loss:
    description: Required with I(bootstrap_host).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Decides only; identical in check mode.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Galera | plan
  pilotstack_galera_plan:
    hosts: "{{ groups['galera'] }}"
    states: "{{ dict(groups['galera'] | zip(groups['galera'] | map('extract', hostvars,
                '__galera_state'))) }}"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
action:
  description: none, join, pc_bootstrap, new_cluster or bootstrap.
  type: str
  returned: success
bootstrap_host:
  description: The member to bootstrap (null for none and join).
  type: str
  returned: success
sql_host:
  description: A member running in the Primary component once the first step is done.
  type: str
  returned: success
joiners:
  description: Members to start after it, one at a time, in this order.
  type: list
  elements: str
  returned: success
reasons:
  description: Why (on failure, why no plan is safe and how to override).
  type: list
  elements: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.pilotstack_galera import PlanRefused, plan  # noqa: E402


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "hosts": {"type": "list", "elements": "str", "required": True},
            "states": {"type": "dict", "required": True},
            "bootstrap_host": {"type": "str"},
            "accept_data_loss": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        result = plan(p["hosts"], p["states"], p["bootstrap_host"], p["accept_data_loss"])
    except PlanRefused as exc:
        module.fail_json(msg="Galera: no plan can be proven safe:\n"
                             + "\n".join(f"  - {r}" for r in exc.reasons),
                         reasons=exc.reasons, changed=False)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
