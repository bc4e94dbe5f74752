"""Testbed topology: a YAML file that declares networks, hosts, groups and per-host extras.

`load()` returns a validated `Topology`; every problem in the file is reported at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import netaddr
import yaml

DEFAULT_TOPOLOGY = Path(__file__).with_name("default.yml")
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,14}$")
HOST_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
DISK_RE = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")
ALLOWED_DEVICES = {"/dev/fuse", "/dev/kvm", "/dev/net/tun"}


class TopologyError(ValueError):
    """The topology file is wrong; `problems` lists every problem found."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


@dataclass(frozen=True)
class Network:
    name: str
    cidr: netaddr.IPNetwork
    internal: bool

    @property
    def gateway(self) -> netaddr.IPAddress:
        return self.cidr.network + 1


@dataclass(frozen=True)
class Host:
    name: str
    groups: tuple[str, ...]
    addresses: dict[str, str]
    devices: tuple[str, ...] = ()
    disks: tuple[str, ...] = ()


@dataclass
class Topology:
    name: str
    networks: dict[str, Network]
    hosts: dict[str, Host]
    inventory_vars: dict = field(default_factory=dict)
    source: str = ""

    @property
    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for host in self.hosts.values():
            for group in host.groups:
                out.setdefault(group, []).append(host.name)
        return out

    def container(self, host: str) -> str:
        return f"{self.name}-{host}"

    def network_name(self, net: str) -> str:
        return f"{self.name}-{net}"

    def bridge_name(self, net: str) -> str:
        # Linux interface names stop at 15 characters.
        return f"{self.name}-{net}"[:15]


def load(path: str | Path | None = None) -> Topology:
    path = Path(path) if path else DEFAULT_TOPOLOGY
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TopologyError(str(path), [f"cannot read: {exc}"]) from exc
    return parse(data, str(path))


def parse(data: object, source: str = "<topology>") -> Topology:
    problems: list[str] = []
    if not isinstance(data, dict):
        raise TopologyError(source, ["top level must be a mapping"])

    name = data.get("name", "")
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.append(f"name {name!r}: lower-case letters, digits and '-', at most 15")
        name = "invalid"

    networks: dict[str, Network] = {}
    for net_name, spec in (data.get("networks") or {}).items():
        spec = spec or {}
        try:
            cidr = netaddr.IPNetwork(str(spec.get("cidr")))
        except (netaddr.AddrFormatError, ValueError, TypeError):
            problems.append(f"networks.{net_name}.cidr {spec.get('cidr')!r} is not a network")
            continue
        if cidr.version != 4 or cidr.prefixlen > 29:
            problems.append(f"networks.{net_name}.cidr {cidr}: an IPv4 network of /29 or larger")
            continue
        if cidr.ip != cidr.network:
            problems.append(f"networks.{net_name}.cidr {cidr} has host bits set")
            continue
        networks[net_name] = Network(net_name, cidr, bool(spec.get("internal", False)))
    if "mgmt" not in networks:
        problems.append("networks.mgmt is required (Ansible reaches the hosts on it)")
    names = list(networks)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            if networks[first].cidr in networks[second].cidr or \
                    networks[second].cidr in networks[first].cidr:
                problems.append(f"networks.{first} and networks.{second} overlap")

    hosts: dict[str, Host] = {}
    seen_addresses: dict[str, str] = {}
    for host_name, spec in (data.get("hosts") or {}).items():
        spec = spec or {}
        where = f"hosts.{host_name}"
        if not HOST_RE.match(str(host_name)):
            problems.append(f"{where}: host names are lower-case letters, digits and '-'")
        groups = tuple(spec.get("groups") or ())
        addresses = {str(k): str(v) for k, v in (spec.get("addresses") or {}).items()}
        if "mgmt" not in addresses:
            problems.append(f"{where}.addresses.mgmt is required")
        for net_name, addr in addresses.items():
            net = networks.get(net_name)
            if net is None:
                problems.append(f"{where}.addresses.{net_name}: no such network")
                continue
            try:
                ip = netaddr.IPAddress(addr)
            except (netaddr.AddrFormatError, ValueError):
                problems.append(f"{where}.addresses.{net_name} {addr!r} is not an address")
                continue
            if ip not in net.cidr or ip in (net.cidr.network, net.cidr.broadcast, net.gateway):
                problems.append(
                    f"{where}.addresses.{net_name} {addr} must be a host address of {net.cidr} "
                    f"other than the gateway {net.gateway}"
                )
            if addr in seen_addresses:
                problems.append(f"{where}.addresses.{net_name} {addr} is also "
                                f"{seen_addresses[addr]}'s address")
            seen_addresses[addr] = host_name
        devices = tuple(spec.get("devices") or ())
        for dev in devices:
            if dev not in ALLOWED_DEVICES:
                problems.append(f"{where}.devices: {dev} is not one of {sorted(ALLOWED_DEVICES)}")
        disks = tuple(spec.get("disks") or ())
        for disk in disks:
            if not DISK_RE.match(str(disk)):
                problems.append(f"{where}.disks: {disk!r} is not a valid disk name")
        hosts[host_name] = Host(host_name, groups, addresses, devices, disks)
    if not hosts:
        problems.append("hosts: at least one host is required")

    inventory_vars = data.get("inventory_vars") or {}
    if not isinstance(inventory_vars, dict):
        problems.append("inventory_vars must be a mapping")
        inventory_vars = {}

    if problems:
        raise TopologyError(source, problems)
    return Topology(name, networks, hosts, inventory_vars, source)


def overlaps(topology: Topology, taken: list[netaddr.IPNetwork]) -> list[str]:
    """Name every testbed network that overlaps one of `taken` (routes, resolved hosts)."""
    out = []
    for net in topology.networks.values():
        for other in taken:
            if other.first <= net.cidr.last and net.cidr.first <= other.last:
                out.append(f"networks.{net.name} {net.cidr} overlaps {other}")
                break
    return out
