"""`pilotstack testbed up|down|status|ssh`: containers with systemd and sshd on project-made
bridge networks, reached by Ansible over SSH with a generated key, exactly like real servers.

`up` is idempotent and resumable: whatever a crashed `up` left (a network, a created but not
started container) is reused or completed. `down` removes the containers, networks and
volumes that carry this testbed's label, and nothing else.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import netaddr
import yaml

from .. import paths
from . import aptcache, docker, fencing, image
from .net import port_open
from .topology import Topology, overlaps

# Capabilities shown to run systemd, Galera, keepalived, Corosync/Pacemaker, GlusterFS and
# Ceph here. `--privileged` fails on these machines (no CAP_SYS_RESOURCE in the bounding set).
CAPS = ["SYS_ADMIN", "NET_ADMIN", "NET_RAW", "SYS_PTRACE", "IPC_LOCK", "SYS_NICE"]
SECURITY = ["--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined"]
# The groups every role relies on: the contract documented in the README.
CONTRACT_GROUPS = ["lb", "galera", "rabbitmq", "controllers", "network_nodes", "gluster",
                   "ceph_mon", "ceph_osd", "ceph_mds", "compute"]
# Registries this machine talks to: the testbed must not shadow their addresses.
REGISTRY_HOSTS = ["pypi.org", "files.pythonhosted.org", "registry.npmjs.org"]
SSH_TIMEOUT = 90


class TestbedError(RuntimeError):
    pass


class Testbed:
    def __init__(self, topology: Topology, log=print):
        self.topo = topology
        self.log = log
        root = paths.project_root()
        self.inventory_dir = root / "inventory" / "testbed"
        self.state = paths.state_dir() / "testbed" / topology.name
        self.key = self.state / "id_ed25519"
        self.known_hosts = self.state / "known_hosts"
        self.ssh_config = self.state / "ssh_config"

    # ------------------------------------------------------------------ up
    def up(self) -> dict:
        timings: dict[str, float] = {}
        start = time.monotonic()
        if not docker.engine_ok():
            raise TestbedError("the Docker engine does not answer: start dockerd "
                               "(./run.sh setup does it)")
        problems = overlaps(self.topo, self._taken_networks())
        if problems:
            raise TestbedError("refusing to create overlapping networks: " + "; ".join(problems)
                               + ". Choose other subnets in the topology file.")
        self.state.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._networks()
        mgmt = self.topo.networks["mgmt"]
        mirror = aptcache.configure([str(mgmt.gateway)], log=self.log)
        aptcache.warm(["bookworm", "bookworm-updates", "bookworm-security"], log=self.log)
        tag, built = image.ensure(mirror, f"http://127.0.0.1:{aptcache.PORT}", log=self.log)
        timings["image_build_s"] = built
        self._ssh_key()
        t0 = time.monotonic()
        total = len(self.topo.hosts)
        for i, host in enumerate(self.topo.hosts.values(), 1):
            action = self._container(host, tag)
            self.log(f"[{i:2}/{total}] {host.name:<6} {host.addresses['mgmt']:<15} {action}")
        timings["containers_s"] = time.monotonic() - t0
        t0 = time.monotonic()
        self._wait_ssh()
        timings["ssh_ready_s"] = time.monotonic() - t0
        fencing.start(self.state, str(mgmt.gateway))
        self.write_inventory()
        timings["up_s"] = time.monotonic() - start - built
        self.log(f"testbed {self.topo.name} up: {total} hosts, inventory in "
                 f"{self.inventory_dir} ({timings['up_s']:.1f} s without image build)")
        return timings

    def _taken_networks(self) -> list[netaddr.IPNetwork]:
        own = {self.topo.bridge_name(n) for n in self.topo.networks}
        taken = []
        out = subprocess.run(["ip", "-json", "-4", "route", "show", "table", "all"],
                             capture_output=True, text=True)
        for route in json.loads(out.stdout or "[]"):
            dst = route.get("dst", "")
            if dst in ("default", "") or route.get("dev") in own or route.get("type") in (
                    "local", "broadcast"):
                continue
            try:
                taken.append(netaddr.IPNetwork(dst))
            except netaddr.AddrFormatError:
                continue
        for name in [aptcache.host_debian_mirror().split("/")[2], *REGISTRY_HOSTS]:
            try:
                for info in socket.getaddrinfo(name, 443, socket.AF_INET):
                    taken.append(netaddr.IPNetwork(f"{info[4][0]}/32"))
            except OSError:
                continue
        return taken

    def _networks(self) -> None:
        for net in self.topo.networks.values():
            name = self.topo.network_name(net.name)
            existing = docker.inspect("network", name)
            if existing:
                subnets = [c.get("Subnet") for c in existing.get("IPAM", {}).get("Config", [])]
                labels = existing.get("Labels") or {}
                if str(net.cidr) not in subnets or labels.get(docker.LABEL) != self.topo.name:
                    raise TestbedError(f"network {name} exists with subnets {subnets} and is "
                                       f"not this testbed's {net.cidr}; remove it or rename "
                                       "the testbed")
                continue
            args = ["network", "create", "--driver", "bridge", "--subnet", str(net.cidr),
                    "--gateway", str(net.gateway), "--label", f"{docker.LABEL}={self.topo.name}",
                    "-o", f"com.docker.network.bridge.name={self.topo.bridge_name(net.name)}"]
            if net.internal:
                args.append("--internal")
            docker.run(*args, name)

    def _ssh_key(self) -> None:
        if not self.key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                            f"pilotstack-testbed-{self.topo.name}", "-f", str(self.key)],
                           check=True)

    def _container(self, host, tag: str) -> str:
        name = self.topo.container(host.name)
        info = docker.inspect("container", name)
        action = "running"
        if info is None:
            docker.run(*self._create_args(host, tag, name))
            action = "created"
        elif info["Config"]["Image"] != tag:
            action = f"running (image {info['Config']['Image']} is outdated: down + up rebuilds)"
        attached = (info or {}).get("NetworkSettings", {}).get("Networks", {}) if info else {}
        for net_name, addr in host.addresses.items():
            if net_name == "mgmt":
                continue
            docker_net = self.topo.network_name(net_name)
            if docker_net not in attached:
                docker.run("network", "connect", "--ip", addr, docker_net, name)
        running = info is not None and info["State"]["Running"]
        if not running:
            # authorized_keys goes in before the first boot, so sshd never runs without it.
            docker.run("cp", str(self.key) + ".pub", f"{name}:/root/.ssh/authorized_keys")
            docker.run("start", name)
            action = action if action == "created" else "started"
        return action

    def _create_args(self, host, tag: str, name: str) -> list[str]:
        args = ["create", "--name", name, "--hostname", host.name,
                "--label", f"{docker.LABEL}={self.topo.name}",
                "--network", self.topo.network_name("mgmt"), "--ip", host.addresses["mgmt"],
                "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                "--tmpfs", "/run", "--tmpfs", "/run/lock", "--stop-signal", "SIGRTMIN+3",
                "--dns-search", ".", *SECURITY]
        for cap in CAPS:
            args += ["--cap-add", cap]
        # Every host knows every cluster name from its first boot (Docker bind-mounts
        # /etc/hosts; the base role keeps its own block in it). Its own name too: Docker adds
        # one line per network for it, in no fixed order, so without this entry (written
        # before Docker's) a host could resolve its own name to its storage address.
        for other in self.topo.hosts.values():
            args += ["--add-host", f"{other.name}:{other.addresses['mgmt']}"]
        # Network sysctls are per container and /proc/sys is read-only inside: they are set
        # here, from the base role's own defaults, and the base role verifies them.
        for key, value in base_net_sysctls().items():
            args += ["--sysctl", f"{key}={value}"]
        for dev in host.devices:
            if Path(dev).exists():
                args += ["--device", dev]
            else:
                self.log(f"         {host.name}: {dev} does not exist on this machine, skipped")
        for disk in host.disks:
            vol = f"{name}-{disk}"
            if docker.inspect("volume", vol) is None:
                docker.run("volume", "create", "--label", f"{docker.LABEL}={self.topo.name}", vol)
            args += ["-v", f"{vol}:/srv/disks/{disk}"]
        return [*args, tag]

    def _wait_ssh(self) -> None:
        hosts = list(self.topo.hosts.values())
        with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
            keys = list(pool.map(self._host_key, hosts))
        self.known_hosts.write_text("".join(keys))
        self.ssh_config.write_text("".join(
            f"Host {h.name}\n  HostName {h.addresses['mgmt']}\n  User root\n"
            f"  IdentityFile {self.key}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {self.known_hosts}\n  StrictHostKeyChecking yes\n"
            "  BatchMode yes\n  LogLevel ERROR\n" for h in hosts))

    def _host_key(self, host) -> str:
        addr = host.addresses["mgmt"]
        deadline = time.monotonic() + SSH_TIMEOUT
        while True:
            scan = subprocess.run(["ssh-keyscan", "-T", "2", "-t", "ed25519", addr],
                                  capture_output=True, text=True)
            lines = [ln for ln in scan.stdout.splitlines() if ln and not ln.startswith("#")]
            if lines:
                key = lines[0].split(None, 1)[1]
                probe = subprocess.run([*self.ssh_argv(host.name, known=False), "true"],
                                       capture_output=True, text=True)
                if probe.returncode == 0:
                    return f"{addr} {key}\n{host.name} {key}\n"
            if time.monotonic() > deadline:
                raise TestbedError(f"{host.name} ({addr}): no SSH after {SSH_TIMEOUT} s; "
                                   f"docker logs {self.topo.container(host.name)}")
            time.sleep(0.5)

    # ------------------------------------------------------------ inventory
    def write_inventory(self) -> None:
        inv = self.inventory_dir
        (inv / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
        hosts = {
            h.name: {"ansible_host": h.addresses["mgmt"], "pilotstack_ip": dict(h.addresses)}
            for h in self.topo.hosts.values()
        }
        groups = self.topo.groups
        children = {g: {"hosts": {h: None for h in groups.get(g, [])}}
                    for g in sorted(set(CONTRACT_GROUPS) | set(groups))}
        ssh_args = (f"-o UserKnownHostsFile={self.known_hosts} -o StrictHostKeyChecking=yes "
                    "-o ControlMaster=auto -o ControlPersist=300s")
        data = {"all": {
            "vars": {"ansible_user": "root",
                     "ansible_ssh_private_key_file": str(self.key),
                     "ansible_ssh_common_args": ssh_args},
            "hosts": hosts, "children": children}}
        header = (f"# Generated by `pilotstack testbed up` from {self.topo.source}.\n"
                  "# Do not edit: change the topology file and run `up` again.\n")
        _write(inv / "hosts.yml", header + yaml.safe_dump(data, sort_keys=False))
        mgmt = self.topo.networks["mgmt"]
        group_vars = {
            "pilotstack_testbed": True,
            "pilotstack_networks": {n.name: {"cidr": str(n.cidr)}
                                    for n in self.topo.networks.values()},
            "base_apt_proxy": f"http://{mgmt.gateway}:{aptcache.PORT}",
            # Containers cannot raise RLIMIT_NOFILE above the engine's own hard limit.
            "base_nofile_limit": min(65536, engine_nofile_hard()),
            **self.topo.inventory_vars,
            **self._fencing_vars(),
        }
        _write(inv / "group_vars" / "all" / "testbed.yml",
               header + yaml.safe_dump(group_vars, sort_keys=False))

    def _fencing_vars(self) -> dict:
        """fence_docker for every Pacemaker node, through the TLS endpoint on the management
        bridge; the role copies the client certificate to the nodes."""
        nodes = [h for g in ("controllers", "network_nodes")
                 for h in self.topo.groups.get(g, [])]
        if not nodes:
            return {}
        d = self.state / "fencing"
        remote = "/etc/pilotstack/fencing"
        api = docker.run("version", "--format", "{{.Server.APIVersion}}").strip()
        params = {"ipaddr": str(self.topo.networks["mgmt"].gateway),
                  "ipport": str(fencing.PORT), "ssl_secure": "1",
                  "tlscert": f"{remote}/client.pem", "tlskey": f"{remote}/client.key",
                  "tlscacert": f"{remote}/ca.pem", "api_version": api}
        return {
            "pacemaker_fencing": {
                h: {"agent": "fence_docker",
                    "params": {**params, "pcmk_host_map": f"{h}:{self.topo.container(h)}"}}
                for h in dict.fromkeys(nodes)},
            "pacemaker_fencing_files": {
                "src": str(d), "dest": remote,
                "files": ["ca.pem", "client.pem", "client.key"]},
        }

    # ------------------------------------------------------------- down
    def down(self) -> list[str]:
        fencing.stop(self.state, remove=True)
        removed = []
        containers = docker.labelled("container", self.topo.name)
        if containers:
            docker.run("rm", "-f", "-v", *containers)
            removed += containers
        for kind in ("network", "volume"):
            names = docker.labelled(kind, self.topo.name)
            if names:
                docker.run(kind, "rm", *names)
                removed += names
        for path in (self.inventory_dir / "hosts.yml",
                     self.inventory_dir / "group_vars" / "all" / "testbed.yml",
                     self.known_hosts, self.ssh_config):
            path.unlink(missing_ok=True)
        return removed

    # ----------------------------------------------------------- status
    def status(self) -> list[dict]:
        rows = []
        for host in self.topo.hosts.values():
            info = docker.inspect("container", self.topo.container(host.name))
            state = "absent" if info is None else info["State"]["Status"]
            ssh = "-"
            if state == "running":
                ssh = "ok" if port_open(host.addresses["mgmt"], 22) else "down"
            rows.append({"host": host.name, "container": self.topo.container(host.name),
                         "state": state, "mgmt": host.addresses["mgmt"], "ssh": ssh,
                         "groups": ",".join(host.groups)})
        return rows

    def ssh_argv(self, host: str, known: bool = True) -> list[str]:
        if host not in self.topo.hosts:
            raise TestbedError(f"no host {host!r} in testbed {self.topo.name}; "
                               f"hosts: {', '.join(self.topo.hosts)}")
        addr = self.topo.hosts[host].addresses["mgmt"]
        check = (["-o", f"UserKnownHostsFile={self.known_hosts}", "-o",
                  "StrictHostKeyChecking=yes"] if known else
                 ["-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no"])
        return ["ssh", "-i", str(self.key), "-o", "BatchMode=yes", "-o", "ConnectTimeout=3",
                "-o", "LogLevel=ERROR", *check, f"root@{addr}"]

    def ssh(self, host: str, command: list[str]) -> None:
        argv = self.ssh_argv(host) + command
        os.execvp(argv[0], argv)


def engine_nofile_hard() -> int:
    """The open-files hard limit dockerd runs with: containers cannot exceed it."""
    import resource

    pid = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True).stdout.split()
    try:
        for line in Path(f"/proc/{pid[0]}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return int(line.split()[4])
    except (IndexError, OSError, ValueError):
        pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def base_net_sysctls() -> dict:
    defaults = paths.project_root() / "roles" / "base" / "defaults" / "main.yml"
    data = yaml.safe_load(defaults.read_text()) or {}
    return {k: v for k, v in (data.get("base_sysctl") or {}).items() if k.startswith("net.")}


def _write(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
