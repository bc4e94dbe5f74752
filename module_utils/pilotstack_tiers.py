"""The tier registry: the one place that names each tier of the stack.

Preflight (group sizes, which tiers may be disabled), `pilotstack status` (which tiers have
a probe, which groups a probe needs), the CLI's `--tier` choices, the drill registry (a
drill names its tier, the file it lives in is imported from here), the progress callback
(a play name's prefix names its tier) and the playbooks' tier gates (`tier_gate_tiers`)
all read this table. tests/unit/test_tier_registry.py fails when any of them, or the
secrets catalogue, names a tier that is not here.

Adding a tier: one entry here, one role, one playbook, one drill file.

Fields:
  title         what the operator reads
  groups        inventory group -> size rule, checked by preflight:
                  ("odd", n) an odd number, at least n (quorum); ("min", n) at least n;
                  ("replica", None) the GlusterFS replica count; ("pool_size", None) at
                  least the Ceph pool size
  playbooks     the tier's playbooks (site.yml runs the first)
  plays         play name prefixes (before " | ") of those playbooks, for the callback
  status        `pilotstack status` probes this tier when its status groups have hosts
  status_groups the groups the probe reads (default: every group of the tier)
  drills        module of pilotstack.drills holding the tier's drills (None: none yet)
  can_disable   whether pilotstack_disabled_tiers may list it
  deployed      False for tiers the inventory and secrets know but no role deploys yet
"""

from __future__ import annotations

REGISTRY: dict[str, dict] = {
    "base": {
        "title": "Base (preflight, packages, time, firewall) on every host",
        "groups": {}, "playbooks": ["preflight.yml", "base.yml"],
        "plays": ["Preflight", "Base"], "status": False, "drills": None,
        "can_disable": False, "deployed": True,
    },
    "gluster": {
        "title": "GlusterFS replicated volumes",
        "groups": {"gluster": ("replica", None)},
        "playbooks": ["glusterfs.yml", "gluster-rolling-restart.yml",
                      "gluster-replica2-to-3.yml"],
        "plays": ["GlusterFS", "Shared storage tier"], "status": True, "drills": "gluster",
        "can_disable": True, "deployed": True,
    },
    "ceph": {
        "title": "Ceph monitors, OSDs and MDS",
        "groups": {"ceph_mon": ("odd", 3), "ceph_osd": ("pool_size", None),
                   "ceph_mds": ("min", 2)},
        "playbooks": ["ceph.yml", "ceph-rolling-restart.yml"],
        "plays": ["Ceph", "Ceph tier", "Ceph rolling restart"], "status": True,
        "status_groups": ["ceph_mon"], "drills": "ceph", "can_disable": True,
        "deployed": True,
    },
    "galera": {
        "title": "MariaDB Galera",
        "groups": {"galera": ("odd", 3)},
        "playbooks": ["galera.yml", "galera-recover.yml", "galera-rolling-restart.yml"],
        "plays": ["Galera", "Database tier"], "status": True, "drills": "galera",
        "can_disable": True, "deployed": True,
    },
    "lb": {
        "title": "HAProxy and keepalived VIPs",
        "groups": {"lb": ("min", 2)}, "playbooks": ["loadbalancers.yml"],
        "plays": ["Load balancers"], "status": True,
        # the VIP drill measures SQL through the VIP: it lives with the Galera drills
        "drills": "galera", "can_disable": True, "deployed": True,
    },
    "rabbitmq": {
        "title": "RabbitMQ cluster, quorum queues",
        "groups": {"rabbitmq": ("odd", 3)},
        "playbooks": ["rabbitmq.yml", "rabbitmq-rolling-restart.yml",
                      "rabbitmq-mirrored-to-quorum.yml"],
        "plays": ["RabbitMQ", "Messaging tier"], "status": True, "drills": "rabbitmq",
        "can_disable": True, "deployed": True,
    },
    "controllers": {
        "title": "Pacemaker/Corosync controller cluster with fencing",
        "groups": {"controllers": ("min", 2)},
        "playbooks": ["pacemaker.yml", "pacemaker-rolling-restart.yml",
                      "pacemaker-standby.yml", "pacemaker-gate.yml"],
        "plays": ["Pacemaker", "Controller tier"], "status": True, "drills": "pacemaker",
        "can_disable": True, "deployed": True,
    },
    "network_nodes": {
        "title": "Network nodes (Neutron agents, active/passive)",
        "groups": {"network_nodes": ("min", 2)}, "playbooks": [], "plays": [],
        "status": False, "drills": None, "can_disable": True, "deployed": False,
    },
    "openstack": {
        "title": "OpenStack services",
        "groups": {}, "playbooks": [], "plays": [], "status": False, "drills": None,
        "can_disable": True, "deployed": False,
    },
    "compute": {
        "title": "Compute nodes",
        "groups": {"compute": ("min", 1)}, "playbooks": [], "plays": [],
        "status": False, "drills": None, "can_disable": True, "deployed": False,
    },
}

TIERS = tuple(REGISTRY)


def tier(name: str) -> dict:
    """The entry of a tier; KeyError naming the known tiers otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown tier {name!r}; known: {', '.join(TIERS)}") from None


def group_rules() -> dict[str, dict]:
    """Tier -> {group: size rule}, for preflight."""
    return {name: dict(t["groups"]) for name, t in REGISTRY.items()}


def can_disable(name: str) -> bool:
    return REGISTRY[name]["can_disable"]


def status_tiers() -> list[str]:
    """The tiers `pilotstack status` has a probe for, in registry order."""
    return [name for name, t in REGISTRY.items() if t["status"]]


def status_groups(name: str) -> list[str]:
    t = tier(name)
    return list(t.get("status_groups") or t["groups"])


def drill_modules() -> list[str]:
    """The pilotstack.drills modules to import, each once, in registry order."""
    out: list[str] = []
    for t in REGISTRY.values():
        if t["drills"] and t["drills"] not in out:
            out.append(t["drills"])
    return out


def play_tier(play_name: str) -> str | None:
    """The tier a play belongs to, from its name's prefix ("Galera | members" -> galera);
    None when no tier claims the prefix."""
    prefix = play_name.split(" | ", 1)[0].strip()
    for name, t in REGISTRY.items():
        if prefix in t["plays"]:
            return name
    return None


def playbook_tiers(playbook: str) -> list[str]:
    """The tiers whose playbooks include this file name."""
    return [name for name, t in REGISTRY.items() if playbook in t["playbooks"]]


def unknown(names) -> list[str]:
    """The names in `names` that are not registered tiers, sorted."""
    return sorted({str(n) for n in names or []} - set(TIERS))
