"""The controller cluster's Pacemaker spec, built from inventory variables.

Written in Python rather than Jinja so every rule is unit-tested: one fence device per node
(never placed on the node it fences), the active/passive group (VIP first, then the
services, with monitor operations), and the properties that make fencing decide a
two-node split the same way every time.
"""

from __future__ import annotations

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # unit tests without Ansible
    AnsibleFilterError = ValueError

# Operation timeouts for systemd services: start/stop wait for the unit, monitor is cheap.
SERVICE_OPS = [
    {"name": "start", "interval": "0s", "timeout": "60s"},
    {"name": "stop", "interval": "0s", "timeout": "60s"},
    {"name": "monitor", "interval": "10s", "timeout": "30s"},
]
VIP_OPS = [
    {"name": "start", "interval": "0s", "timeout": "20s"},
    {"name": "stop", "interval": "0s", "timeout": "20s"},
    {"name": "monitor", "interval": "10s", "timeout": "20s"},
]
FENCE_OPS = [{"name": "monitor", "interval": "60s", "timeout": "30s"}]


# Fence agent parameters that hold a password (fence-agents' names and aliases).
SECRET_PARAMS = ("password", "passwd")


def pilotstack_pacemaker_secret_names(spec) -> list[str]:
    """The vault entries a spec's secret_params name."""
    return sorted({name for p in spec.get("primitives") or []
                   for name in (p.get("secret_params") or {}).values()})


def _rid(text: str) -> str:
    """A resource id from a unit or host name (Pacemaker ids: no '@', ':' or '.')."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)


def pilotstack_pacemaker_spec(nodes, fencing, vip_cidr, services, properties=None,
                              rsc_defaults=None, allow_no_fencing=False,
                              group="controller", vip_nic=None, fencing_delay="10s"):
    """Spec for pilotstack_pacemaker_cib.

    nodes: cluster node names; fencing: {node: {agent, params, password_secret?}};
    vip_cidr: "addr/prefix"; services: systemd unit names, started in this order after the
    VIP. A fence device's password (a BMC's) never stands in the inventory: its
    `password_secret` names a vault entry, and the spec carries that NAME in
    `secret_params` ({param: secret name}); the CIB module fills the value in (no_log).
    """
    nodes = list(nodes)
    fencing = dict(fencing or {})
    unfenced = [n for n in nodes if n not in fencing]
    if unfenced and not allow_no_fencing:
        raise AnsibleFilterError(
            f"no fencing device for {', '.join(unfenced)}: set pacemaker_fencing for every "
            "node (pacemaker_allow_no_fencing=true turns fencing off; never on real servers)")
    stray = sorted(set(fencing) - set(nodes))
    if stray:
        raise AnsibleFilterError(f"pacemaker_fencing names hosts outside the cluster: "
                                 f"{', '.join(stray)}")
    addr, _, prefix = str(vip_cidr).partition("/")
    if not addr or not prefix.isdigit():
        raise AnsibleFilterError(f"the controller VIP {vip_cidr!r} is not address/prefix")
    props = {k: str(v) for k, v in (properties or {}).items()}
    fenced = bool(fencing) and not unfenced
    props["stonith-enabled"] = "true" if fenced else "false"
    if fenced and len(nodes) == 2:
        # both halves of a split race to fence each other: fencing aimed at the node that
        # runs the group (priority below) waits this long, so the passive node loses.
        props.setdefault("priority-fencing-delay", str(fencing_delay))
    primitives, locations = [], []
    for node in nodes:
        dev = fencing.get(node)
        if not dev:
            continue
        if not dev.get("agent"):
            raise AnsibleFilterError(f"pacemaker_fencing.{node}: agent is not set")
        fid = f"fence-{_rid(node)}"
        params = {k: str(v) for k, v in (dev.get("params") or {}).items()}
        written = sorted(k for k in params if k in SECRET_PARAMS)
        if written:
            raise AnsibleFilterError(
                f"pacemaker_fencing.{node}.params.{written[0]}: a password in the inventory; "
                "put it in the vault and name it with pacemaker_fencing."
                f"{node}.password_secret")
        params.setdefault("pcmk_host_list", node)
        prim = {"id": fid, "class": "stonith", "type": dev["agent"], "params": params,
                "ops": FENCE_OPS}
        if dev.get("password_secret"):
            prim["secret_params"] = {"password": str(dev["password_secret"])}
        primitives.append(prim)
        locations.append({"id": f"{fid}-not-on-{_rid(node)}", "rsc": fid, "node": node,
                          "score": "-INFINITY"})
    vip = {"ip": addr, "cidr_netmask": prefix}
    if vip_nic:
        vip["nic"] = vip_nic
    members = [f"{group}-vip"]
    primitives.append({"id": f"{group}-vip", "class": "ocf", "provider": "heartbeat",
                       "type": "IPaddr2", "params": vip, "ops": VIP_OPS})
    for unit in services:
        rid = f"{group}-{_rid(unit)}"
        members.append(rid)
        primitives.append({"id": rid, "class": "systemd", "type": unit, "ops": SERVICE_OPS})
    return {
        "properties": props,
        "rsc_defaults": {k: str(v) for k, v in (rsc_defaults or {}).items()},
        "primitives": primitives,
        # a group is colocated and ordered by construction: members start in order on one node
        "groups": [{"id": group, "members": members, "meta": {"priority": "10"}}],
        "locations": locations,
    }


class FilterModule:
    def filters(self):
        return {"pilotstack_pacemaker_spec": pilotstack_pacemaker_spec,
                "pilotstack_pacemaker_secret_names": pilotstack_pacemaker_secret_names}
