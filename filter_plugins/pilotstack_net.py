"""Address filters the roles share (netaddr-backed).

Every host carries `pilotstack_ip: {<network>: <address>}`; `pilotstack_networks` maps a
network name to its `cidr`. A missing address is an error that names host and variable,
never an empty string in a config file.
"""

from __future__ import annotations

import netaddr

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # unit tests without Ansible
    AnsibleFilterError = ValueError


def _host_address(hostvars_entry, network: str, host: str | None = None) -> str:
    host = host or hostvars_entry.get("inventory_hostname", "?")
    ips = hostvars_entry.get("pilotstack_ip") or {}
    addr = ips.get(network) if hasattr(ips, "get") else None
    if not addr:
        raise AnsibleFilterError(f"{host}: pilotstack_ip.{network} is not set (the host's "
                                 f"address on the {network} network)")
    try:
        return str(netaddr.IPAddress(str(addr)))
    except (netaddr.AddrFormatError, ValueError) as exc:
        raise AnsibleFilterError(f"{host}: pilotstack_ip.{network} {addr!r} is not an IP "
                                 "address") from exc


def pilotstack_address(hostvars_entry, network: str = "mgmt") -> str:
    """`hostvars[h] | pilotstack_address('storage')` -> that host's storage address."""
    return _host_address(hostvars_entry, network)


def pilotstack_addresses(hosts, hostvars, network: str = "mgmt") -> list[str]:
    """`groups['galera'] | pilotstack_addresses(hostvars, 'storage')` -> addresses in order."""
    return [_host_address(hostvars[h], network, h) for h in hosts]


def pilotstack_gcomm(hosts, hostvars, network: str = "mgmt") -> str:
    """Galera's wsrep_cluster_address for the given members."""
    return "gcomm://" + ",".join(pilotstack_addresses(hosts, hostvars, network))


def pilotstack_corosync_nodes(hosts, hostvars, networks=("mgmt",)) -> list[dict]:
    """Corosync nodelist: [{name, nodeid, rings: [addr per network]}], node ids from 1 in
    inventory order (stable as long as members are only appended)."""
    if isinstance(networks, str):
        networks = [networks]
    return [{"name": h, "nodeid": i,
             "rings": [_host_address(hostvars[h], net, h) for net in networks]}
            for i, h in enumerate(hosts, 1)]


def pilotstack_common_networks(hosts, hostvars, wanted) -> list[str]:
    """The networks of `wanted` (in its order) on which every host of `hosts` has an address:
    Corosync gets a knet link on each. None in common is an error naming what each lacks."""
    if isinstance(wanted, str):
        wanted = [wanted]
    have = {h: set((hostvars[h].get("pilotstack_ip") or {}).keys()) for h in hosts}
    common = [net for net in wanted if all(net in nets for nets in have.values())]
    if not common:
        lacking = "; ".join(f"{h} has {', '.join(sorted(n)) or 'none'}" for h, n in have.items())
        raise AnsibleFilterError(f"no network of {', '.join(wanted)} is common to "
                                 f"{', '.join(hosts)} ({lacking})")
    return common


def pilotstack_bricks(hosts, hostvars, path: str, network: str = "storage") -> list[str]:
    """Gluster brick list `addr:/path` for the given servers, in order."""
    if not str(path).startswith("/"):
        raise AnsibleFilterError(f"brick path {path!r} must be absolute")
    return [f"{addr}:{path}" for addr in pilotstack_addresses(hosts, hostvars, network)]


def pilotstack_in_network(address, cidr) -> bool:
    try:
        return netaddr.IPAddress(str(address)) in netaddr.IPNetwork(str(cidr))
    except (netaddr.AddrFormatError, ValueError):
        return False


def pilotstack_auth_allow(addresses, cidr) -> str:
    """GlusterFS auth.allow from client and server addresses: each must lie inside the
    network the volume is served on (a typo would otherwise open or close a volume
    silently); sorted, unique, comma-separated."""
    net = netaddr.IPNetwork(str(cidr))
    seen = []
    for addr in addresses:
        try:
            ip = netaddr.IPAddress(str(addr))
        except (netaddr.AddrFormatError, ValueError) as exc:
            raise AnsibleFilterError(f"auth.allow: {addr!r} is not an IP address") from exc
        if ip not in net:
            raise AnsibleFilterError(f"auth.allow: {ip} is outside {net}, the network the "
                                     "volumes are served on")
        if ip not in seen:
            seen.append(ip)
    if not seen:
        raise AnsibleFilterError("auth.allow: no address: the volume would be open to all")
    return ",".join(str(ip) for ip in sorted(seen))


def pilotstack_prefixlen(cidr) -> int:
    return netaddr.IPNetwork(str(cidr)).prefixlen


def pilotstack_vip_cidr(vip: dict, networks: dict) -> str:
    """A VIP as `address/prefix` of its network (keepalived, IPaddr2)."""
    net_name = vip.get("network", "mgmt")
    if net_name not in networks:
        raise AnsibleFilterError(f"VIP {vip.get('address')}: no network {net_name!r} in "
                                 "pilotstack_networks")
    cidr = netaddr.IPNetwork(str(networks[net_name]["cidr"]))
    addr = netaddr.IPAddress(str(vip["address"]))
    if addr not in cidr:
        raise AnsibleFilterError(f"VIP {addr} is outside network {net_name} ({cidr.cidr})")
    return f"{addr}/{cidr.prefixlen}"


def pilotstack_secret(secrets, name: str) -> str:
    """`pilotstack_secrets | pilotstack_secret('galera_sst_password')`: the value, or an
    error that says how to generate it."""
    value = (secrets or {}).get(name) if hasattr(secrets or {}, "get") else None
    if not value:
        raise AnsibleFilterError(
            f"secret pilotstack_secrets.{name} is missing: run `pilotstack secrets -i "
            "<inventory>` and pass the vault password (--vault-password-file)")
    return value


def pilotstack_missing_secrets(secrets, names) -> list[str]:
    """The secrets among `names` that are absent or empty, for a role's check before it
    touches anything (the filter above fails on the first one; this lists them all)."""
    secrets = secrets or {}
    return [n for n in names if not (secrets.get(n) if hasattr(secrets, "get") else None)]


def pilotstack_interface(ip_addr_json, address) -> str:
    """The interface holding `address`, from `ip -j addr show` output (a JSON list)."""
    want = netaddr.IPAddress(str(address))
    for link in ip_addr_json or []:
        for info in link.get("addr_info", []):
            if info.get("local") and netaddr.IPAddress(info["local"]) == want:
                return link["ifname"]
    raise AnsibleFilterError(f"no interface on this host holds {want} (check pilotstack_ip "
                             "against the host's real addresses)")


# Inventory variables that name a network, hosts or groups (preflight checks each one).
REFERENCE_VARS = ("keepalived_group", "glusterfs_volumes", "pacemaker_fencing", "galera_hosts",
                  "rabbitmq_hosts", "ceph_osd_hosts", "ceph_mds_hosts", "haproxy_galera_hosts",
                  "galera_haproxy_hosts", "keepalived_hosts", "haproxy_peers")


def pilotstack_preflight_view(hostvars, hosts) -> dict:
    """Per host, only the variables preflight checks (never secrets or whole hostvars):
    its addresses and the inventory values that name a network, hosts or groups."""
    view = {}
    for h in hosts:
        hv = hostvars[h]
        refs = {k: hv[k] for k in hv
                if k in REFERENCE_VARS or (k.endswith("_network") and not k.startswith("ansible"))}
        view[h] = {"pilotstack_ip": hv.get("pilotstack_ip"), "references": refs}
    return view


class FilterModule:
    def filters(self):
        return {name: func for name, func in globals().items()
                if name.startswith("pilotstack_") and callable(func)}
