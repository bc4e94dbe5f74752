#!/usr/bin/python
"""Ansible module: one GlusterFS volume (create, start, options, add/remove bricks)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pilotstack_gluster_volume
short_description: Converge one GlusterFS volume to its declared bricks, replica and options
description:
  - Reads C(gluster volume info VOL --xml), decides with the pure function
    C(plan_volume) of C(module_utils/pilotstack_gluster.py), then runs only the commands
    needed (create, set the options whose value differs, add bricks raising the replica
    count by one when asked as in replica 2 -> 3, remove listed bricks lowering it by one,
    start or stop).
  - A layout change (add or remove bricks) is refused unless the volume is healthy (every
    brick online, 0 entries to heal, none in split-brain, from C(volume heal VOL info summary)).
  - Bricks on the volume that are not declared are never removed unless listed in
    I(remove_bricks); a volume is never deleted by this module.
  - Why a custom module? The gluster.gluster collection was removed from the Ansible package
    and is unmaintained; its gluster_volume neither checks heal state before a replica
    change nor reports a diff.
version_added: "0.1.0"
author: pilotstack developers
options:
  name:
    description: Volume name.
    type: str
    required: true
  bricks:
    description: Every brick of the volume, C(server:/path), in replica-set order.
    type: list
    elements: str
    required: true
  replica:
    description: Copies of each file (bricks per replica set).
    type: int
    default: 3
  options:
    description: Volume options to set (name -> value, compared as strings).
    type: dict
    default: {}
  state:
    description: C(started), C(stopped) or C(present) (created, running state untouched).
    type: str
    choices: [started, stopped, present]
    default: started
  remove_bricks:
    description: Bricks to remove (with I(replica) one lower than the volume's).
    type: list
    elements: str
    default: []
  allow_replica2:
    description: Accept replica 2 (prone to split-brain; only for a volume on its way to 3).
    type: bool
    default: false
  force:
    description: Pass C(force) to create and add-brick (a brick path gluster finds unusual;
      the role has already checked the brick filesystem).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Decides and reports the commands without running them.
  diff_mode:
    support: full
    description: Bricks, replica count, options and status before and after.
"""

EXAMPLES = r"""
- name: Volumes | instances, replica 3
  pilotstack_gluster_volume:
    name: instances
    bricks:
      - 198.51.100.41:/srv/gluster/instances/brick
      - 198.51.100.42:/srv/gluster/instances/brick
      - 198.51.100.43:/srv/gluster/instances/brick
    replica: 3
    options: {cluster.quorum-type: auto, network.ping-timeout: "10"}
  run_once: true
"""

RETURN = r"""
commands:
  description: Every gluster command run (or, in check mode, that would run), in order.
  type: list
  returned: always
volume:
  description: The volume after the run (status, type, replica, bricks, options).
  type: dict
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.pilotstack_gluster import (  # noqa: E402
    GLUSTER,
    CliError,
    Refused,
    change,
    parse_heal_summary,
    parse_volume_info,
    parse_volume_status,
    plan_volume,
    read_xml,
    volume_health,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "bricks": {"type": "list", "elements": "str", "required": True},
            "replica": {"type": "int", "default": 3},
            "options": {"type": "dict", "default": {}},
            "state": {"type": "str", "choices": ["started", "stopped", "present"],
                      "default": "started"},
            "remove_bricks": {"type": "list", "elements": "str", "default": []},
            "allow_replica2": {"type": "bool", "default": False},
            "force": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    p = module.params
    name = p["name"]
    ran: list[list[str]] = []

    def read(*args: str) -> str:
        return read_xml(module, "volume", *args)

    def info() -> dict | None:
        out = read("info", name)
        try:
            return parse_volume_info(out).get(name)
        except CliError as exc:
            if "does not exist" in str(exc):
                return None
            module.fail_json(msg=f"gluster volume info {name}: {exc}")

    def execute(argv: list[str]) -> None:
        force = ["force"] if p["force"] and argv[0] in ("create", "add-brick") else []
        change(module, [*GLUSTER, "volume", *argv, *force], ran)

    before = info()
    healthy = None
    layout_change = before is not None and (
        set(p["bricks"]) != set(before["bricks"]) or p["remove_bricks"])
    if layout_change:
        try:
            status = parse_volume_status(read("status", name))
        except CliError:
            status = None
        try:
            heal = parse_heal_summary(read("heal", name, "info", "summary"))
        except CliError:
            heal = None
        healthy = volume_health(name, before, status, heal)
    try:
        plan = plan_volume(name, before, p["bricks"], p["replica"], p["options"],
                           state=p["state"], remove_bricks=p["remove_bricks"],
                           allow_replica2=p["allow_replica2"], healthy=healthy)
    except Refused as exc:
        module.fail_json(msg=f"{exc}. Nothing was changed.", reasons=exc.reasons,
                         commands=[])
    for argv in plan:
        execute(argv)
    after = before if module.check_mode or not plan else info()

    def view(v: dict | None) -> dict:
        if v is None:
            return {}
        return {k: v[k] for k in ("status", "replica", "bricks", "options")}

    module.exit_json(changed=bool(plan), commands=ran, volume=view(after),
                     diff={"before": view(before), "after": view(after) if not
                           module.check_mode else {"planned": [" ".join(c) for c in plan]}})


if __name__ == "__main__":
    main()
