#!/usr/bin/python
"""Ansible module: decide, from every member's state, how to bring a Galera cluster up."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pilotstack_galera_plan
short_description: Decide how to bootstrap or rejoin a Galera cluster, or refuse
description:
  - Takes the state of EVERY member (as returned by C(pilotstack_galera_state)) and returns a
    plan, C(none), C(join), C(pc_bootstrap), C(new_cluster), C(bootstrap), C(stop) (stop
    the members that run behind the newest, or cannot say their position, then read and
    plan again) or C(unknown) (check mode, a position needs C(--wsrep-recover)), with the
    host to bootstrap, the joiners in order, and the reasons.
  - "One rule: a member is restored or bootstrapped only when no other member is, or may
    be, ahead of it; every member's last committed position counts, running or not."
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
  journal:
    description:
      - Append the decision (or the refusal), with every member's state, as one JSON line
        to this file on the host that runs the module. Written in check mode too (marked
        C(check_mode)), since a journal is a record, not a change.
    type: path
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
  description: none, join, pc_bootstrap, new_cluster, bootstrap, stop or unknown.
  type: str
  returned: success
bootstrap_position:
  description: The position (uuid, seqno) the bootstrap member starts from; written to its
    grastate.dat before the bootstrap so that the cluster keeps its history.
  type: dict
  returned: success
bootstrap_grastate:
  description: grastate.dat for the bootstrap member at C(bootstrap_position).
  type: str
  returned: success
stop:
  description: Members to stop before anything else (action C(stop), or the override).
  type: list
  elements: str
  returned: success
resync:
  description: Override only, members whose data directory is moved aside before they
    rejoin by a full SST (they are ahead of, or diverged from, the chosen member).
  type: list
  elements: str
  returned: success
then:
  description: With action C(stop), the plan predicted once those members are stopped
    (null when it needs positions only a stop can tell).
  type: dict
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

import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.pilotstack_galera import PlanRefused, plan  # noqa: E402

STATUS_KEYS = ("wsrep_cluster_status", "wsrep_local_state_comment", "wsrep_cluster_size",
               "wsrep_cluster_state_uuid", "wsrep_last_committed", "wsrep_connected",
               "wsrep_local_state_uuid")


def journal_record(params: dict, outcome: dict, check_mode: bool) -> dict:
    """One journal line: what was decided, why, and from which states."""
    states = {}
    for host in params["hosts"]:
        st = params["states"].get(host) or {}
        states[host] = {k: st.get(k) for k in ("readable", "running", "starting", "error",
                                               "grastate", "recovered", "gvwstate",
                                               "datadir", "recover_pending")}
        states[host]["status"] = {k: v for k, v in (st.get("status") or {}).items()
                                  if k in STATUS_KEYS}
    return {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "event": "plan",
            "check_mode": check_mode, "override": params["bootstrap_host"],
            **outcome, "states": states}


def write_journal(path: str, record: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "hosts": {"type": "list", "elements": "str", "required": True},
            "states": {"type": "dict", "required": True},
            "bootstrap_host": {"type": "str"},
            "accept_data_loss": {"type": "bool", "default": False},
            "journal": {"type": "path"},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        result = plan(p["hosts"], p["states"], p["bootstrap_host"], p["accept_data_loss"])
    except PlanRefused as exc:
        if p["journal"]:
            write_journal(p["journal"], journal_record(
                p, {"action": "refused", "reasons": exc.reasons}, module.check_mode))
        module.fail_json(msg="Galera: no plan can be proven safe:\n"
                             + "\n".join(f"  - {r}" for r in exc.reasons),
                         reasons=exc.reasons, changed=False)
    if p["journal"]:
        write_journal(p["journal"], journal_record(p, result, module.check_mode))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
