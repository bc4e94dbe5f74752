"""Galera settings checked before any member is touched.

Galera reads its gcomm timers only when the server starts, and refuses some values then:
`evs.join_retrans_period` below PT0.1S stopped a member half-way through a rolling restart
on the testbed. The role's validate step asks these filters first, so a bad value stops
the run while every member still runs the old configuration.
"""

from __future__ import annotations

import re

# ISO 8601 durations as Galera writes them: PT5S, PT0.2S, PT1M30S, P1D.
_PERIOD_RE = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?$")

# The smallest value each period may take (Galera's own floor for join_retrans_period;
# the same floor for the other polling periods, which are measured against it).
MINIMUM_S = {
    "evs_join_retrans_period": 0.1,
    "evs_keepalive_period": 0.1,
    "evs_inactive_check_period": 0.1,
    "evs_suspect_timeout": 0.1,
    "evs_inactive_timeout": 0.1,
}


def period_seconds(text) -> float | None:
    """Seconds in an ISO 8601 duration; None when it is not one."""
    match = _PERIOD_RE.match(str(text).strip())
    if not match or str(text).strip() in ("P", "PT"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return (parts.get("d", 0) * 86400 + parts.get("h", 0) * 3600 + parts.get("m", 0) * 60
            + parts.get("s", 0))


def pilotstack_galera_gcomm_problems(periods: dict) -> list[str]:
    """Problems with the role's gcomm periods (keys without the `galera_` prefix, e.g.
    evs_suspect_timeout); an empty list when Galera will accept them and they make sense
    together: a member is suspected only after several keepalives and inactivity checks,
    and declared inactive no sooner than suspected."""
    problems, secs = [], {}
    for name, value in sorted(periods.items()):
        seconds = period_seconds(value)
        if seconds is None:
            problems.append(f"galera_{name}={value!r} is not an ISO 8601 duration (e.g. PT0.5S)")
            continue
        secs[name] = seconds
        floor = MINIMUM_S.get(name)
        if floor is not None and seconds < floor:
            problems.append(f"galera_{name}={value} is below PT{floor:g}S, which Galera "
                            "refuses when the server starts")
    suspect = secs.get("evs_suspect_timeout")
    if suspect is not None:
        inactive = secs.get("evs_inactive_timeout")
        if inactive is not None and inactive < suspect:
            problems.append("galera_evs_inactive_timeout must not be shorter than "
                            "galera_evs_suspect_timeout")
        for name in ("evs_keepalive_period", "evs_inactive_check_period",
                     "evs_join_retrans_period"):
            if name in secs and secs[name] * 2 > suspect:
                problems.append(f"galera_{name} must be at most half of "
                                "galera_evs_suspect_timeout (a member would be suspected "
                                "after a single missed message)")
    return problems


class FilterModule:
    def filters(self):
        return {"pilotstack_galera_gcomm_problems": pilotstack_galera_gcomm_problems}
