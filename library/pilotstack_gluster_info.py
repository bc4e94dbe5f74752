#!/usr/bin/python
"""Ansible module: read-only state of the GlusterFS pool and volumes."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pilotstack_gluster_info
short_description: Report GlusterFS peers, bricks online, heal and split-brain counts
description:
  - Reads the pool (C(gluster pool list)), and for each volume its layout (C(volume info)),
    which bricks are online (C(volume status)) and the entries each brick has to heal or
    holds in split-brain (C(volume heal VOL info summary)). Never changes anything.
  - I(problems) lists what forbids a restart or a layout change (peers disconnected, a
    volume not started, bricks offline, entries to heal or in split-brain). The health gate,
    the replica migration and C(pilotstack status) all read it.
version_added: "0.1.0"
author: pilotstack developers
options:
  volumes:
    description: Volumes to report (default every volume).
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Gate | state of the volumes
  pilotstack_gluster_info:
  register: gluster
  until: gluster.problems | length == 0
  retries: 60
  delay: 5
"""

RETURN = r"""
peers:
  description: Every member of the pool (uuid, hostname, connected), this server as localhost.
  type: list
  returned: always
volumes:
  description: name -> status, type, replica, bricks, options, online (brick -> bool),
    heal (brick -> connected, pending, split_brain, healing, total), problems, to_heal
    (entries still to heal, every brick), settling (true when the only problem is such a
    backlog, which the self-heal daemon drains by itself, so waiting can help).
  type: dict
  returned: always
problems:
  description: Everything that is not healthy (empty when healthy).
  type: list
  elements: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.pilotstack_gluster import (  # noqa: E402
    CliError,
    parse_heal_summary,
    parse_pool,
    parse_volume_info,
    parse_volume_status,
    read_xml,
    settling,
    to_heal,
    volume_health,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={"volumes": {"type": "list", "elements": "str", "default": []}},
        supports_check_mode=True,
    )

    def read(*args: str) -> str:
        return read_xml(module, *args)

    try:
        peers = parse_pool(read("pool", "list"))
        every = parse_volume_info(read("volume", "info"))
    except CliError as exc:
        module.fail_json(msg=f"glusterd does not answer: {exc}")
    problems = [f"peer {p['hostname']} is disconnected" for p in peers if not p["connected"]]
    wanted = module.params["volumes"] or sorted(every)
    volumes = {}
    for name in wanted:
        info = every.get(name)
        status = heal = None
        if info is not None and info["status"] == "Started":
            try:
                status = parse_volume_status(read("volume", "status", name))
            except CliError:
                status = None
            try:
                heal = parse_heal_summary(read("volume", "heal", name, "info", "summary"))
            except CliError:
                heal = None
        found = volume_health(name, info, status, heal)
        problems += found
        volumes[name] = {**(info or {}), "online": (status or {}).get("bricks", {}),
                         "heal": heal or {}, "problems": found, "to_heal": to_heal(heal),
                         "settling": settling(found, heal)}
    module.exit_json(changed=False, peers=peers, volumes=volumes, problems=problems)


if __name__ == "__main__":
    main()
