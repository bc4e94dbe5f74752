"""The health rules of module_utils for the roles' Jinja: a role's gate asks the same
function `pilotstack status` and the drills ask, so they never disagree.

  pilotstack_galera_member_problems(status, size)   why a member is not healthy
  pilotstack_galera_cluster_problems(results, members)   why the cluster is not whole
        (results: a looped pilotstack_galera_state's .results, each with .item)
  pilotstack_haproxy_server_status(show_stat, proxy, server)   UP, DOWN, MAINT, ...
"""

from __future__ import annotations

from pathlib import Path

import ansible.module_utils

# The project's module_utils, importable as Ansible's modules import them (on the hosts
# Ansible ships them; on the controller a plugin needs the path).
_DIR = str(Path(__file__).resolve().parents[1] / "module_utils")
if _DIR not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_DIR)

from ansible.module_utils import pilotstack_galera as galera  # noqa: E402
from ansible.module_utils import pilotstack_haproxy as haproxy  # noqa: E402


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
