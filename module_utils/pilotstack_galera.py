"""Galera state parsing and the bootstrap decision: pure functions, no Ansible, no hosts.

One rule decides every branch: a member is restored (pc.bootstrap) or bootstrapped only when
no other member is, or may be, ahead of it. The plan therefore counts every member's last
committed position: the live wsrep_last_committed of a running member, grastate.dat or
`--wsrep-recover` for a stopped one. It fails closed where a position cannot be known:
  * a live Primary component is joined, never re-bootstrapped; a member ahead of it, or on
    another history, is refused (joining would wipe its commits by SST);
  * with no Primary component the most advanced member is the source: restored in place
    when it runs, bootstrapped when it is stopped; running members behind it are stopped
    first (action `stop`; they rejoin after the bootstrap);
  * a member that runs but cannot say its position (disconnected from the group) is
    stopped so that its saved position can be read;
  * an unreadable member is tolerated only when a Primary component runs, or when the
    running members are proven (gvwstate.dat) a strict majority of the last Primary view:
    every acknowledged write-set was delivered to each of them;
  * a data directory that holds data is never taken for a member that never joined;
  * the only override is an explicit bootstrap host AND an explicit accept-data-loss flag;
    it names what is discarded and resyncs (full SST, data directory moved aside) every
    member that is ahead of, diverged from, or of unknown position relative to the chosen one.
"""

from __future__ import annotations

import re

from ansible.module_utils.pilotstack_common import Refused  # noqa: F401 (re-exported)

NULL_UUID = "00000000-0000-0000-0000-000000000000"
OVERRIDE_HINT = ("override (only if you accept losing what other nodes may hold): "
                 "pilotstack_galera_bootstrap_host=<host> pilotstack_galera_accept_data_loss=true")
RECOVERED_RE = re.compile(r"WSREP: Recovered position:?\s+([0-9a-f-]{36}):(-?\d+)")
PREPARED_RE = re.compile(r"Found (\d+) prepared transactions?")
# Files and schemas a member has only once it has held cluster data.
DATA_MARKERS = ("galera.cache", "gvwstate.dat")
SYSTEM_SCHEMAS = ("mysql", "performance_schema", "sys")


class PlanRefused(Refused):
    """No recovery plan can be proven safe; `reasons` says why."""


def parse_grastate(text: str) -> dict:
    """grastate.dat -> {uuid, seqno, safe_to_bootstrap}; missing keys get safe defaults."""
    out = {"uuid": NULL_UUID, "seqno": -1, "safe_to_bootstrap": 0}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep or key.strip().startswith("#"):
            continue
        key, value = key.strip(), value.strip()
        if key == "uuid" and value:
            out["uuid"] = value
        elif key == "seqno":
            out["seqno"] = _int(value, -1)
        elif key == "safe_to_bootstrap":
            out["safe_to_bootstrap"] = _int(value, 0)
    return out


def parse_gvwstate(text: str) -> dict | None:
    """gvwstate.dat (the last Primary view a member saw) -> {my_uuid, view_id, members}."""
    out = {"my_uuid": None, "view_id": None, "members": []}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "my_uuid":
            out["my_uuid"] = value
        elif key == "view_id":
            out["view_id"] = value
        elif key == "member" and value:
            out["members"].append(value.split()[0])
    return out if out["my_uuid"] and out["view_id"] and out["members"] else None


def render_grastate(uuid: str, seqno: int, safe_to_bootstrap: int = 1) -> str:
    """grastate.dat as MariaDB writes it, for the member a plan bootstraps."""
    return (f"# GALERA saved state\nversion: 2.1\nuuid:    {uuid}\nseqno:   {seqno}\n"
            f"safe_to_bootstrap: {safe_to_bootstrap}\n")


def parse_recovered(log: str) -> dict | None:
    """The last position `mysqld --wsrep-recover` logged, and prepared transactions found."""
    found = RECOVERED_RE.findall(log)
    if not found:
        return None
    uuid, seqno = found[-1]
    prepared = PREPARED_RE.findall(log)
    return {"uuid": uuid, "seqno": int(seqno),
            "prepared_transactions": int(prepared[-1]) if prepared else 0}


def parse_status(text: str) -> dict:
    """`SHOW GLOBAL STATUS LIKE 'wsrep_%'` in batch mode (name<TAB>value per line)."""
    status = {}
    for line in text.splitlines():
        name, sep, value = line.partition("\t")
        if sep:
            status[name.strip().lower()] = value.strip()
    return status


# --- health rule: the role's gate, `pilotstack status` and the drills ask this ----------

def member_problems(status: dict, size: int) -> list[str]:
    """Why one member (its live wsrep_% status, names lower-cased) is not a healthy member
    of a cluster of `size`: Synced, in the Primary component, that component of full
    size. Empty when it is."""
    if not status:
        return ["no wsrep status (server down or not answering)"]
    out = []
    state = status.get("wsrep_local_state_comment") or "?"
    if state != "Synced":
        out.append(f"{state}, not Synced")
    if status.get("wsrep_cluster_status") != "Primary":
        out.append(f"{status.get('wsrep_cluster_status') or '?'}, not Primary")
    if str(status.get("wsrep_cluster_size")) != str(size):
        out.append(f"cluster size {status.get('wsrep_cluster_size') or '?'} of {size}")
    return out


def cluster_problems(statuses: dict[str, dict], members: list[str]) -> list[str]:
    """Why the cluster is not whole: each member's problems (named), and members that
    report different cluster uuids (two clusters with the same name, or a member on
    another history). Empty when every member is Synced in one Primary component of full
    size."""
    out = [f"{h}: {'; '.join(p)}" for h in members
           if (p := member_problems(statuses.get(h) or {}, len(members)))]
    uuids = {h: (statuses.get(h) or {}).get("wsrep_cluster_state_uuid") for h in members}
    if len({u for u in uuids.values() if u}) > 1:
        out.append("members report different cluster uuids: "
                   + ", ".join(f"{h}={u}" for h, u in uuids.items()))
    return out


def holds_data(entries: list[str]) -> bool:
    """Whether a data directory listing shows a member that has held cluster data."""
    return any(e in DATA_MARKERS or (e.startswith("dir:") and e[4:] not in SYSTEM_SCHEMAS
                                     and not e[4:].startswith("#"))
               for e in entries)


def position(state: dict) -> tuple[str, int] | None:
    """A member's last committed position: live for a running member connected to its
    group, else grastate when it has one, else what --wsrep-recover found; None when
    unknown."""
    if state.get("running"):
        st = state.get("status") or {}
        uuid = st.get("wsrep_local_state_uuid") or st.get("wsrep_cluster_state_uuid")
        seqno = _int(st.get("wsrep_last_committed"), -1)
        connected = st.get("wsrep_connected", "ON") == "ON"
        if connected and uuid and uuid != NULL_UUID and seqno >= 0:
            return uuid, seqno
        return None
    gra = state.get("grastate")
    if gra and gra["uuid"] != NULL_UUID and gra["seqno"] != -1:
        return gra["uuid"], gra["seqno"]
    rec = state.get("recovered")
    if rec and rec["uuid"] != NULL_UUID and rec["seqno"] != -1:
        return rec["uuid"], rec["seqno"]
    return None


def _is_fresh(state: dict) -> bool:
    """Never part of a cluster: no saved position, nothing recovered, and a data directory
    with nothing but what the package installed."""
    if state.get("running") or state.get("grastate") or state.get("recovered"):
        return False
    return not holds_data(state.get("datadir") or [])


def _is_primary(state: dict) -> bool:
    return bool(state.get("running")) and (
        (state.get("status") or {}).get("wsrep_cluster_status") == "Primary")


def _error(state: dict | None) -> str:
    return (state or {}).get("error") or "no answer"


def plan(hosts: list[str], states: dict, bootstrap_host: str | None = None,
         accept_data_loss: bool = False) -> dict:
    """Decide how to bring the cluster `hosts` (inventory order) up from `states`.

    states: host -> {readable, error?, running, status?, grastate?, recovered?, gvwstate?,
    datadir?, recover_pending?}.
    Returns {action, bootstrap_host, bootstrap_position, joiners, stop, resync, sql_host,
    reasons, then}; action is one of
      none          every member is running Synced in one Primary component
      join          a Primary component runs; `joiners` start one at a time
      pc_bootstrap  no Primary component; the most advanced member runs: restore it there
      new_cluster   no member was ever part of a cluster: bootstrap the first
      bootstrap     every member stopped: bootstrap `bootstrap_host` (at
                    `bootstrap_position`), then `joiners` one at a time
      stop          stop the members in `stop` first (they run behind, or cannot say their
                    position), then read and plan again; `then` predicts that plan
      unknown       check mode only: a stopped member's position needs --wsrep-recover,
                    which check mode does not run
    `resync` (override only): members whose data directory is moved aside before they
    rejoin by SST. Raises PlanRefused when no plan can be proven safe.
    """
    if bootstrap_host is not None:
        if bootstrap_host not in hosts:
            raise PlanRefused([f"pilotstack_galera_bootstrap_host {bootstrap_host!r} is not a "
                               f"member ({', '.join(hosts)})"])
        if not accept_data_loss:
            raise PlanRefused([f"pilotstack_galera_bootstrap_host={bootstrap_host} also needs "
                               "pilotstack_galera_accept_data_loss=true: bootstrapping a "
                               "chosen node may discard newer commits on the others"])
        return _forced(hosts, states, bootstrap_host)

    states = {h: states.get(h) or {"readable": False} for h in hosts}
    unreadable = [h for h in hosts if not states[h].get("readable")]
    readable = [h for h in hosts if h not in unreadable]
    if any(_is_primary(states[h]) for h in readable):
        result = _with_primary(readable, states)
        if unreadable:
            result["reasons"].append(
                f"{', '.join(unreadable)} unreadable "
                f"({'; '.join(_error(states[h]) for h in unreadable)}): must rejoin when "
                "reachable again (galera.yml or galera-recover.yml)")
        return result

    pending = [h for h in readable if states[h].get("recover_pending")]
    if pending:
        return _result("unknown", None, [], [
            f"{', '.join(pending)}: position unknown until --wsrep-recover, which check mode "
            "does not run (it replays InnoDB's logs): a real run reads it, then decides"])

    running = [h for h in readable if states[h].get("running")]
    detached = [h for h in running if position(states[h]) is None]
    if detached:
        result = _result("none", None, [], [
            f"no Primary component; {', '.join(detached)} run{'s' if len(detached) == 1 else ''}"
            " without a known position (not connected to a group, or no last committed "
            "seqno): stop to read the saved position"])
        return _stop(hosts, states, detached, result)

    if unreadable:
        return _unreadable(hosts, states, unreadable, running)

    positions, reasons, refuse = {}, [], []
    for h in hosts:
        pos = position(states[h])
        if pos is not None:
            positions[h] = pos
        elif _is_fresh(states[h]):
            reasons.append(f"{h}: no Galera state (never joined): joins by SST, not a source")
        else:
            refuse.append(f"{h}: position unknown (grastate uuid/seqno null or -1, no "
                          "--wsrep-recover position, and its data directory holds data): "
                          "cannot prove which member is newest")
    if refuse:
        raise PlanRefused(refuse + [OVERRIDE_HINT])
    if not positions:
        return _result("new_cluster", hosts[0], hosts[1:],
                       ["no member was ever part of a cluster: new cluster on "
                        f"{hosts[0]}, the others join one at a time"])
    uuids = {uuid for uuid, _ in positions.values()}
    if len(uuids) > 1:
        raise PlanRefused(["members hold different histories (cluster uuids): "
                           + ", ".join(f"{h}={u}:{s}" for h, (u, s) in positions.items())
                           + "; a member of another history is never bootstrapped or joined "
                             "automatically. " + OVERRIDE_HINT])
    top = max(seqno for _, seqno in positions.values())
    newest = [h for h in hosts if h in positions and positions[h][1] == top]
    listing = ", ".join(f"{h}={s}{' (running)' if h in running else ''}"
                        for h, (_, s) in positions.items())
    running_newest = [h for h in newest if h in running]
    if running_newest:
        chosen = running_newest[0]
        reasons.append(f"no Primary component; positions {listing}: {chosen} runs and is the "
                       f"most advanced (last committed {top}): restore the Primary component "
                       "there with pc.bootstrap")
        return _result("pc_bootstrap", chosen, [h for h in hosts if h not in running],
                       reasons)
    if running:
        result = _result("none", None, [], reasons + [
            f"no Primary component; positions {listing}: {', '.join(newest)} (stopped) "
            f"{'is' if len(newest) == 1 else 'are'} ahead of every running member; stop "
            f"{', '.join(running)} first (behind: "
            f"{'it rejoins' if len(running) == 1 else 'they rejoin'} after the bootstrap)"])
        return _stop(hosts, states, running, result)
    return _after_outage(hosts, states, positions, reasons)


def _stop(hosts, states, stop, result) -> dict:
    """Action `stop`, with `then`: the plan once those members are stopped (a member stopped
    gracefully saves its live position), or None when it cannot be predicted."""
    result.update(action="stop", stop=list(stop))
    after = dict(states)
    for h in stop:
        pos = position(states[h])
        after[h] = {"readable": True, "running": False, "datadir": states[h].get("datadir"),
                    "grastate": None if pos is None else
                    {"uuid": pos[0], "seqno": pos[1], "safe_to_bootstrap": 0}}
        if pos is None:
            after[h]["recover_pending"] = True
    try:
        then = plan(hosts, after)
        result["then"] = None if then["action"] == "unknown" else {
            k: then[k] for k in ("action", "bootstrap_host", "joiners", "reasons")}
    except PlanRefused as exc:
        result["then"] = {"action": "refused", "bootstrap_host": None, "joiners": [],
                          "reasons": exc.reasons}
    if result["then"] is None:
        result["reasons"].append("then: read the stopped members' saved positions and "
                                 "plan again")
    else:
        result["reasons"].append(f"then: {result['then']['action']} "
                                 f"{result['then']['bootstrap_host'] or ''}".rstrip())
    return result


def _unreadable(hosts, states, unreadable, running) -> dict:
    """No Primary component and members that cannot be read: the running members may act
    only if they are proven a strict majority of the last Primary view."""
    reasons = [f"cannot read the Galera state of {h}: {_error(states[h])}" for h in unreadable]
    proof = _last_view_majority(running, states)
    if proof is None:
        raise PlanRefused(reasons + [
            "without every member's state the newest member cannot be proven (the running "
            "members are not proven a majority of the last Primary view); "
            "bring the member back, or " + OVERRIDE_HINT])
    best = max(running, key=lambda h: (position(states[h])[1], -hosts.index(h)))
    uuids = {position(states[h])[0] for h in running}
    if len(uuids) > 1:
        raise PlanRefused(reasons + [f"running members hold different histories {sorted(uuids)}: "
                                     + OVERRIDE_HINT])
    result = _result("pc_bootstrap", best, [h for h in hosts
                                            if h not in running and h not in unreadable], [
        f"{', '.join(unreadable)} unreadable, but {proof}: every acknowledged write-set "
        f"reached each of them; {best} is the most advanced (last committed "
        f"{position(states[best])[1]}): restore the Primary component there with pc.bootstrap",
        f"{', '.join(unreadable)} must rejoin when reachable again (galera.yml or "
        "galera-recover.yml)"])
    return result


def _last_view_majority(running, states) -> str | None:
    """Proof that the running members are a strict majority of the last Primary view, and
    were all in it: they report the same last Primary view (gvwstate.dat) and their own
    node uuid in it. A later Primary view would need a majority of that view, so one of
    them would know it."""
    views = [(states[h].get("gvwstate") or {}) for h in running]
    if not running or not all(v.get("view_id") for v in views):
        return None
    if len({v["view_id"] for v in views}) != 1:
        return None
    members = set(views[0]["members"])
    if not all(v.get("my_uuid") in members for v in views):
        return None
    if 2 * len(running) <= len(members):
        return None
    return (f"{', '.join(running)} run and are {len(running)} of the {len(members)} members "
            f"of the last Primary view {views[0]['view_id']}")


def _with_primary(hosts, states) -> dict:
    """A Primary component runs among `hosts`: nothing or joins, never a bootstrap; a member
    ahead of it or on another history is refused."""
    primary = [h for h in hosts if _is_primary(states[h])]
    uuids = {states[h]["status"].get("wsrep_cluster_state_uuid") for h in primary}
    if len(uuids) > 1:
        raise PlanRefused([f"members run in different Primary components {sorted(uuids)} "
                           "(split cluster): stop the wrong side by hand first"])
    history = next(iter(uuids))
    head = max(_int(states[h]["status"].get("wsrep_last_committed"), -1) for h in primary)
    diverged, ahead = [], []
    for h in hosts:
        if h in primary:
            continue
        pos = position(states[h])
        if pos is None:
            continue  # fresh, detached or stopped without a position: it gets a transfer
        if pos[0] != history:
            diverged.append(f"{h} holds history {pos[0]}:{pos[1]}, not the running Primary "
                            f"component's {history}: joining would wipe it by SST")
        elif pos[1] > head:
            ahead.append(f"{h} holds seqno {pos[1]}, ahead of the running Primary component "
                         f"({', '.join(primary)}, last committed {head}): joining would "
                         "discard its newer commits by SST")
    if ahead:
        raise PlanRefused(diverged + ahead + [
            "the running Primary component is behind: stop it and run galera-recover.yml "
            "(the newest member is then the source), or " + OVERRIDE_HINT])
    if diverged:
        raise PlanRefused(diverged + [
            "a member of another history is never joined automatically; to resync it from "
            "the running component (its data directory is moved aside first): "
            f"pilotstack_galera_bootstrap_host={primary[0]} "
            "pilotstack_galera_accept_data_loss=true"])
    synced = [h for h in primary
              if states[h]["status"].get("wsrep_local_state_comment") == "Synced"]
    joiners = [h for h in hosts if h not in primary]
    if not joiners and len(synced) == len(hosts):
        return _result("none", None, [], ["every member is Synced in one Primary "
                                          "component"], sql_host=(synced or primary)[0])
    return _result("join", None, joiners,
                   [f"Primary component runs on {', '.join(primary)} (last committed {head}); "
                    f"{', '.join(joiners) or 'no member'} to (re)join one at a time"],
                   sql_host=(synced or primary)[0])


def _after_outage(hosts, states, positions, reasons) -> dict:
    top = max(seqno for _, seqno in positions.values())
    safe = [h for h in positions
            if (states[h].get("grastate") or {}).get("safe_to_bootstrap") == 1]
    if len(safe) > 1:
        raise PlanRefused([f"several members claim safe_to_bootstrap=1 ({', '.join(safe)}): "
                           "grastate.dat was edited by hand? " + OVERRIDE_HINT])
    if safe:
        chosen = safe[0]
        if positions[chosen][1] < top:
            raise PlanRefused([f"{chosen} has safe_to_bootstrap=1 but seqno "
                               f"{positions[chosen][1]} is behind seqno {top} on "
                               + ", ".join(h for h, p in positions.items() if p[1] == top)
                               + ": inconsistent state. " + OVERRIDE_HINT])
        why = f"{chosen} has safe_to_bootstrap=1 (seqno {positions[chosen][1]}, the highest)"
    else:
        chosen = next(h for h in hosts if h in positions and positions[h][1] == top)
        tied = [h for h in positions if positions[h][1] == top]
        why = (f"{chosen} has the highest seqno {top}"
               + (f" (tied with {', '.join(t for t in tied if t != chosen)}: same data)"
                  if len(tied) > 1 else ""))
    reasons.append(f"total outage, cluster {positions[chosen][0]}: positions "
                   + ", ".join(f"{h}={s}" for h, (_, s) in positions.items()) + "; " + why)
    result = _result("bootstrap", chosen, [h for h in hosts if h != chosen], reasons)
    _bootstrap_at(result, positions[chosen])
    return result


def _forced(hosts, states, chosen) -> dict:
    """The operator's override: bootstrap `chosen` whatever the others hold. Every running
    member outside its component is stopped; every member ahead of it, diverged from it or
    of unknown position is resynced (data directory moved aside, full SST)."""
    state = states.get(chosen) or {}
    if not state.get("readable"):
        raise PlanRefused([f"cannot read the Galera state of the chosen host {chosen}: "
                           f"{_error(state)}"])
    mine = position(state)
    if mine is None and not _is_fresh(state) and not state.get("recover_pending"):
        raise PlanRefused([f"the chosen host {chosen} has no known position (running "
                           "outside any group, or nothing saved): stop it and run again, "
                           "so that --wsrep-recover reads it"])
    reasons = [f"operator override: {chosen} is the source (data loss accepted)"]
    primary = _is_primary(state)
    stop, resync, later = [], [], []
    for h in hosts:
        if h == chosen:
            continue
        st = states.get(h) or {}
        if not st.get("readable"):
            later.append(h)
            reasons.append(f"{h} unreadable ({_error(st)}): when it is back, run "
                           "galera-recover.yml again; if it is ahead it is refused then")
            continue
        pos = position(st)
        if st.get("running") and not (primary and _is_primary(st) and pos is not None
                                      and mine is not None and pos[0] == mine[0]):
            stop.append(h)
        if _is_fresh(st):
            continue
        if pos is None:
            resync.append(h)
            reasons.append(f"{h}: position unknown: resynced (data directory moved aside, "
                           "full SST)")
        elif mine is None or pos[0] != mine[0]:
            resync.append(h)
            reasons.append(f"{h} holds history {pos[0]}:{pos[1]}, not {chosen}'s: resynced "
                           "(data directory moved aside, full SST)")
        elif pos[1] > mine[1]:
            resync.append(h)
            reasons.append(f"{h} holds seqno {pos[1]} > {mine[1]} on {chosen}: its newer "
                           "commits are discarded (data directory moved aside, full SST)")
    if primary:
        action = "join"
    elif state.get("running"):
        action = "pc_bootstrap"
    else:
        action = "bootstrap"
    joiners = [h for h in hosts if h != chosen and h not in later
               and not (primary and h not in stop and _is_primary(states[h]))]
    result = _result(action, None if primary else chosen, joiners, reasons,
                     sql_host=chosen)
    result.update(stop=stop, resync=resync)
    if action == "bootstrap" and mine is not None:
        _bootstrap_at(result, mine)
    return result


def _bootstrap_at(result: dict, pos: tuple[str, int]) -> None:
    result["bootstrap_position"] = {"uuid": pos[0], "seqno": pos[1]}
    result["bootstrap_grastate"] = render_grastate(pos[0], pos[1])


def _result(action, host, joiners, reasons, sql_host=None) -> dict:
    return {"action": action, "bootstrap_host": host, "bootstrap_position": None,
            "bootstrap_grastate": None,
            "joiners": joiners, "stop": [], "resync": [], "then": None,
            "sql_host": sql_host or host, "reasons": reasons}


def _int(value, default: int) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default
