"""The health rules of module_utils for the roles' Jinja: a role's gate asks the same
function `pilotstack status` and the drills ask, so they never disagree.

  pilotstack_galera_member_problems(status, size)   why a member is not healthy
  pilotstack_galera_cluster_problems(results, members)   why the cluster is not whole
        (results: a looped pilotstack_galera_state's .results, each with .item)
  pilotstack_haproxy_server_status(show_stat, proxy, server)   UP, DOWN, MAINT, ...
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_DIR = Path(__file__).resolve().parents[1] / "module_utils"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"pilotstack_filter_{name}",
                                                  _DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


galera = _load("pilotstack_galera")
haproxy = _load("pilotstack_haproxy")


def pilotstack_galera_member_problems(status, size) -> list[str]:
    return galera.member_problems(status or {}, int(size))


def pilotstack_galera_cluster_problems(results, members) -> list[str]:
    statuses = {r.get("item"): (r.get("status") or {}) for r in results or []}
    return galera.cluster_problems(statuses, list(members))


def pilotstack_haproxy_server_status(show_stat: str, proxy: str, server: str) -> str:
    """The server's status, or MISSING when the proxy has no such server."""
    return haproxy.server_status(show_stat or "", proxy).get(server, "MISSING")


class FilterModule:
    def filters(self):
        return {
            "pilotstack_galera_member_problems": pilotstack_galera_member_problems,
            "pilotstack_galera_cluster_problems": pilotstack_galera_cluster_problems,
            "pilotstack_haproxy_server_status": pilotstack_haproxy_server_status,
        }
