"""Inventory validation for preflight: pure functions, no Ansible, no hosts.

`validate(model)` takes a plain description of the inventory and returns EVERY problem
found, each naming the host (or group, or VIP) and the variable at fault. The preflight
module builds the model from hostvars and fails with the whole list at once.
"""

from __future__ import annotations

import re

from ansible.module_utils.pilotstack_tiers import TIERS as REGISTERED_TIERS
from ansible.module_utils.pilotstack_tiers import can_disable, group_rules

try:
    import netaddr
except ImportError:  # pragma: no cover - reported by the module
    netaddr = None

# Which inventory groups a tier uses, and the size each group must have: the tier
# registry's (module_utils/pilotstack_tiers.py), the one place that names the tiers.
TIER_GROUPS = group_rules()
TIERS = REGISTERED_TIERS
# Groups whose hosts talk over the storage/replication network when the inventory has one.
STORAGE_GROUPS = ("galera", "rabbitmq", "controllers", "gluster", "ceph_mon", "ceph_osd",
                  "ceph_mds", "compute")
HOSTNAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def validate(model: dict) -> list[str]:
    """Return every problem in `model` (empty list: the inventory is sound).

    model keys: groups {name: [hosts]}, hosts {name: {pilotstack_ip: {net: addr}}},
    networks {name: {cidr}}, vips {name: {address, network, vrrp_router_id?, hosts_group?}},
    disabled_tiers [..], secrets_present [names], secrets_catalogue [{name, tiers}],
    gluster_replica int, ceph_pool_size int.
    """
    if netaddr is None:
        return ["preflight: the Python package netaddr is missing on the controller"]
    problems: list[str] = []
    disabled = set(model.get("disabled_tiers") or [])
    unknown = disabled - set(TIERS)
    if unknown:
        problems.append(f"pilotstack_disabled_tiers: unknown tier(s) {sorted(unknown)}; "
                        f"known: {list(TIERS)}")
    fixed = sorted(t for t in disabled - unknown if not can_disable(t))
    if fixed:
        problems.append(f"pilotstack_disabled_tiers: {fixed} cannot be disabled (every "
                        "other tier builds on it)")
    enabled = [t for t in TIERS if t not in disabled]
    networks = _networks(model.get("networks") or {}, problems)
    groups = model.get("groups") or {}
    hosts = model.get("hosts") or {}
    problems += _group_sizes(groups, enabled, model)
    owners = _host_addresses(hosts, groups, networks, problems)
    problems += _vips(model.get("vips") or {}, networks, owners, groups)
    problems += _secrets(model, enabled)
    problems += _references(hosts, groups, model.get("networks") or {},
                            set(model.get("secrets_present") or []))
    return problems


def _references(hosts: dict, groups: dict, raw_nets: dict, secrets: set) -> list[str]:
    """Inventory values that name a network (`*_network`), hosts (`*_hosts`) or groups
    (`keepalived_group`, a Gluster volume's `clients`) must name one that exists. Each
    problem is reported once, with the hosts it applies to."""
    seen: dict[str, list[str]] = {}
    for host in sorted(hosts):
        for var, value in sorted(((hosts[host] or {}).get("references") or {}).items()):
            for problem in _reference_problems(var, value, hosts, groups, raw_nets, secrets):
                seen.setdefault(problem, []).append(host)
    out = []
    for problem, where in seen.items():
        on = "every host" if len(where) == len(hosts) else ", ".join(where)
        out.append(f"{problem} (on {on})")
    return out


def _reference_problems(var, value, hosts, groups, raw_nets, secrets) -> list[str]:
    if var.endswith("_network"):
        if value not in raw_nets:
            return [f"{var}: no network {value!r} in pilotstack_networks "
                    f"({', '.join(sorted(raw_nets)) or 'none'})"]
        return []
    if var == "keepalived_group":
        return [] if value in groups else [f"{var}: no inventory group {value!r}"]
    if var == "glusterfs_volumes":
        out = []
        for vol in value or []:
            for group in (vol or {}).get("clients") or []:
                if group not in groups:
                    out.append(f"glusterfs_volumes {vol.get('name')!r}: clients names no "
                               f"inventory group {group!r}")
        return out
    if var == "pacemaker_fencing":
        out = []
        for node, dev in sorted((value or {}).items()):
            dev = dev or {}
            if any(k in ("password", "passwd") for k in (dev.get("params") or {})):
                out.append(f"pacemaker_fencing.{node}.params: a password in the inventory; "
                           "put it in the vault and name it with password_secret")
            name = dev.get("password_secret")
            if name and name not in secrets:
                out.append(f"pacemaker_fencing.{node}.password_secret: the vault has no "
                           f"{name!r} (add the BMC password to the inventory's vault)")
        return out
    if isinstance(value, list):
        missing = [h for h in value if h not in hosts]
        if missing:
            return [f"{var}: {', '.join(map(str, missing))} not in the inventory"]
    return []


def _networks(raw: dict, problems: list[str]) -> dict:
    nets = {}
    if "mgmt" not in raw:
        problems.append("pilotstack_networks.mgmt is missing: every host needs a management "
                        "network")
    for name, spec in raw.items():
        cidr = (spec or {}).get("cidr")
        try:
            net = netaddr.IPNetwork(str(cidr))
        except (netaddr.AddrFormatError, ValueError, TypeError):
            problems.append(f"pilotstack_networks.{name}.cidr {cidr!r} is not a network")
            continue
        if net.ip != net.network:
            problems.append(f"pilotstack_networks.{name}.cidr {cidr} has host bits set "
                            f"(did you mean {net.cidr}?)")
        nets[name] = net.cidr
    names = sorted(nets)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if nets[a].first <= nets[b].last and nets[b].first <= nets[a].last:
                problems.append(f"pilotstack_networks.{a} {nets[a]} and "
                                f"pilotstack_networks.{b} {nets[b]} overlap")
    return nets


def _group_sizes(groups: dict, enabled: list[str], model: dict) -> list[str]:
    out = []
    for tier in enabled:
        for group, (rule, n) in TIER_GROUPS[tier].items():
            members = list(groups.get(group) or [])
            size = len(members)
            listed = ", ".join(members) or "no hosts"
            if rule == "odd" and (size < n or size % 2 == 0):
                out.append(f"group {group}: {size} host(s) ({listed}); the {tier} tier needs an "
                           f"odd number, at least {n}, to keep quorum after a failure")
            elif rule == "min" and size < n:
                out.append(f"group {group}: {size} host(s) ({listed}); the {tier} tier needs "
                           f"at least {n}")
            elif rule == "replica":
                replica = int(model.get("gluster_replica") or 3)
                if size != replica:
                    out.append(f"group {group}: {size} host(s) ({listed}) but "
                               f"pilotstack_gluster_replica is {replica}: one brick per server, "
                               "servers = replica count")
            elif rule == "pool_size":
                pool_size = int(model.get("ceph_pool_size") or 3)
                if size < pool_size:
                    out.append(f"group {group}: {size} host(s) ({listed}) but "
                               f"pilotstack_ceph_pool_size is {pool_size}: a pool cannot place "
                               "more replicas than there are OSD hosts")
    return out


def _host_addresses(hosts: dict, groups: dict, nets: dict, problems: list[str]) -> dict:
    """Check every host's name and addresses; return {address: 'host pilotstack_ip.net'}."""
    owners: dict[str, str] = {}
    lower: dict[str, str] = {}
    storage_members = {h for g in STORAGE_GROUPS for h in (groups.get(g) or [])}
    for name in sorted(hosts):
        hv = hosts[name] or {}
        if not HOSTNAME_RE.match(name):
            problems.append(f"{name}: inventory_hostname is not a valid host name (lower-case "
                            "letters, digits and '-', at most 63): cluster members address "
                            "each other by it")
        if name.lower() in lower:
            problems.append(f"{name}: host name clashes with {lower[name.lower()]} (names are "
                            "case-insensitive)")
        lower[name.lower()] = name
        ips = hv.get("pilotstack_ip")
        if not isinstance(ips, dict) or not ips.get("mgmt"):
            problems.append(f"{name}: pilotstack_ip.mgmt is missing (the host's management "
                            "address)")
            ips = ips if isinstance(ips, dict) else {}
        if "storage" in nets and name in storage_members and not ips.get("storage"):
            problems.append(f"{name}: pilotstack_ip.storage is missing (its groups use the "
                            "storage network)")
        for net_name, addr in ips.items():
            var = f"pilotstack_ip.{net_name}"
            net = nets.get(net_name)
            if net is None:
                problems.append(f"{name}: {var}: no network {net_name!r} in "
                                "pilotstack_networks")
                continue
            try:
                ip = netaddr.IPAddress(str(addr))
            except (netaddr.AddrFormatError, ValueError):
                problems.append(f"{name}: {var} {addr!r} is not an IP address")
                continue
            if ip not in net:
                problems.append(f"{name}: {var} {addr} is outside network {net_name} ({net})")
            elif net.size > 2 and ip in (net.network, net.broadcast):
                problems.append(f"{name}: {var} {addr} is the network or broadcast address "
                                f"of {net}")
            key = str(ip)
            if key in owners:
                problems.append(f"{name}: {var} {addr} duplicates {owners[key]}")
            else:
                owners[key] = f"{name} {var}"
    for group, members in sorted(groups.items()):
        for member in members or []:
            if member not in hosts:
                problems.append(f"group {group}: member {member} is not a host of the inventory")
    return owners


def _vips(vips: dict, nets: dict, owners: dict, groups: dict) -> list[str]:
    out = []
    seen: dict[str, str] = {}
    router_ids: dict[tuple[str, int], str] = {}
    for name in sorted(vips):
        spec = vips[name] or {}
        var = f"pilotstack_vips.{name}"
        addr, net_name = spec.get("address"), spec.get("network", "mgmt")
        net = nets.get(net_name)
        if net is None:
            out.append(f"{var}.network: no network {net_name!r} in pilotstack_networks")
        try:
            ip = netaddr.IPAddress(str(addr))
        except (netaddr.AddrFormatError, ValueError):
            out.append(f"{var}.address {addr!r} is not an IP address")
            continue
        if net is not None and ip not in net:
            out.append(f"{var}.address {addr} is outside network {net_name} ({net})")
        elif net is not None and ip in (net.network, net.broadcast):
            out.append(f"{var}.address {addr} is the network or broadcast address of {net}")
        if str(ip) in owners:
            out.append(f"{var}.address {addr} is already {owners[str(ip)]}: a VIP must belong "
                       "to no host")
        if str(ip) in seen:
            out.append(f"{var}.address {addr} is also pilotstack_vips.{seen[str(ip)]}.address")
        seen[str(ip)] = name
        group = spec.get("hosts_group")
        if group is not None and not groups.get(group):
            out.append(f"{var}.hosts_group: group {group!r} has no hosts")
        rid = spec.get("vrrp_router_id")
        if rid is not None:
            if not isinstance(rid, int) or isinstance(rid, bool) or not 1 <= rid <= 255:
                out.append(f"{var}.vrrp_router_id {rid!r} must be an integer from 1 to 255")
            elif (net_name, rid) in router_ids:
                out.append(f"{var}.vrrp_router_id {rid} is also used by pilotstack_vips."
                           f"{router_ids[(net_name, rid)]} on network {net_name}: VRRP router "
                           "ids must be unique per network")
            else:
                router_ids[(net_name, rid)] = name
    return out


def _secrets(model: dict, enabled: list[str]) -> list[str]:
    present = set(model.get("secrets_present") or [])
    out = []
    for entry in model.get("secrets_catalogue") or []:
        needed_by = [t for t in entry.get("tiers", []) if t in enabled]
        if needed_by and entry["name"] not in present:
            out.append(f"pilotstack_secrets.{entry['name']} is missing (needed by tier "
                       f"{', '.join(needed_by)}): run `pilotstack secrets -i <inventory>` "
                       "to generate missing secrets into the vault")
    return out
