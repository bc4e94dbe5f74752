"""`pilotstack status`: every tier's state, read over SSH in parallel, in one table.

The probes only read (SQL status, HAProxy's monitor socket, `ip addr`, `rabbitmqctl
cluster_status`, `crm_mon`, `gluster ... --xml`, `ceph ... -f json`); the verdicts are the
ones the roles' health gates use (module_utils), so `status` and the gates never disagree on
what "healthy" means. SSH goes through Fabric with the inventory's connection variables and
host-key checking ON (Fabric's default would accept unknown keys).
"""

from __future__ import annotations

import contextlib
import json
import shlex
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import paths
from .mu import ceph_mu, galera_mu, gluster_mu, haproxy_mu, mq_mu, pcmk_mu, tiers_mu

# The tiers with a probe and the groups each reads: the tier registry's.
TIERS = tuple(tiers_mu.status_tiers())
SSH_TIMEOUT = 8
COMMAND_TIMEOUT = 20


class StatusError(RuntimeError):
    pass


@dataclass
class Row:
    tier: str
    what: str
    ok: bool
    detail: str


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def problems(self) -> list[str]:
        return [f"{r.tier} {r.what}: {r.detail}" for r in self.rows if not r.ok]

    def as_dict(self) -> dict:
        tiers: dict[str, list[dict]] = {}
        for r in self.rows:
            tiers.setdefault(r.tier, []).append({k: v for k, v in asdict(r).items()
                                                 if k != "tier"})
        return {"healthy": not self.problems, "problems": self.problems, "tiers": tiers,
                "seconds": round(self.seconds, 2)}


# --- inventory ----------------------------------------------------------------------------

CONNECTION_KEYS = ("ansible_host", "ansible_user", "ansible_port",
                   "ansible_ssh_private_key_file", "ansible_ssh_common_args")


def load_inventory(inventory: Path, vault_password_file: Path | None) -> dict:
    """Groups, each host's connection variables and the site-wide variables status reads,
    from `ansible-inventory` (so host_vars, group_vars and inventory plugins all count)."""
    argv = [str(Path(sys.executable).with_name("ansible-inventory")), "-i", str(inventory),
            "--list"]
    if vault_password_file and vault_password_file.exists():
        argv += ["--vault-password-file", str(vault_password_file)]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=paths.project_root())
    if proc.returncode != 0:
        raise StatusError(f"ansible-inventory -i {inventory} failed: "
                          f"{proc.stderr.strip()[-600:]}")
    return parse_inventory(json.loads(proc.stdout))


def parse_inventory(data: dict) -> dict:
    hostvars = (data.get("_meta") or {}).get("hostvars") or {}
    groups: dict[str, list[str]] = {}

    def walk(name: str) -> list[str]:
        if name in groups:
            return groups[name]
        node = data.get(name) or {}
        hosts = list(node.get("hosts") or [])
        for child in node.get("children") or []:
            hosts += [h for h in walk(child) if h not in hosts]
        groups[name] = hosts
        return hosts

    for name in list(data):
        if name != "_meta":
            walk(name)
    first = next(iter(hostvars.values()), {})
    site = {k: first.get(k) for k in ("pilotstack_vips", "pilotstack_disabled_tiers",
                                      "pacemaker_group", "glusterfs_volumes")}
    return {"groups": groups,
            "hosts": {h: {k: v.get(k) for k in CONNECTION_KEYS if v.get(k) is not None}
                      for h, v in hostvars.items()},
            "site": site}


def enabled_tiers(inv: dict) -> list[str]:
    disabled = set(inv["site"].get("pilotstack_disabled_tiers") or [])
    return [t for t in TIERS if t not in disabled
            and all(inv["groups"].get(g) for g in tiers_mu.status_groups(t))]


# --- SSH ----------------------------------------------------------------------------------

def _known_hosts(common_args: str | None) -> str | None:
    args = shlex.split(common_args or "")
    for i, arg in enumerate(args):
        value = arg[2:] if arg.startswith("-o") and len(arg) > 2 else (
            args[i + 1] if arg == "-o" and i + 1 < len(args) else "")
        key, _, path = value.partition("=")
        if key.strip().lower() == "userknownhostsfile":
            return path.strip()
    return None


class Shell:
    """One Fabric connection per host, opened on first use; `run` never raises: it returns
    (rc, stdout, stderr), rc 255 when the host cannot be reached."""

    def __init__(self, hosts: dict):
        self.hosts = hosts
        self.conns: dict = {}
        self.locks = {h: threading.Lock() for h in hosts}

    def _connection(self, host: str):
        import fabric
        import paramiko
        with self.locks[host]:
            conn = self.conns.get(host)
            if conn is None:
                v = self.hosts[host]
                kwargs = {"banner_timeout": SSH_TIMEOUT, "auth_timeout": SSH_TIMEOUT}
                if v.get("ansible_ssh_private_key_file"):
                    kwargs["key_filename"] = v["ansible_ssh_private_key_file"]
                conn = fabric.Connection(v.get("ansible_host", host),
                                         user=v.get("ansible_user"),
                                         port=int(v.get("ansible_port") or 22),
                                         connect_timeout=SSH_TIMEOUT, connect_kwargs=kwargs)
                conn.client.load_system_host_keys()
                known = _known_hosts(v.get("ansible_ssh_common_args"))
                if known and Path(known).exists():
                    conn.client.load_host_keys(known)
                conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
                conn.open()
                self.conns[host] = conn
            return conn

    def run(self, host: str, command: str, timeout: int = COMMAND_TIMEOUT):
        try:
            conn = self._connection(host)
        except Exception as exc:  # noqa: BLE001 - any failure to connect is "unreachable"
            return 255, "", f"unreachable: {type(exc).__name__}: {exc}".strip()
        try:
            res = conn.run(command, hide=True, warn=True, timeout=timeout, in_stream=False)
            return res.exited, res.stdout, res.stderr
        except Exception as exc:  # noqa: BLE001 - a command timeout or a dropped session
            return 254, "", f"{type(exc).__name__}: {exc}".strip()

    def run_many(self, hosts: list[str], command: str, timeout: int = COMMAND_TIMEOUT) -> dict:
        with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
            futures = {h: pool.submit(self.run, h, command, timeout) for h in hosts}
            return {h: f.result() for h, f in futures.items()}

    def first_answer(self, hosts: list[str], command: str, timeout: int = COMMAND_TIMEOUT):
        """(host, stdout) of the first host, in inventory order, where `command` succeeds;
        (None, reasons) when none does."""
        results = self.run_many(hosts, command, timeout)
        for h in hosts:
            rc, out, _ = results[h]
            if rc == 0:
                return h, out
        return None, "; ".join(f"{h}: {_why(*results[h])}" for h in hosts)

    def close(self) -> None:
        for conn in self.conns.values():
            with contextlib.suppress(Exception):  # closing is best effort
                conn.close()


def _why(rc: int, out: str, err: str) -> str:
    text = (err or out).strip().splitlines()
    return (text[-1] if text else f"exit {rc}")[:160]


# --- probes: each returns rows ------------------------------------------------------------

def probe_galera(sh: Shell, inv: dict) -> list[Row]:
    members = inv["groups"]["galera"]
    rows = []
    statuses: dict[str, dict] = {}
    results = sh.run_many(members, "mysql -N -B -e \"SHOW GLOBAL STATUS LIKE 'wsrep_%'\"")
    for h in members:
        rc, out, err = results[h]
        if rc != 0:
            rows.append(Row("galera", h, False, _why(rc, out, err)))
            continue
        st = galera_mu.parse_status(out)
        statuses[h] = st
        size, state = st.get("wsrep_cluster_size", "?"), st.get("wsrep_local_state_comment")
        ok = not galera_mu.member_problems(st, len(members))
        rows.append(Row("galera", h, ok, f"{state}, {st.get('wsrep_cluster_status')}, "
                                         f"cluster size {size} of {len(members)}"))
    # the role's gate rule: also one cluster uuid (two clusters of the same name show
    # every member Synced and Primary)
    split = [p for p in galera_mu.cluster_problems(statuses, list(statuses))
             if p.startswith("members report different cluster uuids")]
    if split:
        rows.append(Row("galera", "cluster", False, split[0]))
    rows.append(_galera_writer(sh, inv))
    return rows


HAPROXY_STAT = ("s=/run/haproxy/monitor.sock; [ -S $s ] || s=/run/haproxy/admin.sock; "
                "echo 'show stat' | socat -t 2 stdio $s; echo '#table'; "
                # the table's contents need the admin socket (root)
                "echo 'show table galera' | socat -t 2 stdio /run/haproxy/admin.sock "
                "2>/dev/null || true")
# One parser for HAProxy's runtime state (module_utils/pilotstack_haproxy.py): by column
# name, with the stick table after a '#table' line.
haproxy_writer = haproxy_mu.writer


def _galera_writer(sh: Shell, inv: dict) -> Row:
    balancers = inv["groups"].get("lb") or []
    if not balancers:
        return Row("galera", "writer", True, "no load balancers in the inventory")
    results = sh.run_many(balancers, HAPROXY_STAT)
    writers, notes = {}, []
    for lb in balancers:
        rc, out, err = results[lb]
        if rc != 0:
            notes.append(f"{lb}: {_why(rc, out, err)}")
            continue
        writer, servers = haproxy_writer(out)
        writers[lb] = writer
        down = [s for s, state in servers.items() if not state.startswith("UP")]
        if down:
            notes.append(f"{lb} sees {', '.join(down)} down")
    chosen = {w for w in writers.values()}
    ok = bool(writers) and None not in chosen and len(chosen) == 1 and not notes
    if None in chosen:
        notes.append("a balancer has no Galera server UP")
    detail = (f"{', '.join(sorted(c for c in chosen if c))} (via "
              f"{', '.join(sorted(writers))})" if chosen - {None} else "none")
    return Row("galera", "writer", ok and len(chosen) == 1,
               detail + (f"; {'; '.join(notes)}" if notes else ""))


def probe_vips(sh: Shell, inv: dict) -> list[Row]:
    rows = []
    vips = inv["site"].get("pilotstack_vips") or {}
    wanted = {h for v in vips.values() for h in inv["groups"].get(v.get("hosts_group"), [])}
    results = sh.run_many(sorted(wanted), "ip -4 -o addr show")
    for name, vip in sorted(vips.items()):
        group = inv["groups"].get(vip.get("hosts_group")) or []
        if not group:
            continue
        holders = [h for h in group if results[h][0] == 0 and
                   f" {vip['address']}/" in results[h][1]]
        silent = [h for h in group if results[h][0] != 0]
        ok = len(holders) == 1
        detail = f"{vip['address']} on {', '.join(holders) or 'no host'}"
        if silent:
            detail += f" ({', '.join(silent)} unreachable)"
        rows.append(Row("vip", name, ok, detail))
    balancers = inv["groups"].get("lb") or []
    svc = sh.run_many(balancers, "systemctl is-active haproxy keepalived")
    for lb in balancers:
        rc, out, err = svc[lb]
        states = out.split()
        ok = rc == 0 and states == ["active", "active"]
        rows.append(Row("lb", lb, ok, f"haproxy {states[0]}, keepalived {states[1]}"
                        if len(states) == 2 else _why(rc, out, err)))
    return rows


def probe_rabbitmq(sh: Shell, inv: dict) -> list[Row]:
    members = inv["groups"]["rabbitmq"]
    names = [f"rabbit@{h}" for h in members]
    results = sh.run_many(members, "rabbitmqctl -q cluster_status --formatter json", 30)
    rows, views = [], {}
    for h in members:
        rc, out, err = results[h]
        if rc == 0:
            try:
                views[h] = mq_mu.parse_cluster_status(out)
            except ValueError:
                rc, err = 1, "unreadable cluster_status"
        if h not in views:
            rows.append(Row("rabbitmq", h, False, _why(rc, out, err)))
            continue
        problems = mq_mu.health(names, views[h])
        running = len(views[h]["running_nodes"])
        rows.append(Row("rabbitmq", h, not problems,
                        f"sees {running} of {len(names)} running"
                        + (f"; {'; '.join(problems)}" if problems else
                           ", no partition, no alarm")))
    return rows


def probe_pacemaker(sh: Shell, inv: dict) -> list[Row]:
    members = list(dict.fromkeys((inv["groups"].get("controllers") or [])
                                 + (inv["groups"].get("network_nodes") or [])))
    group = inv["site"].get("pacemaker_group") or "controller"
    host, out = sh.first_answer(members, "crm_mon --one-shot --output-as=xml --inactive")
    if host is None:
        return [Row("pacemaker", "cluster", False, f"no node answers crm_mon: {out}")]
    state = pcmk_mu.parse_crm_mon(out)
    problems = pcmk_mu.cluster_health(state, members, [group])
    rows = [Row("pacemaker", "cluster", not problems,
                f"quorum {'yes' if state['quorum'] else 'NO'}, DC {state['dc']}, online: "
                + ", ".join(n for n, v in sorted(state["nodes"].items()) if v["online"])
                + (f"; {'; '.join(problems)}" if problems else ""))]
    where = sorted({n for r in state["resources"].values() if r["group"] == group
                    for n in r["nodes"]})
    rows.append(Row("pacemaker", f"group {group}", len(where) == 1,
                    f"on {', '.join(where) or 'no node'}"))
    fences = {rid: r for rid, r in state["resources"].items()
              if (r["agent"] or "").startswith("stonith:")}
    rows.append(Row("pacemaker", "fencing", bool(fences) and all(
        r["active"] for r in fences.values()),
        ", ".join(f"{rid} {'started on ' + ','.join(r['nodes']) if r['active'] else 'STOPPED'}"
                  for rid, r in sorted(fences.items())) or "no fence device"))
    rows.append(Row("pacemaker", "failed actions", not state["failures"],
                    "; ".join(f"{f['op']} on {f['node']}: {f['exitreason']}"
                              for f in state["failures"]) or "none"))
    return rows


def probe_gluster(sh: Shell, inv: dict) -> list[Row]:
    servers = inv["groups"]["gluster"]
    host, out = sh.first_answer(servers, "gluster pool list --xml")
    if host is None:
        return [Row("gluster", "pool", False, f"no server answers: {out}")]
    pool = gluster_mu.parse_pool(out)
    down = [p["hostname"] for p in pool if not p["connected"]]
    rows = [Row("gluster", "peers", not down and len(pool) >= len(servers),
                f"{len(pool) - len(down)} of {len(pool)} connected (asked {host})"
                + (f"; disconnected: {', '.join(down)}" if down else ""))]
    rc, out, err = sh.run(host, "gluster volume info --xml")
    if rc != 0:
        return rows + [Row("gluster", "volumes", False, _why(rc, out, err))]
    for name, info in sorted(gluster_mu.parse_volume_info(out).items()):
        rc1, st, _ = sh.run(host, f"gluster volume status {shlex.quote(name)} --xml")
        rc2, heal, _ = sh.run(host, f"gluster volume heal {shlex.quote(name)} info summary "
                                    "--xml", 60)
        status = gluster_mu.parse_volume_status(st) if rc1 == 0 else None
        heal_d = gluster_mu.parse_heal_summary(heal) if rc2 == 0 else None
        problems = gluster_mu.volume_health(name, info, status, heal_d)
        online = sum(1 for b in info["bricks"] if (status or {"bricks": {}})["bricks"].get(b))
        rows.append(Row("gluster", f"volume {name}", not problems,
                        f"{info['type']} {info['replica']}, bricks {online}/"
                        f"{len(info['bricks'])} online, to heal {gluster_mu.to_heal(heal_d)}"
                        + (f"; {'; '.join(problems)}" if problems else "")))
    return rows


def probe_ceph(sh: Shell, inv: dict) -> list[Row]:
    mons = inv["groups"]["ceph_mon"]
    cmd = ("timeout 15 ceph status -f json && echo '#' && timeout 15 ceph fs dump -f json "
           "2>/dev/null && echo '#' && timeout 15 ceph osd dump -f json")
    host, out = sh.first_answer(mons, cmd, 50)
    if host is None:
        return [Row("ceph", "cluster", False, f"no mon answers: {out}")]
    status, fs_dump, osd_dump = (json.loads(p) for p in out.split("\n#\n"))
    summary = ceph_mu.summarize(status, fs_dump, osd_dump.get("flags", ""))
    problems = ceph_mu.problems(summary, mons, len(inv["groups"].get("ceph_osd") or []),
                                len(inv["groups"].get("ceph_mds") or []))
    osds, pgs = summary["osds"], summary["pgs"]
    rows = [Row("ceph", "health", not problems, summary["health"] + (
        f"; {'; '.join(problems)}" if problems else "")),
            Row("ceph", "mons", len(summary["quorum"]) == len(mons),
                f"quorum {', '.join(summary['quorum'])} ({len(summary['quorum'])} of "
                f"{len(mons)})"),
            Row("ceph", "osds", osds["up"] == osds["in"] == osds["total"] > 0,
                f"{osds['up']} up, {osds['in']} in of {osds['total']}; PGs "
                f"{pgs['active_clean']}/{pgs['total']} active+clean")]
    for name, fs in sorted(summary["mds"]["filesystems"].items()):
        active = [v["name"] for v in fs["ranks"].values() if v["state"] == "up:active"]
        standby = fs["standby_replay"] + summary["mds"]["standbys"]
        rows.append(Row("ceph", f"mds {name}", len(active) == fs["max_mds"] and bool(standby),
                        f"active {', '.join(active) or 'none'}; standby "
                        f"{', '.join(standby) or 'none'}"))
    return rows


PROBES = {"lb": probe_vips, "galera": probe_galera, "rabbitmq": probe_rabbitmq,
          "controllers": probe_pacemaker, "gluster": probe_gluster, "ceph": probe_ceph}


def collect(inv: dict, tiers: list[str] | None = None) -> Report:
    """Runs every enabled tier's probe in parallel; a probe that crashes is a failed row,
    never a crash of the command."""
    start = time.monotonic()
    tiers = tiers or enabled_tiers(inv)
    sh = Shell(inv["hosts"])
    try:
        with ThreadPoolExecutor(max_workers=len(tiers) or 1) as pool:
            futures = {t: pool.submit(PROBES[t], sh, inv) for t in tiers}
            rows = []
            for t, f in futures.items():
                try:
                    rows += f.result()
                except Exception as exc:  # noqa: BLE001 - reported as a failed row
                    rows.append(Row(t, "probe", False, f"{type(exc).__name__}: {exc}"))
    finally:
        sh.close()
    return Report(rows, time.monotonic() - start)


def render(report: Report) -> str:
    width = max([len(r.what) for r in report.rows] + [4])
    lines = [f"{'TIER':<10} {'WHAT':<{width}} {'STATE':<5} DETAIL"]
    for r in report.rows:
        lines.append(f"{r.tier:<10} {r.what:<{width}} {'ok' if r.ok else 'FAIL':<5} {r.detail}")
    verdict = "healthy" if not report.problems else f"DEGRADED: {len(report.problems)} problem(s)"
    lines.append(f"{verdict} ({report.seconds:.1f} s)")
    return "\n".join(lines)
