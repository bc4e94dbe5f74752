#!/usr/bin/python
"""Ansible module: the GlusterFS trusted storage pool of this server (probe members)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pilotstack_gluster_pool
short_description: Make the listed GlusterFS servers one trusted storage pool
description:
  - Reads C(gluster peer status --xml) on this server and probes every member of I(members)
    that this server does not know by that exact address or name yet, then waits until
    each is connected and "Peer in Cluster". Probing a peer known by another name (the
    first server reaches the others as the name reverse DNS gave it) adds the member's
    address to that peer's names, so every server knows every peer by the address its
    bricks are named with.
  - Refuses, before probing anything, when this server's pool holds peers none of whose
    names resolve to an address of I(members) (another pool, or a server decommissioned
    without detach); detach is an operator's decision (C(gluster peer detach)).
  - Why a custom module? The gluster.gluster collection was removed from the Ansible
    package and is unmaintained; its gluster_peer does not refuse foreign peers.
version_added: "0.1.0"
author: pilotstack developers
options:
  members:
    description: Every server of the pool, by the address (or name) it is probed with on the
      storage network; this server's own entry is skipped.
    type: list
    elements: str
    required: true
  me:
    description: This server's entry in I(members).
    type: str
    required: true
  timeout:
    description: Seconds to wait for probed peers to be connected.
    type: int
    default: 60
attributes:
  check_mode:
    support: full
    description: Reports the probes it would run without running them.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Pool | every server probed
  pilotstack_gluster_pool:
    members: ["198.51.100.41", "198.51.100.42", "198.51.100.43"]
    me: "198.51.100.41"
  run_once: true
"""

RETURN = r"""
peers:
  description: The pool's other members after the run (uuid, hostnames, connected, state).
  type: list
  returned: always
commands:
  description: Every gluster command that changed something, in order.
  type: list
  returned: always
"""

import contextlib  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.pilotstack_gluster import (  # noqa: E402
    GLUSTER,
    CliError,
    change,
    parse_peer_status,
    read_xml,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "members": {"type": "list", "elements": "str", "required": True},
            "me": {"type": "str", "required": True},
            "timeout": {"type": "int", "default": 60},
        },
        supports_check_mode=True,
    )
    members, me = module.params["members"], module.params["me"]
    commands: list[list[str]] = []

    def peers() -> list[dict]:
        try:
            return parse_peer_status(read_xml(module, "peer", "status"))
        except CliError as exc:
            module.fail_json(msg=f"gluster peer status failed: {exc}")

    def known(p: dict) -> set[str]:
        return set(p["hostnames"])

    def resolved(names) -> set[str]:
        out = set(names)
        for name in names:
            with contextlib.suppress(OSError):
                out |= {ai[4][0] for ai in socket.getaddrinfo(name, None)}
        return out

    current = peers()
    wanted = resolved(members)
    # a peer first known by another name (reverse DNS) is a member when that name resolves
    # to a member's address; it is then probed by the member's address, which adds it
    foreign = [p["hostnames"][0] for p in current if not resolved(p["hostnames"]) & wanted]
    if foreign:
        module.fail_json(msg=(f"this server's pool holds peers not in the inventory: "
                              f"{', '.join(foreign)}. Nothing was probed. Detach them "
                              "(gluster peer detach) if they left for good, or add them "
                              "to the inventory"), peers=current, commands=[])
    missing = [m for m in members if m != me and not any(m in known(p) for p in current)]
    for member in missing:
        change(module, [*GLUSTER, "peer", "probe", member], commands)
    deadline = time.monotonic() + module.params["timeout"]
    while not module.check_mode:
        current = peers()
        waiting = [m for m in members if m != me and not any(
            m in known(p) and p["connected"] and p["state"] == "Peer in Cluster"
            for p in current)]
        if not waiting:
            break
        if time.monotonic() > deadline:
            module.fail_json(msg=f"peers not connected after {module.params['timeout']} s: "
                                 f"{', '.join(waiting)}", peers=current, commands=commands)
        time.sleep(1)
    module.exit_json(changed=bool(commands), peers=current, commands=commands)


if __name__ == "__main__":
    main()
