#!/usr/bin/python
"""Ansible module: one cephx auth entity (key and caps) and its keyring file."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pilotstack_ceph_key
short_description: Ensure a cephx entity with exactly the given caps, and its keyring file
description:
  - Creates the entity when missing (with the given key, else one Ceph generates), sets its
    caps when they differ (C(ceph auth caps) replaces them all, so the caps given are the
    whole truth), and writes its keyring file when asked. Idempotent; check mode reports
    what would change.
  - Fails closed when the cluster holds another key for the entity than the one given (from
    the vault) rather than replacing it, which would lock out every daemon or client using
    it; rotate by deleting the entity with C(ceph auth del) first, on purpose.
  - Written here because ceph-ansible's ceph_key module lives in a collection that is not
    packaged for these machines and imports a container runtime helper; this one is the
    few calls pilotstack needs, with its rules unit-tested in module_utils.
version_added: "0.1.0"
author: pilotstack developers
options:
  name:
    description: Entity name (client.glance, mgr.st1, mds.st1, ...).
    type: str
    required: true
  caps:
    description: Capability per daemon kind (mon, mgr, osd, mds); kinds left out get none.
    type: dict
    required: true
  key:
    description: The key to create the entity with (base64 cephx key from the vault);
      without it Ceph generates one.
    type: str
  dest:
    description: Keyring file to write with the entity's key and caps (optional).
    type: path
  return_keyring:
    description: Return the keyring text as I(keyring) (to write it on another host; mark
      the task no_log).
    type: bool
    default: false
  owner:
    description: Owner of I(dest).
    type: str
    default: root
  group:
    description: Group of I(dest).
    type: str
    default: root
  mode:
    description: Mode of I(dest).
    type: str
    default: "0600"
attributes:
  check_mode:
    support: full
    description: Reports the commands it would run and the file it would write.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Clients | glance key
  pilotstack_ceph_key:
    name: client.glance
    key: "{{ pilotstack_secrets.ceph_client_glance_key }}"
    caps:
      mon: profile rbd
      osd: profile rbd pool=images
      mgr: profile rbd pool=images
"""

RETURN = r"""
commands:
  description: The ceph commands run (or, in check mode, that would run).
  type: list
  returned: always
caps_changed:
  description: One line per cap kind that differed (old -> new).
  type: list
  returned: always
keyring:
  description: The entity's keyring text (empty in check mode before it exists).
  type: str
  returned: when return_keyring
"""

import os  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.pilotstack_ceph import (  # noqa: E402
    CephError,
    caps_argv,
    ceph_argv,
    change,
    key_plan,
    keyring_text,
    normalize_caps,
    read_json,
)


def current(module, name: str) -> dict | None:
    try:
        found = read_json(module, "auth", "get", name)
    except CephError as exc:
        if exc.rc == 2:  # ENOENT
            return None
        module.fail_json(msg=f"cannot read {name}: {exc}")
    return found[0] if found else None


def write_keyring(module, dest: str, text: str) -> bool:
    old = None
    if os.path.exists(dest):
        with open(dest, encoding="utf-8") as fh:
            old = fh.read()
    changed = old != text
    if changed and not module.check_mode:
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".keyring.")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        module.atomic_move(tmp, dest)
    if os.path.exists(dest):
        # the keys set_fs_attributes_if_different reads (no SELinux context, no attributes)
        args = {"path": dest, "owner": module.params["owner"],
                "group": module.params["group"], "mode": module.params["mode"],
                "secontext": [None, None, None], "attributes": None}
        changed = module.set_fs_attributes_if_different(args, changed)
    return changed


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "caps": {"type": "dict", "required": True},
            "key": {"type": "str", "no_log": True},
            "dest": {"type": "path"},
            "return_keyring": {"type": "bool", "default": False},
            "owner": {"type": "str", "default": "root"},
            "group": {"type": "str", "default": "root"},
            "mode": {"type": "str", "default": "0600"},
        },
        supports_check_mode=True,
    )
    p = module.params
    name, caps = p["name"], normalize_caps(p["caps"])
    found = current(module, name)
    try:
        action, diffs = key_plan(found, caps, p["key"])
    except ValueError as exc:
        module.fail_json(msg=f"{name} {exc}: refusing to replace it (every daemon or client "
                             f"holding the old key would lose access). To rotate on "
                             f"purpose: ceph auth del {name}, then run again.")
    ran: list[list[str]] = []
    if action == "create" and p["key"]:
        change(module, ceph_argv("auth", "import", "-i", "-"), ran,
               data=keyring_text(name, p["key"], caps))
    elif action == "create":
        change(module, ceph_argv("auth", "get-or-create", name, *caps_argv(caps)), ran)
    elif action == "caps":
        change(module, ceph_argv("auth", "caps", name, *caps_argv(caps)), ran)
    changed = bool(ran)
    key = p["key"] or (found or {}).get("key")
    if not key and not module.check_mode:
        key = (current(module, name) or {}).get("key")
    extra = {}
    if p["return_keyring"]:
        extra["keyring"] = keyring_text(name, key, caps) if key else ""
    if p["dest"]:
        if key:
            changed = write_keyring(module, p["dest"], keyring_text(name, key, caps)) or changed
        else:
            changed = True  # check mode, entity still to be created
    module.exit_json(changed=changed, commands=[" ".join(c) for c in ran], caps_changed=diffs,
                     **extra)


if __name__ == "__main__":
    main()
