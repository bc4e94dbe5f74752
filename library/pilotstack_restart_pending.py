"""Ansible module: does a running service still run an older configuration?"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pilotstack_restart_pending
short_description: Tell whether a running service started before its configuration was written
description:
  - Compares the modification time of each configuration file with the start time of the
    service's main process (from /proc). A file written after the process started means a
    restart is pending.
  - Stateless on purpose. A run that wrote a new configuration and stopped before the
    restart (a failed gate, a lost connection) leaves nothing to forget, since the next run finds
    the file newer than the process and restarts it.
  - Why a custom module? Neither systemd nor Ansible's service modules compare a unit's
    start with its files; a handler that did not run is forgotten by the next run.
  - Never changes anything and never reports C(changed).
version_added: "0.1.0"
author: pilotstack developers
options:
  service:
    description: The systemd unit.
    type: str
    required: true
  config_files:
    description: The configuration files the running service read when it started.
    type: list
    elements: path
    required: true
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Configure | is a restart still pending from an earlier run
  pilotstack_restart_pending:
    service: rabbitmq-server
    config_files: [/etc/rabbitmq/rabbitmq.conf]
  register: __pending
"""

RETURN = r"""
pending:
  description: The service runs and one of the files was written after it started.
  type: bool
  returned: always
newer:
  description: The files written after the service started.
  type: list
  elements: str
  returned: always
started:
  description: Epoch seconds at which the main process started; null when not running.
  type: float
  returned: always
why:
  description: A sentence saying which file is newer than which process, when pending.
  type: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.pilotstack_service import file_mtime, restart_pending  # noqa: E402


def main() -> None:
    module = AnsibleModule(
        argument_spec={"service": {"type": "str", "required": True},
                       "config_files": {"type": "list", "elements": "path",
                                        "required": True}},
        supports_check_mode=True,
    )

    def read(path):
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except OSError:
            return None

    result = restart_pending(module.run_command, read, file_mtime, module.params["service"],
                             module.params["config_files"])
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
