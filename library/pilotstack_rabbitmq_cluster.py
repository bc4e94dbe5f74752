#!/usr/bin/python
"""Ansible module: RabbitMQ cluster membership of this node (join, forget, or read)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pilotstack_rabbitmq_cluster
short_description: Join this RabbitMQ node to its cluster, forget departed nodes, or report state
description:
  - C(state=present) makes this node a member of the cluster formed by I(members). It reads
    the cluster status of this node and of every other member (C(rabbitmqctl -n)), then
    joins the member that leads the largest cluster with C(stop_app), C(join_cluster),
    C(start_app), only when the node still runs alone. A clustered node is left as it is.
  - It refuses to join when the node is clustered with nodes that are not in I(members), or
    when it holds queues that joining would discard (override I(allow_reset=true)).
  - I(forget) lists nodes to remove from the cluster (only nodes not in I(members) and not
    running); nothing is ever forgotten unless listed.
  - C(state=info) only reads; it returns the status and the problems that forbid a restart
    (members not running, partitions, alarms, quorum queues that stopping a running member
    would leave without a majority, from C(rabbitmq-diagnostics
    check_if_node_is_quorum_critical) on every running member).
  - Why a custom module? community.rabbitmq has no cluster membership module; the rules live
    in C(module_utils/pilotstack_rabbitmq.py) as pure functions tested on recorded outputs.
version_added: "0.1.0"
author: pilotstack developers
options:
  members:
    description: Node names of the cluster in inventory order (C(rabbit@<host>)).
    type: list
    elements: str
    required: true
  node:
    description: This node's name (default C(rabbit@) + the short host name).
    type: str
  state:
    description: C(present) joins when needed; C(info) only reads.
    type: str
    choices: [present, info]
    default: present
  forget:
    description: Departed nodes to remove from the cluster.
    type: list
    elements: str
    default: []
  allow_reset:
    description: Join even if this standalone node holds queues (they are discarded).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reads and decides; reports the join or forget it would do without doing it.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: RabbitMQ | join the cluster
  pilotstack_rabbitmq_cluster:
    members: "{{ groups['rabbitmq'] | map('regex_replace', '^', 'rabbit@') | list }}"
  throttle: 1
"""

RETURN = r"""
status:
  description: This node's parsed cluster status (nodes, running_nodes, partitions, alarms).
  type: dict
  returned: always
quorum_critical:
  description: state=info; per running member, the quorum queues stopping it would break.
  type: dict
  returned: state=info
feature_flags_disabled:
  description: Feature flags not enabled (all must be before an upgrade).
  type: list
  elements: str
  returned: always
problems:
  description: What forbids restarting a node now (empty when healthy).
  type: list
  elements: str
  returned: always
action:
  description: none or join.
  type: str
  returned: state=present
seed:
  description: The member joined.
  type: str
  returned: state=present
reasons:
  description: Why.
  type: list
  elements: str
  returned: always
commands:
  description: Every command run, in order.
  type: list
  returned: always
"""

import json  # noqa: E402
import socket  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.pilotstack_rabbitmq import (  # noqa: E402
    Refused,
    health,
    parse_cluster_status,
    parse_quorum_critical,
    plan_join,
)

CTL = "rabbitmqctl"
DIAG = "rabbitmq-diagnostics"


def gather(run, me: str, members: list[str], departing: list[str] | tuple = ()
           ) -> tuple[dict, dict[str, dict | None], int]:
    """Statuses of this node and the other members, and how many queues this node holds.
    A node already clustered with others needs nothing more (plan_join decides on its own
    status then): that saves ~8 rabbitmqctl calls (~1 s each) per node on every re-run."""
    rc, out, err = run([CTL, "-q", "cluster_status", "--formatter", "json"])
    if rc != 0:
        raise Refused([f"{me} does not answer rabbitmqctl: {(err or out).strip()}"])
    mine = parse_cluster_status(out)
    statuses: dict[str, dict | None] = {me: mine}
    if len([n for n in mine["nodes"] if n not in departing]) > 1:
        return mine, statuses, 0
    for node in members:
        if node == me:
            continue
        rc, out, _ = run([CTL, "-n", node, "-q", "cluster_status", "--formatter", "json"])
        statuses[node] = parse_cluster_status(out) if rc == 0 else None
    queues = 0
    rc, out, _ = run([CTL, "-q", "list_vhosts", "--formatter", "json", "name"])
    for vhost in (json.loads(out) if rc == 0 and out.strip() else []):
        rc, qout, _ = run([CTL, "-q", "list_queues", "-p", vhost["name"], "--local",
                           "--formatter", "json", "name"])
        queues += len(json.loads(qout)) if rc == 0 and qout.strip() else 0
    return mine, statuses, queues


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "members": {"type": "list", "elements": "str", "required": True},
            "node": {"type": "str"},
            "state": {"type": "str", "choices": ["present", "info"], "default": "present"},
            "forget": {"type": "list", "elements": "str", "default": []},
            "allow_reset": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    p = module.params
    me = p["node"] or f"rabbit@{socket.gethostname().split('.')[0]}"
    commands: list[list[str]] = []

    def run(argv):
        commands.append(argv)
        return module.run_command(argv)

    def act(argv):
        rc, out, err = run(argv)
        if rc != 0:
            module.fail_json(msg=f"{' '.join(argv)} failed: {(err or out).strip()}",
                             commands=commands)

    try:
        mine, statuses, queues = gather(run, me, p["members"], p["forget"])
        disabled = sorted(k for k, v in mine["feature_flags"].items() if v != "enabled")
        if p["state"] == "info":
            critical = {}
            for node in [m for m in p["members"] if m in mine["running_nodes"]]:
                rc, out, err = run([DIAG, "-n", node, "-q", "check_if_node_is_quorum_critical",
                                    "--formatter", "json"])
                critical[node] = parse_quorum_critical(node, rc, out, err)
            module.exit_json(changed=False, status=mine, quorum_critical=critical,
                             problems=health(p["members"], mine, critical),
                             feature_flags_disabled=disabled, reasons=[], commands=commands)
        decision = plan_join(me, p["members"], statuses, queues, p["allow_reset"],
                             departing=p["forget"])
    except Refused as exc:
        module.fail_json(msg="RabbitMQ membership: no change can be proven safe:\n"
                             + "\n".join(f"  - {r}" for r in exc.reasons),
                         reasons=exc.reasons, commands=commands)
    changed = decision["action"] == "join"
    if changed and not module.check_mode:
        act([CTL, "stop_app"])
        act([CTL, "join_cluster", decision["seed"]])
        act([CTL, "start_app"])
    forgotten = []
    for node in p["forget"]:
        if node in p["members"]:
            module.fail_json(msg=f"refusing to forget {node}: it is in members",
                             commands=commands)
        if node not in mine["nodes"]:
            continue
        if node in mine["running_nodes"]:
            module.fail_json(msg=f"refusing to forget {node}: it is running (stop it first)",
                             commands=commands)
        if not module.check_mode:
            act([CTL, "forget_cluster_node", node])
        forgotten.append(node)
    module.exit_json(changed=changed or bool(forgotten), status=mine,
                     problems=health(p["members"], mine), forgotten=forgotten,
                     feature_flags_disabled=disabled,
                     commands=commands, **decision)


if __name__ == "__main__":
    main()
