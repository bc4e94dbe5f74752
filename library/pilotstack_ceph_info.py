#!/usr/bin/python
"""Ansible module: read-only health of a Ceph cluster."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pilotstack_ceph_info
short_description: Report Ceph health, mon quorum, OSDs up/in, PG states and MDS ranks
description:
  - Reads C(ceph status), C(ceph fs dump) and the flags of C(ceph osd dump) with the
    admin key of the host it runs on (a mon host). Never changes anything.
  - I(problems) lists what keeps the cluster from being whole against what is expected
    (mons out of quorum, OSDs down or out, PGs not active+clean, no active mgr, a
    filesystem rank not active, fewer MDS daemons than expected, OSD flags set, any health
    check not allowed). The health gate, the rolling restart, the drills and
    C(pilotstack status) all read it.
  - Written here because no packaged module reports these figures in one call with a
    verdict, and the gate needs one.
version_added: "0.1.0"
author: pilotstack developers
options:
  expect_mons:
    description: Mon names that must be in quorum.
    type: list
    elements: str
    default: []
  expect_osds:
    description: OSDs that must exist (all of them up and in).
    type: int
    default: 0
  expect_mds:
    description: MDS daemons that must be up (active, standby or standby-replay).
    type: int
    default: 0
  allow_checks:
    description: Health check codes that are not problems (for example OSDMAP_FLAGS while
      a rolling restart holds noout).
    type: list
    elements: str
    default: []
  allow_flags:
    description: OSD flags that are not problems (noout during a rolling restart).
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds each ceph command may take (a cluster without quorum does not
      answer; the module then fails).
    type: int
    default: 15
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Gate | cluster whole
  pilotstack_ceph_info:
    expect_mons: "{{ groups['ceph_mon'] }}"
    expect_osds: 3
    expect_mds: 2
  register: ceph
  until: ceph.problems | length == 0
  retries: 60
  delay: 5
"""

RETURN = r"""
health:
  description: HEALTH_OK, HEALTH_WARN or HEALTH_ERR.
  type: str
  returned: always
checks:
  description: Health check code -> its summary message.
  type: dict
  returned: always
quorum:
  description: Names of the mons in quorum.
  type: list
  returned: always
osds:
  description: total, up, in.
  type: dict
  returned: always
pgs:
  description: total, active_clean, inactive, by_state, not_clean (state -> count).
  type: dict
  returned: always
mds:
  description: filesystems (name -> max_mds, ranks, standby_replay, failed, damaged) and
    standbys.
  type: dict
  returned: always
flags:
  description: OSD flags set (noout, norebalance, ...).
  type: list
  returned: always
problems:
  description: Everything that is not whole (empty when whole).
  type: list
  elements: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.pilotstack_ceph import (  # noqa: E402
    CephError,
    problems,
    read_json,
    summarize,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "expect_mons": {"type": "list", "elements": "str", "default": []},
            "expect_osds": {"type": "int", "default": 0},
            "expect_mds": {"type": "int", "default": 0},
            "allow_checks": {"type": "list", "elements": "str", "default": []},
            "allow_flags": {"type": "list", "elements": "str", "default": []},
            "timeout": {"type": "int", "default": 15},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        status = read_json(module, "status", timeout=p["timeout"])
        fs_dump = read_json(module, "fs", "dump", timeout=p["timeout"])
        osd_dump = read_json(module, "osd", "dump", timeout=p["timeout"])
    except CephError as exc:
        module.fail_json(msg=f"the cluster does not answer (no quorum, or no admin key "
                             f"here): {exc}", problems=[str(exc)])
    summary = summarize(status, fs_dump, (osd_dump or {}).get("flags", ""))
    found = problems(summary, p["expect_mons"], p["expect_osds"], p["expect_mds"],
                     p["allow_checks"], p["allow_flags"])
    module.exit_json(changed=False, problems=found, **summary)


if __name__ == "__main__":
    main()
