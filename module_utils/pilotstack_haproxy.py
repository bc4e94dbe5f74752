"""HAProxy's runtime state, read one way everywhere: `show stat` by column name (its CSV
header names them; positions change between HAProxy versions) and `show table` for the
stick table that keeps one Galera writer. Used by `pilotstack status`, the role's
wait-until-UP/DOWN tasks (filter_plugins/pilotstack_mu.py) and the drills."""

from __future__ import annotations

import re

STICK_RE = re.compile(r"key=(\S+).*?server_id=(\d+)")
TABLE_MARK = "#table"


def parse_stat(text: str) -> list[dict[str, str]]:
    """`show stat` CSV -> one dict per line, keyed by the header's column names."""
    header: list[str] | None = None
    rows = []
    for line in text.splitlines():
        if line.startswith("# "):
            header = line[2:].rstrip(",").split(",")
            continue
        if not line.strip() or header is None:
            continue
        rows.append(dict(zip(header, line.split(","), strict=False)))
    return rows


def servers(text: str, proxy: str) -> list[dict[str, str]]:
    """The server lines of one proxy (no FRONTEND/BACKEND lines), in HAProxy's order."""
    return [r for r in parse_stat(text) if r.get("pxname") == proxy
            and r.get("svname") not in ("FRONTEND", "BACKEND")]


def server_status(text: str, proxy: str) -> dict[str, str]:
    """server -> status (UP, DOWN, MAINT, NOLB, "UP 1/2", ...) of one proxy."""
    return {r["svname"]: r.get("status", "") for r in servers(text, proxy)}


def stuck_server_ids(table_text: str) -> set[str]:
    """Server ids a stick table's entries point at (`show table <proxy>`)."""
    return {m[2] for m in STICK_RE.finditer(table_text)}


def writer(text: str, proxy: str = "galera") -> tuple[str | None, dict[str, str]]:
    """The server a single-writer proxy sends writes to, from `show stat` followed by a
    '#table' line and `show table <proxy>`: the stuck server when it is UP; else the active
    (non-backup) server UP; else the first backup UP (HAProxy's order). With every
    server's status."""
    stat, _, table = text.partition(TABLE_MARK)
    rows = servers(stat, proxy)
    up = [r for r in rows if r.get("status", "").startswith("UP")]
    stuck = stuck_server_ids(table)
    chosen = (next((r["svname"] for r in up if r.get("sid") in stuck), None)
              or next((r["svname"] for r in up if r.get("bck") != "1"), None)
              or next((r["svname"] for r in up), None))
    return chosen, {r["svname"]: r.get("status", "") for r in rows}
