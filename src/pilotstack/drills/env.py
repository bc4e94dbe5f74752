"""The deployed testbed as the drills see it: containers to kill, shells on the hosts,
playbooks to run, accounts for the clients."""

from __future__ import annotations

import functools
import json
import re
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths
from ..faults import Faults
from ..testbed import topology as topology_mod

# The testbed the drills run on, as its topology file declares it: hosts, groups,
# addresses and VIPs come from here, never from literals in the drills.
TOPOLOGY = topology_mod.load()
FAULTS = Faults(TOPOLOGY)


def group(name: str) -> list[str]:
    """The hosts of an inventory group, in topology order; an error when it is empty."""
    hosts = TOPOLOGY.groups.get(name) or []
    if not hosts:
        raise RuntimeError(f"testbed {TOPOLOGY.name} has no host in group {name!r}")
    return list(hosts)


def addrs(hosts, network: str = "mgmt") -> dict[str, str]:
    """host -> address on `network`, for the hosts that have one."""
    return {h: TOPOLOGY.hosts[h].addresses[network] for h in hosts
            if network in TOPOLOGY.hosts[h].addresses}


def vip(name: str) -> str:
    """A VIP's address (pilotstack_vips in the topology's inventory_vars)."""
    return str(TOPOLOGY.inventory_vars["pilotstack_vips"][name]["address"])


def network_pattern(network: str = "mgmt") -> str:
    """A MariaDB host pattern for a network ("10.0.0.%" for a /24, else the CIDR's
    netmask form "10.0.0.0/255.255.0.0")."""
    cidr = TOPOLOGY.networks[network].cidr
    if cidr.prefixlen == 24:
        return ".".join(str(cidr.network).split(".")[:3]) + ".%"
    return f"{cidr.network}/{cidr.netmask}"

RECAP_RE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+"
                      r"failed=(\d+)", re.M)


@dataclass
class PlaybookRun:
    rc: int
    output: str
    seconds: float
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return sum(r["changed"] for r in self.recap.values())

    @classmethod
    def parse(cls, rc: int, output: str, seconds: float) -> PlaybookRun:
        """A run from ansible-playbook's output (its PLAY RECAP lines)."""
        recap = {m[1]: {"ok": int(m[2]), "changed": int(m[3]), "unreachable": int(m[4]),
                        "failed": int(m[5])} for m in RECAP_RE.finditer(output)}
        return cls(rc, output, seconds, recap)


class Env:
    """The default testbed (`pstb`): its containers, its generated inventory."""

    def __init__(self, root: Path | None = None, name: str | None = None):
        self.root = root or paths.project_root()
        self.name = name or TOPOLOGY.name
        self.faults = FAULTS
        self.inventory = self.root / "inventory" / "testbed"
        self.state = self.root / ".pilotstack" / "testbed" / self.name
        self.recorder = None

    # --- reporting (see pilotstack.drills.Recorder) --------------------------------------
    def figure(self, key: str, value) -> None:
        if self.recorder is not None:
            self.recorder.figure(key, value)

    def count(self, what: str, acknowledged: int, lost: int) -> None:
        if self.recorder is not None:
            self.recorder.count(what, acknowledged, lost)

    # --- hosts ---------------------------------------------------------------------------
    def container(self, host: str) -> str:
        return TOPOLOGY.container(host)

    def on(self, host: str, command: str, check: bool = True, timeout: int = 300) -> str:
        return on_node(host, command, check, timeout, self.name)

    def ssh_ok(self, host: str) -> bool:
        return subprocess.run(["ssh", "-F", str(self.state / "ssh_config"), "-o",
                               "ConnectTimeout=2", host, "true"],
                              capture_output=True).returncode == 0

    def wait_ssh(self, host: str, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.ssh_ok(host):
                return
            time.sleep(0.5)
        raise RuntimeError(f"{host} does not answer SSH after {timeout:.0f} s")

    def playbook(self, playbook: str, *extra: str) -> PlaybookRun:
        return run_playbook(self.root, self.inventory, playbook, *extra)

    def require_up(self) -> None:
        """Fail closed: the drills need the deployed default testbed."""
        if not (self.state / "ssh_config").exists():
            raise RuntimeError("no testbed state: run `pilotstack testbed up` and "
                               "`pilotstack deploy` first (drills run on the testbed only)")
        missing = sorted(set(TOPOLOGY.hosts) - self.faults.running())
        if missing:
            raise RuntimeError(f"testbed hosts not running: {', '.join(missing)}")

    # --- client accounts -------------------------------------------------------------------
    def drill_password(self, kind: str) -> str:
        """The drills' password for `kind` (sql, amqp): random, made once per testbed and
        kept in its state directory (0600), so that a `pilotstack drill` and a test session
        running side by side do not reset each other's account."""
        store = self.state / "drill-accounts.json"
        known = json.loads(store.read_text()) if store.exists() else {}
        if kind not in known:
            known[kind] = secrets.token_hex(16)
            store.touch(mode=0o600)
            store.write_text(json.dumps(known))
        return known[kind]

    @functools.cached_property
    def sql_account(self) -> dict:
        """An SQL account for the drills' clients (schema `drill`), reachable from this
        machine and through the VIP."""
        creds = {"user": "pilotstack_drill", "password": self.drill_password("sql")}
        where = network_pattern("mgmt")
        sql = (f"CREATE DATABASE IF NOT EXISTS drill; "
               f"CREATE USER IF NOT EXISTS '{creds['user']}'@'{where}'; "
               f"ALTER USER '{creds['user']}'@'{where}' IDENTIFIED BY "
               f"'{creds['password']}'; "
               f"GRANT ALL ON drill.* TO '{creds['user']}'@'{where}'")
        self.on(group("galera")[0], f'mysql -e "{sql}"')
        return creds


def run_playbook(root: Path, inventory: Path, playbook: str, *extra: str,
                 vault: bool = True) -> PlaybookRun:
    """ansible-playbook playbooks/PLAYBOOK with the project's configuration; its output,
    wall time and recap."""
    argv = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory),
            f"playbooks/{playbook}", *extra]
    if vault and (inventory / ".vault_pass").exists():
        argv += ["--vault-password-file", str(inventory / ".vault_pass")]
    env = {**_environ(), "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
           "ANSIBLE_FORCE_COLOR": "0", "PILOTSTACK_ROOT": str(root)}
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=root, capture_output=True, text=True, env=env)
    return PlaybookRun.parse(proc.returncode, proc.stdout + proc.stderr,
                             time.monotonic() - start)


def on_node(host: str, command: str, check: bool = True, timeout: int = 300,
            testbed: str | None = None) -> str:
    """A shell command on a testbed host (docker exec: works while its network is cut)."""
    container = f"{testbed}-{host}" if testbed else TOPOLOGY.container(host)
    proc = subprocess.run(["docker", "exec", container, "sh", "-c", command],
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{host}: {command}: rc {proc.returncode}: "
                           f"{(proc.stdout + proc.stderr).strip()[-800:]}")
    return proc.stdout


def _environ() -> dict:
    import os
    return dict(os.environ)


class NodeProgram:
    """A client program run on a testbed host, `python3 -c SCRIPT ARGS... STOP_FILE PACE`,
    that prints one line per operation; a thread hands each line (split) to on_line(). It
    stops when its stop file appears. The drills' file, block and HTTP clients are these."""

    host: str
    pace: float

    def launch(self, script: str, *args: str) -> None:
        self.stop_file = f"/tmp/pilotstack-drill-stop-{time.monotonic_ns()}"
        self.proc = subprocess.Popen(
            ["docker", "exec", TOPOLOGY.container(self.host), "python3", "-c", script, *args,
             self.stop_file, str(self.pace)], stdout=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.on_line(line.split())

    def on_line(self, parts: list[str]) -> None:
        raise NotImplementedError

    def halt(self, timeout: float, check: bool = True) -> None:
        on_node(self.host, f"touch {self.stop_file}", check=check)
        try:
            self.proc.wait(timeout)
        finally:
            self.thread.join(10)
            on_node(self.host, f"rm -f {self.stop_file}", check=False)
