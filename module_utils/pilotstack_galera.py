"""Galera state parsing and the bootstrap decision: pure functions, no Ansible, no hosts.

The rules combine kolla-ansible's recovery flow with the Pacemaker galera agent's safety
checks, and fail closed where both guess:
  * the state of EVERY member must be known; one unreadable node stops the plan;
  * a live Primary component is joined, never re-bootstrapped;
  * running members that are all non-Primary are restored with pc.bootstrap on the most
    advanced of them (not a new cluster);
  * after a total outage: a null uuid or seqno -1 is never a source; all known positions
    must share one cluster uuid; safe_to_bootstrap=1 is preferred (and must not be behind
    another member), else the highest seqno; equal positions mean equal data (first in
    inventory order);
  * the only override is an explicit bootstrap host AND an explicit accept-data-loss flag.
"""

from __future__ import annotations

import re

NULL_UUID = "00000000-0000-0000-0000-000000000000"
OVERRIDE_HINT = ("override (only if you accept losing what other nodes may hold): "
                 "pilotstack_galera_bootstrap_host=<host> pilotstack_galera_accept_data_loss=true")
RECOVERED_RE = re.compile(r"WSREP: Recovered position:?\s+([0-9a-f-]{36}):(-?\d+)")
PREPARED_RE = re.compile(r"Found (\d+) prepared transactions?")


class PlanRefused(Exception):
    """No plan can be proven safe; `reasons` says why."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("; ".join(reasons))


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


def position(state: dict) -> tuple[str, int] | None:
    """A stopped node's last committed position: grastate when it has one, else what
    --wsrep-recover found; None when unknown."""
    gra = state.get("grastate")
    if gra and gra["uuid"] != NULL_UUID and gra["seqno"] != -1:
        return gra["uuid"], gra["seqno"]
    rec = state.get("recovered")
    if rec and rec["uuid"] != NULL_UUID and rec["seqno"] != -1:
        return rec["uuid"], rec["seqno"]
    return None


def _is_fresh(state: dict) -> bool:
    """Never part of a cluster: no grastate and nothing recovered."""
    return not state.get("grastate") and not state.get("recovered")


def plan(hosts: list[str], states: dict, bootstrap_host: str | None = None,
         accept_data_loss: bool = False) -> dict:
    """Decide how to bring the cluster `hosts` (inventory order) up from `states`.

    states: host -> {readable, error?, running, status?, grastate?, recovered?}.
    Returns {action, bootstrap_host, joiners, sql_host, reasons}; sql_host is the member
    that runs in the Primary component once the plan's first step is done (where accounts
    are managed before any joiner needs them); action is one of
      none          every member is running Synced in one Primary component
      join          a Primary component runs; `joiners` start one at a time
      pc_bootstrap  running members are all non-Primary; restore on `bootstrap_host`
      new_cluster   no member was ever part of a cluster: bootstrap the first
      bootstrap     total outage: bootstrap `bootstrap_host`, then `joiners` one at a time
    Raises PlanRefused when no plan can be proven safe.
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

    unreadable = [h for h in hosts if not (states.get(h) or {}).get("readable")]
    majority = _running_non_primary_majority(hosts, states)
    if unreadable and majority:
        # Every acknowledged write-set was delivered to all members of the last Primary
        # view, and any majority includes one of them: the most advanced running member
        # holds every acknowledged commit, whatever the unreadable members hold.
        result = _pc_bootstrap(hosts, states, majority)
        result["reasons"].insert(0, f"{', '.join(unreadable)} unreadable, but "
                                    f"{len(majority)} of {len(hosts)} members run: a majority")
        # An unreadable member cannot be started from here: it rejoins when it is back.
        result["joiners"] = [h for h in result["joiners"] if h not in unreadable]
        result["reasons"].append(f"{', '.join(unreadable)} must rejoin when reachable again "
                                 "(galera.yml or galera-recover.yml)")
        return result
    readable = [h for h in hosts if h not in unreadable]
    if unreadable and any(_is_primary(states[h]) for h in readable):
        # A Primary component runs: nothing needs to be bootstrapped, so what the unreadable
        # members hold cannot change the decision. They rejoin when they are back.
        result = _with_primary(readable, states)
        result["reasons"].append(
            f"{', '.join(unreadable)} unreadable "
            f"({'; '.join((states.get(h) or {}).get('error') or 'no answer' for h in unreadable)})"
            ": must rejoin when reachable again (galera.yml or galera-recover.yml)")
        return result
    if unreadable:
        raise PlanRefused([f"cannot read the Galera state of {h}: "
                           f"{(states.get(h) or {}).get('error') or 'no answer'}"
                           for h in unreadable] + [
            "without every member's state the newest node cannot be proven; " + OVERRIDE_HINT])

    running = [h for h in hosts if states[h].get("running")]
    if any(_is_primary(states[h]) for h in running):
        return _with_primary(hosts, states)
    if running:
        return _pc_bootstrap(hosts, states, running)

    if all(_is_fresh(states[h]) for h in hosts):
        return _result("new_cluster", hosts[0], hosts[1:],
                       ["no member was ever part of a cluster: new cluster on "
                        f"{hosts[0]}, the others join one at a time"])
    return _after_outage(hosts, states)


def _is_primary(state: dict) -> bool:
    return bool(state.get("running")) and (
        state.get("status", {}).get("wsrep_cluster_status") == "Primary")


def _with_primary(hosts, states) -> dict:
    """A Primary component runs among `hosts`: nothing or joins, never a bootstrap."""
    primary = [h for h in hosts if _is_primary(states[h])]
    uuids = {states[h]["status"].get("wsrep_cluster_state_uuid") for h in primary}
    if len(uuids) > 1:
        raise PlanRefused([f"members run in different Primary components {sorted(uuids)} "
                           "(split cluster): stop the wrong side by hand first"])
    synced = [h for h in primary
              if states[h]["status"].get("wsrep_local_state_comment") == "Synced"]
    joiners = [h for h in hosts if h not in primary]
    if not joiners and len(synced) == len(hosts):
        return _result("none", None, [], ["every member is Synced in one Primary "
                                          "component"], sql_host=(synced or primary)[0])
    return _result("join", None, joiners,
                   [f"Primary component runs on {', '.join(primary)}; "
                    f"{', '.join(joiners) or 'no member'} to (re)join one at a time"],
                   sql_host=(synced or primary)[0])


def _running_non_primary_majority(hosts, states) -> list[str]:
    """Members that run and answer, none of them Primary, when they are a strict majority."""
    running = [h for h in hosts if (states.get(h) or {}).get("readable")
               and states[h].get("running")]
    if any(states[h].get("status", {}).get("wsrep_cluster_status") == "Primary"
           for h in running):
        return []
    return running if 2 * len(running) > len(hosts) else []


def _pc_bootstrap(hosts, states, running) -> dict:
    best, reasons = None, []
    uuids = {states[h]["status"].get("wsrep_cluster_state_uuid") for h in running}
    if len(uuids) > 1:
        raise PlanRefused([f"running non-Primary members disagree on the cluster uuid "
                           f"{sorted(u for u in uuids if u)}: " + OVERRIDE_HINT])
    for h in running:
        committed = _int(states[h]["status"].get("wsrep_last_committed"), -1)
        if committed < 0:
            raise PlanRefused([f"{h} runs non-Primary and does not report "
                               "wsrep_last_committed: " + OVERRIDE_HINT])
        if best is None or committed > best[1]:
            best = (h, committed)
    reasons.append(f"no Primary component; running members {', '.join(running)} are "
                   f"non-Primary; {best[0]} is the most advanced (last committed {best[1]}): "
                   "restore the Primary component there with pc.bootstrap")
    joiners = [h for h in hosts if h not in running]
    return _result("pc_bootstrap", best[0], joiners, reasons)


def _after_outage(hosts, states) -> dict:
    reasons, refuse = [], []
    positions = {}
    for h in hosts:
        if _is_fresh(states[h]):
            reasons.append(f"{h}: no Galera state (never joined): joins by SST, not a source")
            continue
        pos = position(states[h])
        if pos is None:
            refuse.append(f"{h}: position unknown (grastate uuid/seqno null or -1 and no "
                          "--wsrep-recover position): cannot prove which node is newest")
            continue
        positions[h] = pos
    if refuse:
        raise PlanRefused(refuse + [OVERRIDE_HINT])
    uuids = {uuid for uuid, _ in positions.values()}
    if len(uuids) > 1:
        raise PlanRefused(["members belong to different clusters: "
                           + ", ".join(f"{h}={u}" for h, (u, _) in positions.items())
                           + "; a node from another cluster must be wiped by hand, never "
                             "bootstrapped automatically"])
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
    reasons.append(f"total outage, cluster {next(iter(uuids))}: positions "
                   + ", ".join(f"{h}={s}" for h, (_, s) in positions.items()) + "; " + why)
    return _result("bootstrap", chosen, [h for h in hosts if h != chosen], reasons)


def _forced(hosts, states, chosen) -> dict:
    state = states.get(chosen) or {}
    if not state.get("readable"):
        raise PlanRefused([f"cannot read the Galera state of the chosen host {chosen}: "
                           f"{state.get('error') or 'no answer'}"])
    reasons = [f"operator override: bootstrap {chosen} (data loss accepted)"]
    mine = position(state)
    for h in hosts:
        other = position(states.get(h) or {}) if (states.get(h) or {}).get("readable") else None
        if h != chosen and other and mine and other[1] > mine[1]:
            reasons.append(f"{h} holds seqno {other[1]} > {mine[1]} on {chosen}: its newer "
                           "commits will be discarded by SST")
    return _result("bootstrap", chosen, [h for h in hosts if h != chosen], reasons)


def _result(action, host, joiners, reasons, sql_host=None) -> dict:
    return {"action": action, "bootstrap_host": host, "joiners": joiners,
            "sql_host": sql_host or host, "reasons": reasons}


def _int(value, default: int) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default
