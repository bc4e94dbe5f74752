"""Ceph: read what the ceph CLI reports (-f json) and decide, as pure functions.

Formats are those of Ceph 16 Pacific (Debian 12), recorded in tests/unit/fixtures/ceph/.
The modules in library/ run the CLI; every rule lives here so it is tested on recorded
outputs without a cluster.
"""

from __future__ import annotations

import json
import re

from ansible.module_utils.pilotstack_common import change  # noqa: F401 (re-exported)

# Every CLI call gives up after this many seconds instead of hanging on a lost quorum.
TIMEOUT = 15


def ceph_argv(*args: str, timeout: int = TIMEOUT) -> list[str]:
    return ["ceph", "--connect-timeout", str(timeout), *args]


class CephError(Exception):
    """The ceph CLI failed; .rc is its exit code (2 = ENOENT: no such entity/pool)."""

    def __init__(self, msg: str, rc: int = 1):
        super().__init__(msg)
        self.rc = rc


def read_json(module, *args: str, timeout: int = TIMEOUT):
    """The parsed output of a read-only `ceph ... -f json`; CephError when it fails."""
    rc, out, err = module.run_command(
        ["timeout", str(timeout + 5), *ceph_argv(*args, "-f", "json", timeout=timeout)])
    if rc != 0:
        raise CephError(f"ceph {' '.join(args)}: {(err or out).strip() or f'exit {rc}'}", rc)
    try:
        return json.loads(out or "null")
    except ValueError as exc:
        raise CephError(f"ceph {' '.join(args)}: not JSON: {out[:200]!r}") from exc



# --- health -------------------------------------------------------------------------------

def pg_counts(status: dict) -> dict:
    """PG totals from `ceph status`: total, active_clean, by_state, not_clean (state ->
    count for every state other than active+clean)."""
    pgmap = status.get("pgmap") or {}
    by_state = {s["state_name"]: s["count"] for s in pgmap.get("pgs_by_state") or []}
    clean = by_state.get("active+clean", 0)
    return {"total": pgmap.get("num_pgs", 0), "active_clean": clean, "by_state": by_state,
            "not_clean": {k: v for k, v in by_state.items() if k != "active+clean"},
            "inactive": sum(v for k, v in by_state.items() if "active" not in k.split("+"))}


def mds_state(fs_dump: dict) -> dict:
    """`ceph fs dump`: per filesystem its max_mds and ranks (rank -> name, state), its
    standby-replay daemons; and the standbys of the whole map."""
    filesystems = {}
    for fs in fs_dump.get("filesystems") or []:
        mdsmap = fs.get("mdsmap") or {}
        ranks, replay = {}, []
        for info in (mdsmap.get("info") or {}).values():
            state = info.get("state", "")
            if state == "up:standby-replay":
                replay.append(info.get("name"))
            elif info.get("rank", -1) >= 0:
                ranks[int(info["rank"])] = {"name": info.get("name"), "state": state}
        filesystems[mdsmap.get("fs_name")] = {
            "max_mds": mdsmap.get("max_mds", 1), "ranks": dict(sorted(ranks.items())),
            "standby_replay": sorted(replay), "failed": mdsmap.get("failed") or [],
            "damaged": mdsmap.get("damaged") or [],
            "allow_standby_replay": bool(mdsmap.get("flags", 0) & 32)}
    standbys = sorted(s.get("name") for s in fs_dump.get("standbys") or [])
    return {"filesystems": filesystems, "standbys": standbys}


def summarize(status: dict, fs_dump: dict | None = None, osd_flags: str = "") -> dict:
    """The figures the gate, the drills and `pilotstack status` read, from `ceph status`
    (+ `ceph fs dump`, + the flags of `ceph osd dump`)."""
    health = status.get("health") or {}
    osdmap = status.get("osdmap") or {}
    # Octopus nests the osdmap once more; Pacific does not.
    osdmap = osdmap.get("osdmap", osdmap)
    checks = {code: (c.get("summary") or {}).get("message", "")
              for code, c in (health.get("checks") or {}).items()}
    return {
        "health": health.get("status", "HEALTH_ERR"),
        "checks": checks,
        "quorum": list(status.get("quorum_names") or []),
        "mons": (status.get("monmap") or {}).get("num_mons", 0),
        "osds": {"total": osdmap.get("num_osds", 0), "up": osdmap.get("num_up_osds", 0),
                 "in": osdmap.get("num_in_osds", 0)},
        "pgs": pg_counts(status),
        "mgr_available": bool((status.get("mgrmap") or {}).get("available")),
        "mds": mds_state(fs_dump or {}),
        "flags": sorted(f for f in osd_flags.split(",")
                        if f in ("noout", "norebalance", "nobackfill", "norecover", "noup",
                                 "nodown", "pause", "noscrub", "nodeep-scrub")),
    }


def problems(summary: dict, expect_mons: list[str], expect_osds: int,
             expect_mds: int = 0, allow_checks: list[str] | tuple = (),
             allow_flags: list[str] | tuple = ()) -> list[str]:
    """What keeps the cluster from being whole: mons out of quorum, OSDs down or out, PGs
    not active+clean, no active mgr, a filesystem rank not active or fewer MDS daemons
    than expected, flags set, any health check other than those allowed."""
    found = []
    missing = [m for m in expect_mons if m not in summary["quorum"]]
    if missing:
        found.append(f"mon(s) {', '.join(missing)} not in quorum "
                     f"(quorum: {', '.join(summary['quorum']) or 'none'})")
    osds = summary["osds"]
    if osds["total"] < expect_osds:
        found.append(f"{osds['total']} OSD(s) exist, {expect_osds} expected")
    if osds["up"] < osds["total"] or osds["in"] < osds["total"]:
        found.append(f"OSDs: {osds['up']} up, {osds['in']} in of {osds['total']}")
    pgs = summary["pgs"]
    if pgs["active_clean"] < pgs["total"]:
        states = ", ".join(f"{n} {s}" for s, n in sorted(pgs["not_clean"].items()))
        found.append(f"{pgs['total'] - pgs['active_clean']} of {pgs['total']} PGs not "
                     f"active+clean ({states})")
    if not summary["mgr_available"]:
        found.append("no active mgr")
    daemons = 0
    for name, fs in summary["mds"]["filesystems"].items():
        bad = {r: v for r, v in fs["ranks"].items() if v["state"] != "up:active"}
        if len(fs["ranks"]) < fs["max_mds"] or bad or fs["failed"] or fs["damaged"]:
            found.append(f"filesystem {name}: ranks {fs['ranks']}, max_mds {fs['max_mds']}"
                         f", failed {fs['failed']}, damaged {fs['damaged']}")
        daemons += len(fs["ranks"]) + len(fs["standby_replay"])
    daemons += len(summary["mds"]["standbys"])
    if daemons < expect_mds:
        found.append(f"{daemons} MDS daemon(s) up, {expect_mds} expected")
    flags = [f for f in summary["flags"] if f not in allow_flags]
    if flags:
        found.append(f"OSD flags set: {', '.join(flags)}")
    ignored = {"OSDMAP_FLAGS"} if not flags else set()
    for code, message in sorted(summary["checks"].items()):
        if code not in allow_checks and code not in ignored:
            found.append(f"{code}: {message}")
    return found


# --- keys ---------------------------------------------------------------------------------

CAP_KINDS = ("mon", "mgr", "osd", "mds")


def normalize_caps(caps: dict) -> dict:
    """Caps as Ceph stores them: one space between words, none after commas' spaces."""
    out = {}
    for kind, value in (caps or {}).items():
        if value is None or str(value).strip() == "":
            continue
        text = re.sub(r"\s+", " ", str(value).strip())
        out[kind] = re.sub(r"\s*,\s*", ", ", text)
    return out


def caps_argv(caps: dict) -> list[str]:
    argv = []
    for kind in CAP_KINDS:
        if kind in caps:
            argv += [kind, caps[kind]]
    return argv


def keyring_text(name: str, key: str, caps: dict) -> str:
    lines = [f"[{name}]", f"\tkey = {key}"]
    lines += [f'\tcaps {kind} = "{caps[kind]}"' for kind in CAP_KINDS if kind in caps]
    return "\n".join(lines) + "\n"


def key_plan(current: dict | None, caps: dict, key: str | None) -> tuple[str, list[str]]:
    """What to do for an auth entity: ('create', []), ('ok', []) or ('caps', [diffs]);
    raises ValueError when the cluster holds another key than the one given (never
    replaced silently: every daemon or client using it would lose access)."""
    wanted = normalize_caps(caps)
    if current is None:
        return "create", []
    if key and current.get("key") != key:
        raise ValueError("holds another key than the vault's")
    have = normalize_caps(current.get("caps") or {})
    diffs = [f"{k}: {have.get(k, '(none)')!r} -> {wanted.get(k, '(none)')!r}"
             for k in CAP_KINDS if have.get(k) != wanted.get(k)]
    return ("caps", diffs) if diffs else ("ok", [])


# --- pools --------------------------------------------------------------------------------

def osd_hosts(tree: dict) -> dict[str, int]:
    """`ceph osd tree`: host bucket -> number of OSDs in it (the failure domain)."""
    return {n["name"]: len(n.get("children") or []) for n in tree.get("nodes") or []
            if n.get("type") == "host" and n.get("children")}


def pool_plan(existing: dict | None, want: dict, hosts: dict[str, int]) -> list[list[str]]:
    """The `ceph osd pool ...` argument lists that bring a pool to `want` (name, size,
    min_size, pg_num, autoscale, application); ValueError when it cannot be placed."""
    name, size, min_size = want["name"], int(want["size"]), int(want["min_size"])
    if min_size > size:
        raise ValueError(f"pool {name}: min_size {min_size} is larger than size {size}")
    if size > 1 and min_size < 2:
        raise ValueError(f"pool {name}: min_size {min_size} acknowledges writes held by a "
                         "single copy (data lost with that disk); use min_size 2")
    if size > len(hosts):
        raise ValueError(
            f"pool {name}: size {size} needs {size} hosts with OSDs (failure domain host), "
            f"the cluster has {len(hosts)} ({', '.join(sorted(hosts)) or 'none'}); add OSD "
            "hosts first or lower the size")
    steps = []
    if existing is None:
        steps.append(["osd", "pool", "create", name, str(want.get("pg_num", 32)),
                      str(want.get("pg_num", 32)), "replicated"])
        existing = {"size": None, "min_size": None, "pg_autoscale_mode": None,
                    "application_metadata": {}}
    if existing.get("size") != size:
        steps.append(["osd", "pool", "set", name, "size", str(size)])
    if existing.get("min_size") != min_size:
        steps.append(["osd", "pool", "set", name, "min_size", str(min_size)])
    mode = want.get("autoscale", "on")
    if existing.get("pg_autoscale_mode") != mode:
        steps.append(["osd", "pool", "set", name, "pg_autoscale_mode", mode])
    app = want.get("application")
    if app and app not in (existing.get("application_metadata") or {}):
        steps.append(["osd", "pool", "application", "enable", name, app])
    return steps
