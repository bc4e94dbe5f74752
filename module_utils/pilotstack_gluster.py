"""GlusterFS: parse what the gluster CLI reports (--xml) and decide, as pure functions.

Formats are those of GlusterFS 10 (Debian 12), recorded in tests/unit/fixtures/gluster/.
The modules in library/ gather the CLI's output; every rule lives here so it is tested on
recorded outputs without a cluster.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ansible.module_utils.pilotstack_common import Refused, change  # noqa: F401 (re-exported)

GLUSTER = ["gluster", "--mode=script"]


def read_xml(module, *args: str) -> str:
    """Output of a read-only `gluster ... --xml` command (parse it: errors are inside)."""
    return module.run_command([*GLUSTER, *args, "--xml"])[1]



class CliError(Exception):
    """The gluster CLI answered opRet != 0."""


def _root(text: str) -> ET.Element:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise CliError(f"not gluster XML output: {exc}: {text[:200]!r}") from exc
    if (root.findtext("opRet") or "0").strip() not in ("0", ""):
        raise CliError((root.findtext("opErrstr") or "").strip() or "gluster failed")
    return root


def _int(node: ET.Element | None, tag: str, default: int = 0) -> int:
    text = node.findtext(tag) if node is not None else None
    try:
        return int(text) if text not in (None, "", "-") else default
    except ValueError:
        return default


# --- parsers ------------------------------------------------------------------------------

def parse_pool(text: str) -> list[dict]:
    """`gluster pool list --xml` -> [{uuid, hostname, connected}] (this host included, as
    hostname 'localhost')."""
    root = _root(text)
    return [{"uuid": p.findtext("uuid"), "hostname": p.findtext("hostname"),
             "connected": p.findtext("connected") == "1"}
            for p in root.iter("peer")]


def parse_peer_status(text: str) -> list[dict]:
    """`gluster peer status --xml` -> [{uuid, hostnames, connected, state}] for the other
    peers (every name a peer is known by, first the one it was probed with)."""
    root = _root(text)
    peers = []
    for p in root.iter("peer"):
        names = [p.findtext("hostname") or ""]
        names += [h.text for h in p.iter("hostname") if h.text and h.text not in names]
        peers.append({"uuid": p.findtext("uuid"), "hostnames": names,
                      "connected": p.findtext("connected") == "1",
                      "state": p.findtext("stateStr")})
    return peers


def parse_volume_info(text: str) -> dict[str, dict]:
    """`gluster volume info [VOL] --xml` -> {name: {status, type, replica, bricks, options}}.
    A volume that does not exist raises CliError."""
    root = _root(text)
    volumes = {}
    for v in root.iter("volume"):
        name = v.findtext("name")
        if not name:
            continue
        bricks = [b.findtext("name") or (b.text or "").strip() for b in v.iter("brick")]
        options = {o.findtext("name"): o.findtext("value") for o in v.iter("option")}
        volumes[name] = {
            "status": v.findtext("statusStr"),
            "type": v.findtext("typeStr"),
            "replica": _int(v, "replicaCount", 1),
            "arbiter": _int(v, "arbiterCount"),
            "brick_count": _int(v, "brickCount", len(bricks)),
            "bricks": bricks,
            "options": options,
        }
    return volumes


def parse_volume_status(text: str) -> dict:
    """`gluster volume status VOL --xml` -> {bricks: {host:path: online}, shd: {host: online}}
    (only what glusterd can see: a brick of an unreachable peer is absent, not offline)."""
    root = _root(text)
    bricks, shd = {}, {}
    for n in root.iter("node"):
        host, path = n.findtext("hostname") or "", n.findtext("path") or ""
        online = n.findtext("status") == "1"
        if host == "Self-heal Daemon":
            shd[path] = online
        elif path.startswith("/"):
            bricks[f"{host}:{path}"] = online
    return {"bricks": bricks, "shd": shd}


def parse_heal_summary(text: str) -> dict[str, dict]:
    """`gluster volume heal VOL info summary --xml` -> {brick: {connected, pending,
    split_brain, healing}}; counts are None for a brick that does not answer."""
    root = _root(text)
    out = {}
    for b in root.iter("brick"):
        name = b.findtext("name") or ""
        connected = (b.findtext("status") or "") == "Connected"

        def count(tag, b=b, connected=connected):
            text = b.findtext(tag)
            return int(text) if connected and text and text.strip().isdigit() else None
        out[name] = {"connected": connected,
                     "pending": count("numberOfEntriesInHealPending"),
                     "split_brain": count("numberOfEntriesInSplitBrain"),
                     "healing": count("numberOfEntriesPossiblyHealing"),
                     "total": count("totalNumberOfEntries")}
    return out


# --- decisions ----------------------------------------------------------------------------

def to_heal(heal: dict | None) -> int:
    """Entries the bricks of a volume still have to heal (heal info summary, every brick)."""
    return sum((h.get("total") or 0) for h in (heal or {}).values())


def volume_health(name: str, info: dict | None, status: dict | None,
                  heal: dict | None) -> list[str]:
    """Problems that forbid a restart or a layout change of volume `name` (empty: healthy):
    started, every brick online, every brick answering heal info, 0 entries to heal, none in
    split-brain."""
    if info is None:
        return [f"volume {name} does not exist"]
    problems = []
    if info["status"] != "Started":
        problems.append(f"volume {name} is {info['status']}, not Started")
        return problems
    status = status or {"bricks": {}}
    offline = [b for b in info["bricks"] if not status["bricks"].get(b, False)]
    if offline:
        problems.append(f"volume {name}: brick(s) offline: {', '.join(offline)}")
    heal = heal or {}
    silent = [b for b in info["bricks"] if b not in offline
              and not (heal.get(b) or {}).get("connected")]
    if silent:
        problems.append(f"volume {name}: heal info gets no answer from {', '.join(silent)}")
    pending = to_heal(heal)
    split = sum((h.get("split_brain") or 0) for h in heal.values())
    if split:
        problems.append(f"volume {name}: {split} entr{'y' if split == 1 else 'ies'} in "
                        "split-brain: resolve them (gluster volume heal "
                        f"{name} split-brain ...) before anything else")
    if pending:
        problems.append(f"volume {name}: {pending} entr{'y' if pending == 1 else 'ies'} "
                        "still to heal")
    return problems


def settling(problems: list[str], heal: dict | None) -> bool:
    """True when the one thing volume_health found is a heal backlog (it reports one only
    when entries are left to heal): every brick is up and answering, nothing in split-brain,
    so the self-heal daemon drains it by itself and waiting can help."""
    return len(problems) == 1 and to_heal(heal) > 0


def plan_volume(name: str, current: dict | None, bricks: list[str], replica: int,
                options: dict[str, str], state: str = "started",
                remove_bricks: list[str] | tuple = (), allow_replica2: bool = False,
                healthy: list[str] | None = None) -> list[list[str]]:
    """The gluster commands (argv after `gluster --mode=script volume`) that bring volume
    `name` from `current` (parse_volume_info's entry, or None) to what is wanted.

    - bricks missing from the volume are added; when that raises the replica count, the
      volume must be healthy first (`healthy`: volume_health's problems) and every new
      brick must belong to a new replica set position (add-brick VOL replica N ...);
    - bricks on the volume that are not wanted are left alone unless listed in
      remove_bricks (then removed with the lower replica count, only when healthy);
    - options are set when their value differs (what `volume info` shows as set).
    Raises Refused for a layout that cannot be reached safely."""
    if replica < 1 or len(bricks) % replica:
        raise Refused([f"volume {name}: {len(bricks)} brick(s) cannot form replica "
                       f"{replica} sets: list a multiple of {replica} bricks"])
    if replica == 2 and not allow_replica2:
        raise Refused([f"volume {name}: replica 2 splits brain when the two servers lose "
                       "each other; use replica 3 (or allow_replica2=true for a volume "
                       "that is about to be migrated to replica 3)"])
    hosts = [b.split(":", 1)[0] for b in bricks]
    for i in range(0, len(hosts), replica):
        subset = hosts[i:i + replica]
        if len(set(subset)) != len(subset):
            raise Refused([f"volume {name}: replica set {bricks[i:i + replica]} puts two "
                           "copies on one server"])
    cmds: list[list[str]] = []
    if current is None:
        if state == "absent":
            return []
        create = ["create", name]
        if replica > 1:
            create += ["replica", str(replica)]
        cmds.append(create + list(bricks))
        current = {"status": "Created", "bricks": list(bricks), "replica": replica,
                   "options": {}}
    elif state == "absent":
        raise Refused([f"volume {name} exists: deleting a volume (and its data) is not "
                       "done by this module; gluster volume stop/delete it by hand"])
    else:
        have = current["bricks"]
        add = [b for b in bricks if b not in have]
        remove = [b for b in have if b in remove_bricks]
        stray = [b for b in have if b not in bricks and b not in remove_bricks]
        if stray:
            raise Refused([f"volume {name} has brick(s) not declared: {', '.join(stray)}. "
                           "Declare them, or list them in remove_bricks to remove them"])
        if (add or remove) and healthy:
            raise Refused([f"volume {name} is not healthy, its layout is not changed: "
                           + "; ".join(healthy)])
        if add and remove:
            raise Refused([f"volume {name}: add and remove bricks in two runs, not one"])
        if add:
            if replica > current["replica"]:
                sets = len(have) // current["replica"]
                if len(add) != sets * (replica - current["replica"]):
                    raise Refused([f"volume {name}: raising replica {current['replica']} -> "
                                   f"{replica} on {sets} replica set(s) needs "
                                   f"{sets * (replica - current['replica'])} new brick(s), "
                                   f"not {len(add)}"])
                if replica - current["replica"] != 1:
                    raise Refused([f"volume {name}: raise the replica count one step at a "
                                   "time (heal in between)"])
                cmds.append(["add-brick", name, "replica", str(replica), *add])
            elif replica == current["replica"]:
                if len(add) % replica:
                    raise Refused([f"volume {name}: adding {len(add)} brick(s) to replica "
                                   f"{replica} sets needs a multiple of {replica}"])
                cmds.append(["add-brick", name, *add])
            else:
                raise Refused([f"volume {name}: bricks added while the replica count drops "
                               f"({current['replica']} -> {replica})"])
        if remove:
            if replica != current["replica"] - 1 or len(have) - len(remove) != len(bricks):
                raise Refused([f"volume {name}: removing {', '.join(remove)} must lower the "
                               f"replica count by one ({current['replica']} -> "
                               f"{current['replica'] - 1}) and leave the declared bricks"])
            cmds.append(["remove-brick", name, "replica", str(replica), *remove, "force"])
    for key, value in options.items():
        if str(current["options"].get(key)) != str(value):
            cmds.append(["set", name, key, str(value)])
    if state == "started" and current["status"] != "Started":
        cmds.append(["start", name])
    elif state == "stopped" and current["status"] == "Started":
        cmds.append(["stop", name])
    return cmds
