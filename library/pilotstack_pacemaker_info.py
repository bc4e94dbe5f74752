#!/usr/bin/python
"""Ansible module: read-only state of the Pacemaker cluster (see DOCUMENTATION)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pilotstack_pacemaker_info
short_description: Report Pacemaker nodes, resources, where they run, failed actions
description:
  - Reads C(crm_mon --one-shot --inactive --output-as=xml) on this node - quorum, the DC,
    every node (online, standby, unclean, maintenance), every resource (active, failed, the
    nodes it runs on, its group), failed actions. Never changes anything.
  - I(problems) lists what the health gate refuses to go on with - no quorum, a member not
    online or in standby, a failed action, an active/passive group not started on exactly
    one node.
  - Written here because no collection reads Pacemaker's state as data; crm_mon's XML is
    the stable interface Pacemaker documents for tools.
version_added: "0.1.0"
author: pilotstack developers
options:
  members:
    description: Nodes that must be online (default every node crm_mon lists).
    type: list
    elements: str
    default: []
  groups:
    description: Active/passive groups that must run, each on exactly one node.
    type: list
    elements: str
    default: []
  fencing:
    description:
      - Count a stopped fence device as a problem. False while a node is in standby on
        purpose (the device that fences its peer may run only there).
    type: bool
    default: true
  settle:
    description:
      - Seconds to wait first for the cluster to have no action pending
        (C(crm_resource --wait)); 0 reads at once. A gate that reads a cluster still in a
        transition can see a group fully started a moment before the scheduler moves it.
      - When the cluster does not settle in time, I(problems) says so.
    type: int
    default: 0
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Gate | cluster healthy
  pilotstack_pacemaker_info:
    members: "{{ pacemaker_nodes }}"
    groups: [controller]
  register: cluster
  until: cluster.problems | length == 0
  retries: 30
  delay: 5
"""

RETURN = r"""
quorum:
  description: Whether the partition this node is in has quorum.
  type: bool
  returned: always
dc:
  description: The designated controller's node name (null when there is none).
  type: str
  returned: always
nodes:
  description: name -> online, standby, unclean, maintenance, pending.
  type: dict
  returned: always
resources:
  description: id -> agent, role, active, failed, nodes, group.
  type: dict
  returned: always
failures:
  description: Failed actions (node, op, exitreason).
  type: list
  returned: always
problems:
  description: Everything the gate refuses (empty when healthy).
  type: list
  elements: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.pilotstack_pacemaker import (  # noqa: E402
    cluster_health,
    parse_crm_mon,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={"members": {"type": "list", "elements": "str", "default": []},
                       "groups": {"type": "list", "elements": "str", "default": []},
                       "settle": {"type": "int", "default": 0},
                       "fencing": {"type": "bool", "default": True}},
        supports_check_mode=True,
    )
    unsettled = []
    if module.params["settle"] > 0:
        rc, out, err = module.run_command(["crm_resource", "--wait",
                                           f"--timeout={module.params['settle']}s"])
        if rc != 0:
            unsettled = [f"the cluster still has actions pending after "
                         f"{module.params['settle']} s: {(err or out).strip()[:200]}"]
    rc, out, err = module.run_command(["crm_mon", "--one-shot", "--inactive",
                                       "--output-as=xml"])
    if rc != 0 and "<pacemaker-result" not in out:
        module.fail_json(msg=f"crm_mon failed (is pacemaker running here?): "
                             f"{(err or out).strip()}", rc=rc)
    try:
        state = parse_crm_mon(out)
    except Exception as exc:  # noqa: BLE001 - any parse error is reported, never hidden
        module.fail_json(msg=f"cannot read crm_mon's XML: {exc}")
    members = module.params["members"] or sorted(state["nodes"])
    problems = unsettled + cluster_health(state, members, module.params["groups"],
                                            module.params["fencing"])
    module.exit_json(changed=False, problems=problems, **state)


if __name__ == "__main__":
    main()
