#!/usr/bin/python
"""Ansible module: one replicated Ceph pool."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pilotstack_ceph_pool
short_description: Ensure a replicated pool with its size, min_size, PG autoscaling and application
description:
  - Creates the pool when missing, then sets size, min_size, the PG autoscale mode and
    enables its application (rbd, cephfs, rgw) when they differ. Idempotent; check mode
    reports the commands it would run. Never deletes a pool and never lowers pg_num itself
    (the autoscaler does).
  - Refuses, before any change, a size larger than the number of hosts with OSDs (the
    failure domain is the host, such a pool never goes active+clean), a min_size larger
    than the size, and a min_size of 1 (writes acknowledged by one copy).
  - Written here because no packaged module manages pools; ceph-ansible's lives in a
    collection not packaged for these machines.
version_added: "0.1.0"
author: pilotstack developers
options:
  name:
    description: Pool name.
    type: str
    required: true
  size:
    description: Copies of every object.
    type: int
    default: 3
  min_size:
    description: Copies that must be written before a write is acknowledged.
    type: int
    default: 2
  pg_num:
    description: PGs at creation (the autoscaler adjusts them afterwards).
    type: int
    default: 32
  autoscale:
    description: pg_autoscale_mode (on, warn, off).
    type: str
    default: "on"
    choices: ["on", "warn", "off"]
  application:
    description: Application enabled on the pool (rbd, cephfs, rgw).
    type: str
attributes:
  check_mode:
    support: full
    description: Reports the commands it would run.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Pools | volumes
  pilotstack_ceph_pool:
    name: volumes
    size: 3
    min_size: 2
    application: rbd
"""

RETURN = r"""
commands:
  description: The ceph commands run (or, in check mode, that would run).
  type: list
  returned: always
hosts:
  description: Hosts with OSDs and how many each (the failure domain the size is checked
    against).
  type: dict
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.pilotstack_ceph import (  # noqa: E402
    CephError,
    ceph_argv,
    change,
    osd_hosts,
    pool_plan,
    read_json,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "size": {"type": "int", "default": 3},
            "min_size": {"type": "int", "default": 2},
            "pg_num": {"type": "int", "default": 32},
            "autoscale": {"type": "str", "default": "on", "choices": ["on", "warn", "off"]},
            "application": {"type": "str"},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        pools = {x["pool_name"]: x for x in read_json(module, "osd", "pool", "ls", "detail")}
        hosts = osd_hosts(read_json(module, "osd", "tree"))
    except CephError as exc:
        module.fail_json(msg=f"the cluster does not answer: {exc}")
    try:
        steps = pool_plan(pools.get(p["name"]), p, hosts)
    except ValueError as exc:
        module.fail_json(msg=f"{exc}. No pool was changed.", hosts=hosts)
    ran: list[list[str]] = []
    for step in steps:
        change(module, ceph_argv(*step), ran)
    module.exit_json(changed=bool(ran), commands=[" ".join(c) for c in ran], hosts=hosts)


if __name__ == "__main__":
    main()
