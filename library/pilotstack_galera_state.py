#!/usr/bin/python
"""Ansible module: read one Galera member's state (live wsrep status or saved position)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pilotstack_galera_state
short_description: Read a MariaDB Galera member's state for gates and recovery plans
description:
  - When the server runs, returns its live C(wsrep_%) status (cluster status, local state,
    size, last committed, cluster state uuid).
  - Always returns C(grastate.dat) (uuid, seqno, safe_to_bootstrap) and C(gvwstate.dat)
    (the last Primary view this member saw) when they exist, and what the data directory
    holds (so that a member that held data is never taken for one that never joined).
  - When the server is stopped, its saved seqno is -1 and I(recover=true), runs
    C(mariadbd --wsrep-recover) to find the last committed position, as the server itself
    would on its next start (InnoDB crash recovery), and returns it.
  - Why a custom module? community.mysql has no Galera state reader, and the same
    structured result feeds the health gate, the bootstrap plan and C(pilotstack status).
  - Never changes configuration and never reports C(changed).
version_added: "0.1.0"
author: pilotstack developers
options:
  datadir:
    description: MariaDB data directory.
    type: path
    default: /var/lib/mysql
  service:
    description: systemd unit of the server.
    type: str
    default: mariadb
  recover:
    description: Run C(mariadbd --wsrep-recover) on a stopped server whose saved seqno is -1.
    type: bool
    default: false
  config_files:
    description:
      - The server's configuration files. A running server whose main process started
        before one of them was last written has a restart pending (C(restart_pending));
        a run that changed the file and failed before the restart is finished by the next
        one (module_utils/pilotstack_service.py).
    type: list
    elements: path
    default: []
  drain_file:
    description:
      - The health endpoint's maintenance file. C(drained) says who wrote it, if it
        exists; the role writes its own with a C(pilotstack:) first line.
    type: path
attributes:
  check_mode:
    support: full
    description:
      - Reads only. C(--wsrep-recover) replays InnoDB's logs, so check mode does not run it
        and returns C(recover_pending=true) instead; the plan then says the outcome is
        unknown until a real run reads the position.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Galera | read every member's state
  pilotstack_galera_state:
    recover: true
  register: __galera_state
"""

RETURN = r"""
readable:
  description: Whether the state could be read; C(error) says why not.
  type: bool
  returned: always
running:
  description: The server's unit is active and answers SQL.
  type: bool
  returned: always
starting:
  description: The unit is still activating (e.g. waiting for its Primary component).
  type: bool
  returned: always
status:
  description: Live C(wsrep_%) status, names lower-cased (empty when stopped).
  type: dict
  returned: always
grastate:
  description: Parsed grastate.dat (uuid, seqno, safe_to_bootstrap); null when absent.
  type: dict
  returned: always
gvwstate:
  description: Parsed gvwstate.dat (my_uuid, view_id, members); null when absent.
  type: dict
  returned: always
datadir:
  description: Entries of the data directory that tell whether it held cluster data
    (C(galera.cache), C(gvwstate.dat), C(dir:<schema>) for each database directory).
  type: list
  elements: str
  returned: always
recover_pending:
  description: Check mode only, C(--wsrep-recover) would have run; the position is unknown.
  type: bool
  returned: always
recovered:
  description: Position found by C(--wsrep-recover) (uuid, seqno, prepared_transactions).
  type: dict
  returned: when recovered
restart_pending:
  description: The running server started before one of I(config_files) was last written.
  type: bool
  returned: always
restart_pending_why:
  description: Which file is newer than the server's process, when C(restart_pending).
  type: str
  returned: always
drained:
  description: C(pilotstack) when the role's drain file exists, C(operator) when one
    written by hand exists, null when none does.
  type: str
  returned: always
commands:
  description: Every command run, for the audit trail.
  type: list
  elements: list
  returned: always
"""

import os  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.pilotstack_galera import (  # noqa: E402
    DATA_MARKERS,
    holds_data,
    parse_grastate,
    parse_gvwstate,
    parse_recovered,
    parse_status,
    position,
)
from ansible.module_utils.pilotstack_service import (  # noqa: E402
    drain_owner,
    file_mtime,
    restart_pending,
)

STATUS_SQL = "SHOW GLOBAL STATUS LIKE 'wsrep_%'"


def gather(run, read, datadir: str, service: str, recover: bool, listdir=None,
           check_mode: bool = False) -> dict:
    """Pure logic over an injected runner: run(argv) -> (rc, out, err); read(path) -> text
    or None when the file does not exist; listdir(path) -> [(name, is_dir)]."""
    result = {"readable": True, "running": False, "starting": False, "status": {},
              "grastate": None, "gvwstate": None, "datadir": [], "recover_pending": False,
              "recovered": None, "error": None}
    rc, out, _ = run(["systemctl", "is-active", service])
    if out.strip() == "activating":
        # A member waiting for its Primary component (pc.recovery after a power cut) holds
        # the datadir and answers no SQL: neither its live status nor --wsrep-recover works.
        result.update(readable=False, starting=True,
                      error=f"{service} is still starting (waiting for its Primary "
                            "component?): it holds the datadir; stop it to read its position")
        return result
    if rc == 0:
        rc, out, err = run(["mysql", "--batch", "--skip-column-names", "-e", STATUS_SQL])
        if rc != 0:
            result.update(readable=False, error=f"{service} is active but does not answer "
                                                f"SQL: {err.strip() or out.strip()}")
            return result
        result["running"] = True
        result["status"] = parse_status(out)
    text = read(os.path.join(datadir, "grastate.dat"))
    if text is not None:
        result["grastate"] = parse_grastate(text)
    text = read(os.path.join(datadir, "gvwstate.dat"))
    if text is not None:
        result["gvwstate"] = parse_gvwstate(text)
    result["datadir"] = sorted(
        (f"dir:{name}" if is_dir else name) for name, is_dir in (listdir or _listdir)(datadir)
        if is_dir or name in DATA_MARKERS)
    saved = result["grastate"] or holds_data(result["datadir"])
    if not result["running"] and recover and saved and position(result) is None:
        if check_mode:
            result["recover_pending"] = True
            return result
        with tempfile.NamedTemporaryFile(prefix="wsrep-recover-", suffix=".log") as log:
            os.chmod(log.name, 0o666)  # mariadbd writes it as the mysql user
            rc, out, err = run(["mariadbd", "--user=mysql", f"--datadir={datadir}",
                                "--wsrep-recover", f"--log-error={log.name}"])
            recovered = parse_recovered((read(log.name) or "") + out + err)
        if recovered is None:
            result.update(readable=False, error=f"--wsrep-recover found no position (exit {rc})")
        result["recovered"] = recovered
    return result


def _listdir(path: str) -> list[tuple[str, bool]]:
    try:
        return [(e.name, e.is_dir()) for e in os.scandir(path)]
    except FileNotFoundError:
        return []


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "datadir": {"type": "path", "default": "/var/lib/mysql"},
            "service": {"type": "str", "default": "mariadb"},
            "recover": {"type": "bool", "default": False},
            "config_files": {"type": "list", "elements": "path", "default": []},
            "drain_file": {"type": "path"},
        },
        supports_check_mode=True,
    )
    commands = []

    def run(argv):
        commands.append(argv)
        return module.run_command(argv)

    def read(path):
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            module.fail_json(msg=f"cannot read {path}: {exc}", commands=commands)

    result = gather(run, read, module.params["datadir"], module.params["service"],
                    module.params["recover"], check_mode=module.check_mode)
    pending = {"pending": False, "why": None}
    if result["running"] and module.params["config_files"]:
        pending = restart_pending(run, read, file_mtime, module.params["service"],
                                  module.params["config_files"])
    result.update(restart_pending=pending["pending"], restart_pending_why=pending["why"],
                  drained=drain_owner(read(module.params["drain_file"]))
                  if module.params["drain_file"] else None)
    module.exit_json(changed=False, commands=commands, **result)


if __name__ == "__main__":
    main()
