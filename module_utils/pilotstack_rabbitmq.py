"""RabbitMQ cluster membership: parse what rabbitmqctl reports and decide, as pure functions.

Formats are those of RabbitMQ 3.10.8 (Debian 12), recorded in tests/unit/fixtures/rabbitmq/.
library/pilotstack_rabbitmq_cluster.py gathers the CLI's output; every rule lives here so it
is tested on recorded outputs without a broker.
"""

from __future__ import annotations

import json

from ansible.module_utils.pilotstack_common import Refused  # noqa: F401 (re-exported)


def parse_cluster_status(text: str) -> dict:
    """`rabbitmqctl cluster_status --formatter json` -> the fields decisions need."""
    data = json.loads(text)
    disk = list(data.get("disk_nodes") or [])
    ram = list(data.get("ram_nodes") or [])
    partitions = data.get("partitions") or {}
    alarms = data.get("alarms") or []
    return {
        "cluster_name": data.get("cluster_name"),
        "nodes": disk + [n for n in ram if n not in disk],
        "running_nodes": list(data.get("running_nodes") or []),
        "partitions": {k: list(v) for k, v in partitions.items()} if isinstance(
            partitions, dict) else {},
        "alarms": alarms,
        "versions": data.get("versions") or {},
        "feature_flags": {f.get("name"): f.get("state")
                          for f in data.get("feature_flags") or [] if isinstance(f, dict)},
    }


def plan_join(me: str, members: list[str], statuses: dict[str, dict | None],
              local_queues: int = 0, allow_reset: bool = False,
              departing: tuple[str, ...] | list[str] = ()) -> dict:
    """Decide whether `me` must join the cluster, and to which member.

    statuses: node -> parsed cluster status, or None when that node does not answer.
    departing: nodes the operator asked to forget (not foreign, about to leave).
    Returns {action: none|join, seed, reasons}. Raises Refused when joining could lose data
    or the node belongs to a cluster that is not the inventory's.
    """
    mine = statuses.get(me)
    if mine is None:
        raise Refused([f"{me} does not answer: start it before deciding its membership"])
    foreign = [n for n in mine["nodes"] if n not in members and n not in departing]
    if foreign:
        raise Refused([f"{me} is clustered with nodes not in the inventory: "
                       f"{', '.join(foreign)}. Remove them with forget (only for nodes "
                       "decommissioned for good) or reset this node by hand"])
    if len([n for n in mine["nodes"] if n not in departing]) > 1:
        peers = ", ".join(n for n in mine["nodes"] if n != me)
        missing = [m for m in members if m not in mine["nodes"]]
        return {"action": "none", "seed": None,
                "reasons": [f"{me} is clustered with {peers}"
                            + (f"; {', '.join(missing)} will join it" if missing else "")]}
    # Standalone: join the running member with the largest cluster (inventory order on ties).
    candidates = [(len(st["nodes"]), -members.index(n), n) for n, st in statuses.items()
                  if st is not None and n in members]
    best = max(candidates)[2]
    if best == me:
        return {"action": "none", "seed": None,
                "reasons": [f"{me} is the first node of the cluster; the others join it"]}
    if local_queues and not allow_reset:
        raise Refused([f"{me} is not clustered yet but holds {local_queues} queue(s): "
                       "joining resets the node and discards them. Move or delete them, or "
                       "pass allow_reset=true"])
    return {"action": "join", "seed": best,
            "reasons": [f"{me} runs alone; {best} leads a cluster of "
                        f"{len(statuses[best]['nodes'])}: join it"]}


def parse_quorum_critical(node: str, rc: int, out: str, err: str = "") -> list[str]:
    """`rabbitmq-diagnostics -n NODE check_if_node_is_quorum_critical --formatter json` ->
    the queues that would lose their quorum if NODE stopped ([] when none).

    Exit 0: none. Exit 69 with {"result": "error", "queues": [...]}: those queues. Anything
    else (node down, unknown output) cannot prove it safe: reported as a problem too.
    """
    if rc == 0:
        return []
    try:
        data = json.loads(out)
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("queues"):
        return [q.get("readable_name") or f"queue '{q.get('name')}' in vhost "
                f"'{q.get('virtual_host')}'" for q in data["queues"]]
    return [f"unknown (check failed on {node}: {(err or out).strip()[:200]})"]


def health(members: list[str], status: dict,
           quorum_critical: dict[str, list[str]] | None = None) -> list[str]:
    """Problems that forbid restarting a node: returns [] when healthy.

    quorum_critical: per running node, the quorum queues that stopping it would leave
    without a majority (parse_quorum_critical).
    """
    problems = []
    down = [m for m in members if m not in status["running_nodes"]]
    if down:
        problems.append(f"not running: {', '.join(down)}")
    if any(status["partitions"].values()):
        problems.append(f"network partitions: {status['partitions']}")
    if status["alarms"]:
        problems.append(f"alarms: {status['alarms']}")
    for node, queues in (quorum_critical or {}).items():
        if queues:
            shown = ", ".join(queues[:5]) + (f" and {len(queues) - 5} more"
                                             if len(queues) > 5 else "")
            problems.append(f"stopping {node} would leave quorum queues without a "
                            f"majority: {shown}")
    return problems
