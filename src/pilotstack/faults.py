"""The fault layer: every fault the drills make, on the running testbed, driven by its
topology (hosts, networks, addresses), never by literals.

Faults as an operator's world has them:
  kill / start          power cut and power-on (docker kill / start: sockets close)
  freeze / thaw         a hung host (docker pause: sockets stay open and fall silent)
  power_cycle           kill, then start
  cut / heal            silent drop of every packet between a host and peers, on one
                        network or all, both directions (nftables in the host's namespace)
  cut_ports             silent drop of one service's ports (e.g. corosync's links)
  lossy / rate          random loss (nftables numgen) and a bandwidth cap (tc tbf) on a
                        host's interface of one network
  delay                 refused: this machine's kernel has no sch_netem (design.md)
  fill_disk             a file that leaves only N MiB free on a host's filesystem
  signal / frozen_process   SIGKILL or SIGSTOP a daemon (a process hang, not a host's)
  kill_unit / start_unit    a systemd unit killed and kept down, then started

Each fault has a context manager (killed, frozen, cut_off, ports_cut, lossy_link,
rate_capped, disk_filled, process_frozen, unit_down) that undoes it in a `finally`,
whatever happens inside. A host outside the topology, or not running when the fault
needs it running, is refused (FaultRefused) before anything is done.

Commands go through `docker` (exec, kill, pause): a host whose network is cut still
answers `docker exec`. Unit tests replace `Faults.docker` to check the commands.
"""

from __future__ import annotations

import contextlib
import shlex
import subprocess
import time

from .testbed import topology as topology_mod

NFT_TABLE = "pilotstack_fault"


class FaultRefused(RuntimeError):
    """The fault cannot be made safely on this testbed (unknown host, not running, bad
    argument); nothing was done."""


class Faults:
    def __init__(self, topology: topology_mod.Topology | None = None):
        self.topology = topology or topology_mod.load()

    # --- plumbing ----------------------------------------------------------------------
    def docker(self, *args: str, check: bool = True, timeout: int = 120) -> str:
        proc = subprocess.run(["docker", *args], capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def sh(self, host: str, command: str, check: bool = True, timeout: int = 120) -> str:
        return self.docker("exec", self.topology.container(self._known(host)), "sh", "-c",
                           command, check=check, timeout=timeout)

    def _known(self, host: str) -> str:
        if host not in self.topology.hosts:
            raise FaultRefused(f"{host!r} is not a host of testbed {self.topology.name} "
                               f"(hosts: {', '.join(self.topology.hosts)})")
        return host

    def running(self) -> set[str]:
        """The topology's hosts whose containers run (paused ones included)."""
        names = self.docker("ps", "--format", "{{.Names}}").split()
        return {h for h in self.topology.hosts if self.topology.container(h) in names}

    def paused(self) -> set[str]:
        names = self.docker("ps", "--filter", "status=paused", "--format",
                            "{{.Names}}").split()
        return {h for h in self.topology.hosts if self.topology.container(h) in names}

    def _running(self, *hosts: str) -> list[str]:
        for host in hosts:
            self._known(host)
        down = sorted(set(hosts) - self.running())
        if down:
            raise FaultRefused(f"not running on testbed {self.topology.name}: "
                               f"{', '.join(down)}")
        return list(hosts)

    def address(self, host: str, network: str = "mgmt") -> str:
        try:
            return self.topology.hosts[self._known(host)].addresses[network]
        except KeyError:
            raise FaultRefused(f"{host} has no address on network {network!r}") from None

    def _interface(self, host: str, network: str) -> str:
        addr = self.address(host, network)
        out = self.sh(host, f"ip -o -4 addr show | awk '$4 ~ /^{addr}\\//{{print $2}}'")
        name = out.strip().split("@")[0]
        if not name:
            raise FaultRefused(f"{host}: no interface holds {addr} ({network})")
        return name

    # --- power ---------------------------------------------------------------------------
    def kill(self, *hosts: str) -> None:
        """Power cut: the containers are killed, their sockets close at once."""
        self._running(*hosts)
        self.docker("kill", *(self.topology.container(h) for h in hosts))

    def start(self, *hosts: str, wait: float = 120, unit: str | None = None) -> None:
        """Power on, then wait until systemd answers on each host (booting counts: a unit
        that waits for its peers, e.g. a Galera member after a power cut, may hold the boot
        for minutes) and, when `unit` is given, until that unit is active."""
        for host in hosts:
            self._known(host)
        self.docker("start", *(self.topology.container(h) for h in hosts))
        deadline = time.monotonic() + wait
        for host in hosts:
            while True:
                state = self.sh(host, "systemctl is-system-running 2>/dev/null; "
                                      + (f"systemctl is-active {shlex.quote(unit)}"
                                         if unit else "true"), check=False).split()
                booted = bool(state) and state[0] in ("initializing", "starting", "running",
                                                      "degraded", "maintenance")
                if booted and (unit is None or state[-1:] == ["active"]):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{host}: {'systemd' if unit is None else unit} not "
                                       f"up {wait:.0f} s after power-on ({' '.join(state)})")
                time.sleep(0.5)

    def power_cycle(self, *hosts: str, off_for: float = 0) -> None:
        self.kill(*hosts)
        time.sleep(off_for)
        self.start(*hosts)

    def freeze(self, *hosts: str) -> None:
        """A hung host: every process stopped, sockets open and silent."""
        self._running(*hosts)
        self.docker("pause", *(self.topology.container(h) for h in hosts))

    def thaw(self, *hosts: str) -> None:
        for host in hosts:
            self._known(host)
        frozen = self.paused()
        todo = [h for h in hosts if h in frozen]
        if todo:
            self.docker("unpause", *(self.topology.container(h) for h in todo))

    @contextlib.contextmanager
    def killed(self, *hosts: str, wait: float = 120, unit: str | None = None):
        self.kill(*hosts)
        try:
            yield
        finally:
            self.start(*hosts, wait=wait, unit=unit)

    @contextlib.contextmanager
    def frozen(self, *hosts: str):
        self.freeze(*hosts)
        try:
            yield
        finally:
            self.thaw(*hosts)

    @contextlib.contextmanager
    def host_fault(self, host: str, how: str, unit: str | None = None):
        """`killed` or `frozen`, undone on the way out (after a kill, waits for `unit`)."""
        if how not in ("killed", "frozen"):
            raise FaultRefused(f"unknown host fault {how!r} (killed, frozen)")
        with (self.killed(host, unit=unit) if how == "killed" else self.frozen(host)):
            yield

    # --- network -------------------------------------------------------------------------
    def _nft(self, host: str, rules: list[str]) -> None:
        """Adds rules to the host's fault table (made on first use; removed by heal)."""
        script = [f"nft add table inet {NFT_TABLE}",
                  f"nft add chain inet {NFT_TABLE} in "
                  "'{ type filter hook input priority -10; }'",
                  f"nft add chain inet {NFT_TABLE} out "
                  "'{ type filter hook output priority -10; }'"]
        for rule in rules:
            chain, body = rule.split(" ", 1)
            script.append(f"nft add rule inet {NFT_TABLE} {chain} {shlex.quote(body)}")
        self.sh(host, " && ".join(script))

    def cut(self, host: str, peers: list[str] | None = None,
            network: str | None = None) -> list[str]:
        """Drops every packet between `host` and `peers` (default: every other host) on
        `network` (default: every network they share), both directions, silently.
        Returns the addresses cut off."""
        self._running(host)
        others = [p for p in (peers or self.topology.hosts) if p != host]
        for peer in others:
            self._known(peer)
        mine = self.topology.hosts[host].addresses
        nets = [network] if network else list(mine)
        if network and network not in mine:
            raise FaultRefused(f"{host} has no address on network {network!r}")
        addrs = [self.topology.hosts[p].addresses[n] for p in others for n in nets
                 if n in self.topology.hosts[p].addresses]
        if not addrs:
            raise FaultRefused(f"{host}: no peer address to cut on {nets}")
        listed = ", ".join(addrs)
        self._nft(host, [f"in ip saddr {{ {listed} }} drop",
                         f"out ip daddr {{ {listed} }} drop"])
        return addrs

    def cut_ports(self, host: str, ports: str, proto: str = "udp") -> None:
        """Drops `proto` traffic to and from `ports` ("5405-5412", "4567") on `host`."""
        self._running(host)
        if proto not in ("udp", "tcp"):
            raise FaultRefused(f"protocol {proto!r}: udp or tcp")
        bounds = ports.split("-")
        if not (1 <= len(bounds) <= 2 and all(b.isdigit() and 0 < int(b) < 65536
                                              for b in bounds)):
            raise FaultRefused(f"port range {ports!r}: a port or first-last")
        self._nft(host, [f"in {proto} dport {ports} drop", f"out {proto} dport {ports} drop",
                         f"in {proto} sport {ports} drop", f"out {proto} sport {ports} drop"])

    def lossy(self, host: str, percent: int, network: str = "mgmt") -> None:
        """Drops `percent` % of the packets `host` sends and receives on `network`."""
        self._running(host)
        if not 0 < int(percent) < 100:
            raise FaultRefused(f"loss {percent!r} %: between 1 and 99")
        iface = self._interface(host, network)
        self._nft(host, [f'in iifname "{iface}" numgen random mod 100 < {int(percent)} drop',
                         f'out oifname "{iface}" numgen random mod 100 < {int(percent)} drop'])

    def rate(self, host: str, kbit: int, network: str = "mgmt") -> None:
        """Caps what `host` sends on `network` at `kbit` kbit/s (tc tbf)."""
        self._running(host)
        if int(kbit) < 8:
            raise FaultRefused(f"rate {kbit!r} kbit/s: at least 8")
        iface = self._interface(host, network)
        self.sh(host, f"tc qdisc replace dev {iface} root tbf rate {int(kbit)}kbit "
                      "burst 16kb latency 400ms")

    def delay(self, host: str, ms: int, network: str = "mgmt") -> None:
        raise FaultRefused("delay needs the kernel's sch_netem, which this machine's kernel "
                           "does not have (docs/testbed-facts.md); use rate() or lossy()")

    def heal(self, host: str) -> None:
        """Removes every network fault from `host` (nft table, tc qdisc); fails when one is
        still there afterwards."""
        self._known(host)
        self.sh(host, f"nft delete table inet {NFT_TABLE}", check=False)
        for net in self.topology.hosts[host].addresses:
            with contextlib.suppress(FaultRefused, RuntimeError):
                iface = self._interface(host, net)
                self.sh(host, f"tc qdisc del dev {iface} root 2>/dev/null || true", check=False)
        tables = self.sh(host, "nft list tables", check=False)
        if NFT_TABLE in tables:
            raise RuntimeError(f"{host}: the fault's nftables table is still there: {tables}")

    @contextlib.contextmanager
    def cut_off(self, host: str, peers: list[str] | None = None, network: str | None = None):
        self.cut(host, peers, network)
        try:
            yield
        finally:
            self.heal(host)

    @contextlib.contextmanager
    def ports_cut(self, host: str, ports: str, proto: str = "udp"):
        self.cut_ports(host, ports, proto)
        try:
            yield
        finally:
            self.heal(host)

    @contextlib.contextmanager
    def lossy_link(self, host: str, percent: int, network: str = "mgmt"):
        self.lossy(host, percent, network)
        try:
            yield
        finally:
            self.heal(host)

    @contextlib.contextmanager
    def rate_capped(self, host: str, kbit: int, network: str = "mgmt"):
        self.rate(host, kbit, network)
        try:
            yield
        finally:
            self.heal(host)

    # --- disks and processes -----------------------------------------------------------
    def fill_disk(self, host: str, path: str, leave_mib: int = 64,
                  max_mib: int = 4096) -> str:
        """Writes a file under `path` that leaves `leave_mib` MiB free on its filesystem;
        returns the file's name (remove it with unfill_disk). Refused when that takes more
        than `max_mib`: a testbed host's filesystems are this machine's own disk, which a
        fault must not fill."""
        self._running(host)
        target = f"{path.rstrip('/')}/pilotstack-fault-fill"
        free = int(self.sh(host, f"df -Pk {shlex.quote(path)} | awk 'NR==2{{print $4}}'")
                   .strip() or 0) // 1024
        size = free - int(leave_mib)
        if size <= 0:
            raise FaultRefused(f"{host}:{path} has {free} MiB free, not more than {leave_mib}")
        if size > max_mib:
            raise FaultRefused(f"{host}:{path}: filling it would write {size} MiB (more than "
                               f"max_mib={max_mib}); on the testbed that is this machine's "
                               "own disk: use a small filesystem (a loop device) instead")
        self.sh(host, f"fallocate -l {size}M {shlex.quote(target)}", timeout=300)
        return target

    def unfill_disk(self, host: str, target: str) -> None:
        self.sh(host, f"rm -f {shlex.quote(target)}", check=False)

    @contextlib.contextmanager
    def disk_filled(self, host: str, path: str, leave_mib: int = 64):
        target = self.fill_disk(host, path, leave_mib)
        try:
            yield target
        finally:
            self.unfill_disk(host, target)

    SIGNALS = ("KILL", "TERM", "STOP", "CONT")

    def signal(self, host: str, process: str, sig: str = "KILL") -> None:
        """Sends `sig` to every process named `process` (exact name) on `host`."""
        self._running(host)
        if sig not in self.SIGNALS:
            raise FaultRefused(f"signal {sig!r}: one of {', '.join(self.SIGNALS)}")
        self.sh(host, f"pkill -{sig} -x {shlex.quote(process)}")

    @contextlib.contextmanager
    def process_frozen(self, host: str, process: str):
        self.signal(host, process, "STOP")
        try:
            yield
        finally:
            self.sh(host, f"pkill -CONT -x {shlex.quote(process)}", check=False)

    def kill_unit(self, host: str, unit: str) -> None:
        """SIGKILL every process of a unit and keep it down: masked for this boot, since
        systemd would restart it within seconds, before its peers even noticed."""
        self._running(host)
        u = shlex.quote(unit)
        self.sh(host, f"systemctl mask --runtime {u} >/dev/null 2>&1; systemctl kill -s KILL {u}")

    def start_unit(self, host: str, unit: str) -> None:
        u = shlex.quote(unit)
        self.sh(host, f"systemctl unmask --runtime {u} >/dev/null 2>&1; "
                      f"systemctl reset-failed {u} 2>/dev/null; systemctl start {u}")

    @contextlib.contextmanager
    def unit_down(self, host: str, unit: str):
        self.kill_unit(host, unit)
        try:
            yield
        finally:
            self.start_unit(host, unit)
