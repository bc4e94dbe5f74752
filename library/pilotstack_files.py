#!/usr/bin/python
"""Ansible module: several small configuration files converged in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pilotstack_files
short_description: Converge several small files (content, owner, group, mode) in one call
description:
  - Each entry of I(files) is a file with its whole content, or a file that must be absent.
    A file is rewritten only when its content differs (written to a temporary file beside
    it, flushed, then renamed over it), its owner, group and mode set only when they differ,
    and missing parent directories are created. Idempotent; check mode reports what would
    change; diff mode shows each file's before and after.
  - Why a custom module? C(ansible.builtin.copy) and C(template) converge one file per
    task (with C(loop), one module run per item). On a dozen hosts over SSH each such task
    costs seconds of pure overhead (docs/testbed-facts.md measured ~0.4 s per host-task
    with the linear strategy), which dominated re-runs of the base role. Files that belong
    together (one service's configuration, one handler to notify) converge here in one
    module run per host. Render templates on the controller with C(lookup('template', ...)).
version_added: "0.1.0"
author: pilotstack developers
options:
  files:
    description: The files.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path of the file.
        type: path
        required: true
      content:
        description: The whole content (with I(state=present)).
        type: str
        default: ""
      state:
        description: C(present) with I(content), C(absent) removed, C(unmanaged) left as
          it is (an entry that a variable turns off).
        type: str
        choices: [present, absent, unmanaged]
        default: present
      owner:
        description: Owner; the module's I(owner) when left out.
        type: str
      group:
        description: Group; the module's I(group) when left out.
        type: str
      mode:
        description: Mode ("0644"); the module's I(mode) when left out.
        type: raw
      unsafe_writes:
        description: Write in place when the rename fails (a file bind-mounted by a
          container engine, such as /etc/hosts); never needed on real servers.
        type: bool
        default: false
  owner:
    description: Default owner of the files and of parent directories it creates.
    type: str
    default: root
  group:
    description: Default group of the files and of parent directories it creates.
    type: str
    default: root
  mode:
    description: Default mode of the files.
    type: raw
    default: "0644"
  directory_mode:
    description: Mode of the parent directories it creates (existing ones are left alone).
    type: raw
    default: "0755"
  secret:
    description: The contents hold secrets, so no diff is returned, whatever the diff mode.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports which files would be written, removed or get new attributes.
  diff_mode:
    support: full
    description: Before and after of each changed file (none with I(secret)).
"""

EXAMPLES = r"""
- name: Time | chrony files
  pilotstack_files:
    files:
      - path: /etc/default/chrony
        content: |
          DAEMON_OPTS="-F 1 -x"
      - path: /etc/chrony/chrony.conf
        content: "{{ lookup('template', 'chrony.conf.j2') }}"
      - path: /etc/systemd/system/chrony.service.d/pilotstack.conf
        state: "{{ 'absent' if base_chrony_control_clock else 'present' }}"
        content: |
          [Unit]
          ConditionCapability=
  notify: Restart chrony
"""

RETURN = r"""
changed_paths:
  description: The files written, removed or given new attributes (or that would be, in
    check mode).
  type: list
  elements: str
  returned: always
  sample: ["/etc/chrony/chrony.conf"]
"""

import os  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def read(path: str) -> bytes | None:
    if not os.path.lexists(path):
        return None
    if os.path.isdir(path):
        raise IsADirectoryError(path)
    with open(path, "rb") as fh:
        return fh.read()


def make_parents(module, path: str, mode, owner: str, group: str) -> None:
    """Creates the missing parent directories of path, outermost first."""
    missing = []
    parent = os.path.dirname(path)
    while parent and not os.path.isdir(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    for directory in reversed(missing):
        os.mkdir(directory)
        module.set_fs_attributes_if_different(attrs(directory, mode, owner, group), False)


def attrs(path: str, mode, owner: str, group: str) -> dict:
    return {"path": path, "mode": mode, "owner": owner, "group": group,
            "secontext": [None, None, None], "attributes": None}


def write(module, path: str, data: bytes, unsafe_writes: bool) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=f".{os.path.basename(path)}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        module.atomic_move(tmp, path, unsafe_writes=unsafe_writes)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def converge(module, entry: dict, defaults: dict) -> tuple[bool, dict | None]:
    """One file: (changed, diff)."""
    path, state = entry["path"], entry["state"]
    if state == "unmanaged":
        return False, None
    try:
        old = read(path)
    except IsADirectoryError:
        module.fail_json(msg=f"{path} is a directory, not a file")
    if state == "absent":
        if old is None:
            return False, None
        if not module.check_mode:
            os.unlink(path)
        return True, {"before_header": path, "before": old.decode(errors="replace"),
                      "after_header": path, "after": ""}
    new = entry["content"].encode()
    owner = entry["owner"] or defaults["owner"]
    group = entry["group"] or defaults["group"]
    mode = entry["mode"] if entry["mode"] is not None else defaults["mode"]
    changed = old != new
    if changed and not module.check_mode:
        make_parents(module, path, defaults["directory_mode"], defaults["owner"],
                     defaults["group"])
        write(module, path, new, entry["unsafe_writes"])
    if os.path.exists(path):  # in check mode a new file is not there to compare
        changed = module.set_fs_attributes_if_different(attrs(path, mode, owner, group),
                                                        changed)
    diff = None
    if old != new:
        diff = {"before_header": path, "before": "" if old is None else
                old.decode(errors="replace"), "after_header": path, "after": new.decode()}
    return changed, diff


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "files": {"type": "list", "elements": "dict", "required": True, "options": {
                "path": {"type": "path", "required": True},
                "content": {"type": "str", "default": ""},
                "state": {"type": "str", "default": "present",
                          "choices": ["present", "absent", "unmanaged"]},
                "owner": {"type": "str"},
                "group": {"type": "str"},
                "mode": {"type": "raw"},
                "unsafe_writes": {"type": "bool", "default": False},
            }},
            "owner": {"type": "str", "default": "root"},
            "group": {"type": "str", "default": "root"},
            "mode": {"type": "raw", "default": "0644"},
            "directory_mode": {"type": "raw", "default": "0755"},
            "secret": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    p = module.params
    paths = [f["path"] for f in p["files"]]
    twice = sorted({x for x in paths if paths.count(x) > 1})
    if twice:
        module.fail_json(msg=f"a file is listed more than once: {', '.join(twice)}")
    not_absolute = [x for x in paths if not os.path.isabs(x)]
    if not_absolute:
        module.fail_json(msg=f"paths must be absolute: {', '.join(not_absolute)}")
    changed_paths, diffs = [], []
    for entry in p["files"]:
        changed, diff = converge(module, entry, p)
        if changed:
            changed_paths.append(entry["path"])
        if diff and not p["secret"]:
            diffs.append(diff)
    result = {"changed": bool(changed_paths), "changed_paths": changed_paths}
    if module._diff and diffs:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
