#!/usr/bin/python
"""Ansible module: declarative Pacemaker configuration (see DOCUMENTATION)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pilotstack_pacemaker_cib
short_description: Converge the Pacemaker CIB to declared resources, constraints and properties
description:
  - Reads the live CIB (C(cibadmin --query)), builds the wanted one with the pure functions of
    C(module_utils/pilotstack_pacemaker.py), and when they differ applies only the
    difference (C(crm_diff --no-version) then C(cibadmin --patch)), so objects outside the
    difference, including any another tool changed meanwhile, stay as they are. The new CIB
    is checked with C(crm_verify) first.
  - Written here because no maintained collection converges a CIB declaratively on Debian
    (pcs-based roles need pcsd and a hacluster password; crmsh has no compare mode).
  - Refused, with the live CIB untouched, when the spec names a resource agent this node
    does not have, a constraint names no resource, or an id is declared twice.
  - Objects that are not declared are left alone unless I(purge) is set.
version_added: "0.1.0"
author: pilotstack developers
options:
  spec:
    description: properties, rsc_defaults, primitives, groups, clones, locations,
      colocations, orders, node_attributes (see module_utils/pilotstack_pacemaker.py).
    type: dict
    required: true
  secrets:
    description:
      - Vault entries (name to value) that primitives name in their C(secret_params)
        ({param, entry name}), e.g. a fence device's BMC password. Never logged; the values
        are masked in the diff. A missing entry is refused before the CIB is read.
    type: dict
    default: {}
  purge:
    description: Delete resources and constraints that are not declared.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports what would change without changing it.
  diff_mode:
    support: full
    description: The configuration section before and after (secret values masked); in check
      mode too, after the read-only crm_verify of the new CIB.
"""

EXAMPLES = r"""
- name: Cluster | controller group
  pilotstack_pacemaker_cib:
    spec:
      primitives:
        - {id: vip, class: ocf, provider: heartbeat, type: IPaddr2,
           params: {ip: 192.0.2.110, cidr_netmask: "24"},
           ops: [{name: monitor, interval: 10s, timeout: 20s}]}
      groups: [{id: controller, members: [vip]}]
  run_once: true
"""

RETURN = r"""
changes:
  description: What changed (or would), one line per object.
  type: list
  elements: str
  returned: always
commands:
  description: Commands that changed the cluster.
  type: list
  returned: always
"""

import os  # noqa: E402
import tempfile  # noqa: E402
import xml.etree.ElementTree as ET  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.pilotstack_pacemaker import (  # noqa: E402
    Refused,
    build,
    fill_secrets,
    validate,
)


def agent_name(p: dict) -> str:
    return ":".join(x for x in (p["class"], p.get("provider"), p["type"]) if x)


SECRET_NAMES = ("passw", "secret", "token")


def configuration_text(cib) -> str:
    """The CIB's configuration section as indented XML, for a before/after diff; values of
    attributes whose name says secret are masked."""
    conf = cib.find("configuration")
    if conf is None:
        return ""
    conf = ET.fromstring(ET.tostring(conf))
    for nv in conf.iter("nvpair"):
        if any(w in (nv.get("name") or "").lower() for w in SECRET_NAMES):
            nv.set("value", "********")
    ET.indent(conf)
    return ET.tostring(conf, encoding="unicode") + "\n"


def main() -> None:
    module = AnsibleModule(
        argument_spec={"spec": {"type": "dict", "required": True},
                       "secrets": {"type": "dict", "default": {}, "no_log": True},
                       "purge": {"type": "bool", "default": False}},
        supports_check_mode=True,
    )
    spec, missing = fill_secrets(module.params["spec"], module.params["secrets"])
    ran = []
    if missing:
        module.fail_json(msg="; ".join(missing) + ". The live CIB was not touched.",
                         problems=missing)
    rc, live, err = module.run_command(["cibadmin", "--query"])
    if rc != 0:
        module.fail_json(msg=f"cibadmin --query failed: {err.strip()}")
    live_ids = {e.get("id") for e in ET.fromstring(live).iter() if e.get("id")}
    problems = validate(spec, live_ids)
    for p in spec.get("primitives") or []:
        rc, _, _ = module.run_command(["crm_resource", "--show-metadata", agent_name(p)])
        if rc != 0:
            problems.append(f"primitive {p['id']}: resource agent {agent_name(p)} is not "
                            "installed on this node")
    if problems:
        module.fail_json(msg="; ".join(problems) + ". The live CIB was not touched.",
                         problems=problems)
    try:
        new, changes = build(live, spec, purge=module.params["purge"])
    except Refused as exc:
        module.fail_json(msg=f"{exc}. The live CIB was not touched.")
    result = {"changed": bool(changes), "changes": changes, "commands": ran,
              "diff": {"before": configuration_text(ET.fromstring(live)),
                       "after": configuration_text(new)}}
    if not changes:
        module.exit_json(**result)
    with tempfile.TemporaryDirectory() as tmp:
        old_path, new_path, patch_path = (os.path.join(tmp, n) for n in
                                          ("live.xml", "new.xml", "patch.xml"))
        with open(old_path, "w") as fh:
            fh.write(live)
        ET.ElementTree(new).write(new_path, encoding="unicode")
        # read-only: run in check mode too, so that check mode refuses what a run refuses
        rc, out, err = module.run_command(["crm_verify", "--xml-file", new_path])
        if rc != 0:
            module.fail_json(msg=f"the new CIB does not verify: {(err or out).strip()}. "
                                 "The live CIB was not touched.", changes=changes)
        if module.check_mode:
            module.exit_json(**result)
        rc, patch, err = module.run_command(["crm_diff", "--original", old_path,
                                             "--new", new_path, "--no-version"])
        if rc not in (0, 1) or not patch.strip():
            module.fail_json(msg=f"crm_diff failed: {err.strip()}", changes=changes)
        with open(patch_path, "w") as fh:
            fh.write(patch)
        argv = ["cibadmin", "--patch", "--xml-file", patch_path]
        ran.append(argv)
        rc, out, err = module.run_command(argv)
        if rc != 0:
            module.fail_json(msg=f"cibadmin --patch failed: {(err or out).strip()}",
                             changes=changes, commands=ran)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
