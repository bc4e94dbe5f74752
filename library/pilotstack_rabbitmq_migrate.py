#!/usr/bin/python
"""Ansible module: migrate a vhost's classic mirrored queues to quorum queues."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pilotstack_rabbitmq_migrate
short_description: Migrate classic mirrored queues of a vhost to quorum queues, keeping messages
description:
  - A queue cannot change type in place. For each queue, its bindings and messages are parked
    on a temporary quorum queue (C(<name>.pilotstack-migrating)) while the queue is deleted
    and declared again as a quorum queue, then moved back (steps in
    C(module_utils/pilotstack_rabbitmq_migrate.py)). Messages move by dynamic shovels that
    acknowledge a message only once the destination confirmed it.
  - Exchange-routed publishing never stops; consumers of a queue are cancelled once, when
    it is deleted, and must re-subscribe. Messages published to the queue by name through
    the default exchange are unroutable for the few milliseconds the queue does not exist.
  - A run that stopped half-way resumes from what exists. Queues that cannot be quorum
    queues (not durable, exclusive, auto-delete, priorities) are refused before anything
    changes.
  - Why a custom module? Neither community.rabbitmq nor RabbitMQ itself migrates a queue's
    type; this one does it through the management HTTP API and the shovel plugin.
version_added: "0.1.0"
author: pilotstack developers
options:
  vhost:
    description: The virtual host.
    type: str
    required: true
  queues:
    description: Queues to migrate (default every classic queue under an ha-mode policy).
    type: list
    elements: str
  api_url:
    description: Management API base URL (C(http://<node address>:15672)).
    type: str
    required: true
  user:
    description: An administrator with rights on the vhost.
    type: str
    required: true
  password:
    description: Its password.
    type: str
    required: true
  remove_ha_policies:
    description: Delete the vhost's policies that set ha-mode once every queue is migrated.
    type: bool
    default: true
  timeout:
    description: Seconds each message move may take.
    type: int
    default: 600
attributes:
  check_mode:
    support: full
    description: Lists the queues it would migrate and the ones it refuses; changes nothing.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: RabbitMQ | migrate nova's mirrored queues
  pilotstack_rabbitmq_migrate:
    vhost: nova
    api_url: http://192.0.2.21:15672
    user: pilotstack_admin
    password: "{{ pilotstack_secrets.rabbitmq_admin_password }}"
"""

RETURN = r"""
migrated:
  description: Per queue, the steps taken and how long the queue did not exist.
  type: list
  returned: always
refused:
  description: Queues left as they are, with the reason.
  type: list
  returned: always
already:
  description: Queues already quorum queues.
  type: list
  returned: always
policies_removed:
  description: ha-mode policies deleted.
  type: list
  returned: always
"""

import base64  # noqa: E402
import fcntl  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from urllib.parse import quote  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.pilotstack_rabbitmq_migrate import (  # noqa: E402
    TEMP_SUFFIX,
    own_bindings,
    plan,
    quorum_arguments,
    stage,
)
from ansible.module_utils.urls import open_url  # noqa: E402


class Api:
    def __init__(self, base: str, user: str, password: str, vhost: str):
        self.base = base.rstrip("/") + "/api"
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.v = quote(vhost, safe="")

    def call(self, method: str, path: str, body=None, ok=(200, 201, 204)):
        data = None if body is None else json.dumps(body).encode()
        try:
            resp = open_url(self.base + path, method=method, data=data, timeout=30,
                            headers={"Authorization": self.auth,
                                     "Content-Type": "application/json"})
            text = resp.read()
            return resp.status, json.loads(text) if text else None
        except Exception as exc:  # noqa: BLE001 - HTTPError carries the status
            status = getattr(exc, "code", None)
            if status is not None and status in ok:
                return status, None
            if status is not None:
                return status, getattr(exc, "read", lambda: b"")().decode(errors="replace")
            raise

    def must(self, method: str, path: str, body=None, ok=(200, 201, 204)):
        status, out = self.call(method, path, body, ok)
        if status not in ok:
            raise RuntimeError(f"{method} {path}: HTTP {status} {out}")
        return out

    def queue(self, name: str) -> dict | None:
        status, out = self.call("GET", f"/queues/{self.v}/{quote(name, safe='')}")
        return out if status == 200 else None

    def queues(self) -> list[dict]:
        return self.must("GET", f"/queues/{self.v}")

    def bindings(self, name: str) -> list[dict]:
        return own_bindings(self.must("GET", f"/queues/{self.v}/{quote(name, safe='')}/bindings"))

    def declare(self, name: str, arguments: dict) -> None:
        self.must("PUT", f"/queues/{self.v}/{quote(name, safe='')}",
                  {"durable": True, "auto_delete": False, "arguments": arguments})

    def bind(self, name: str, binding: dict) -> None:
        self.must("POST", f"/bindings/{self.v}/e/{quote(binding['source'], safe='')}/q/"
                          f"{quote(name, safe='')}",
                  {"routing_key": binding["routing_key"], "arguments": binding["arguments"]})

    def unbind(self, name: str, binding: dict) -> None:
        self.must("DELETE", f"/bindings/{self.v}/e/{quote(binding['source'], safe='')}/q/"
                            f"{quote(name, safe='')}/{quote(binding['properties_key'], safe='')}",
                  ok=(200, 204, 404))


def same_binding(a: dict, b: dict) -> bool:
    return (a["source"], a["routing_key"], a.get("arguments") or {}) == (
        b["source"], b["routing_key"], b.get("arguments") or {})


def copy_bindings(api: Api, src: str, dst: str) -> None:
    have = api.bindings(dst)
    for b in api.bindings(src):
        if not any(same_binding(b, h) for h in have):
            api.bind(dst, b)


def drop_bindings(api: Api, name: str) -> None:
    for b in api.bindings(name):
        api.unbind(name, b)


def shovel(api: Api, src: str, dst: str, deadline: float) -> None:
    """One dynamic shovel src -> dst that stops after the messages src holds when it starts
    (none: it stops at once). A message leaves src only once dst confirmed it."""
    name = quote(f"pilotstack-migrate-{src}", safe="")
    uri = "amqp:///" + api.v
    api.must("PUT", f"/parameters/shovel/{api.v}/{name}", {"value": {
        "src-protocol": "amqp091", "src-uri": uri, "src-queue": src,
        "dest-protocol": "amqp091", "dest-uri": uri, "dest-queue": dst,
        "ack-mode": "on-confirm", "src-delete-after": "queue-length"}})
    while api.call("GET", f"/parameters/shovel/{api.v}/{name}")[0] == 200:
        if time.monotonic() > deadline:
            api.call("DELETE", f"/parameters/shovel/{api.v}/{name}")
            raise RuntimeError(f"moving {src} -> {dst} took longer than allowed")
        time.sleep(0.2)


def empty_then_delete(api: Api, counts, src: str, dst: str, deadline: float,
                      log: list) -> float:
    """Moves src's messages to dst until src holds none, ready or unacknowledged (counted
    by the queue itself, not the lagging statistics), then deletes src if still empty.
    Returns when src was deleted (monotonic)."""
    rounds = 0
    while True:
        shovel(api, src, dst, deadline)
        rounds += 1
        ready, unacked = counts(src)
        if ready == 0 and unacked == 0:
            # Quorum queues refuse if-empty; the temporary one has no bindings left and no
            # consumer by then, so nothing can reach it between the count and the delete.
            guard = "?if-empty=true" if (api.queue(src) or {}).get("type") == "classic" else ""
            status, _ = api.call("DELETE", f"/queues/{api.v}/{quote(src, safe='')}{guard}")
            if status in (200, 204, 404):
                log.append(f"{src} emptied into {dst} ({rounds} shovel round(s)) and deleted")
                return time.monotonic()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{src} still holds {ready} ready and {unacked} unacknowledged "
                               "message(s): its consumers do not acknowledge")
        time.sleep(0.2)


def declare_quorum(api: Api, name: str, source: dict) -> None:
    """Declares `name` as a quorum queue with the arguments of `source`; a client that
    re-declared it as a classic queue in the meantime is named as the cause."""
    try:
        api.declare(name, quorum_arguments(source))
    except RuntimeError:
        if (api.queue(name) or {}).get("type") == "classic":
            raise RuntimeError(
                f"{name} came back as a classic queue: its clients declare it themselves; "
                "configure them for quorum queues (oslo.messaging: rabbit_quorum_queue = "
                "true) and run this again") from None
        raise


def migrate(api: Api, counts, name: str, timeout: int) -> dict:
    temp = name + TEMP_SUFFIX
    deadline = time.monotonic() + timeout
    log: list[str] = []
    result = {"queue": name, "steps": log, "absent_seconds": None}
    queue, tmp = api.queue(name), api.queue(temp)
    st = stage(queue, tmp)
    if st == "done":
        return result
    if st == "move_out":
        api.declare(temp, quorum_arguments(queue))
        copy_bindings(api, name, temp)
        drop_bindings(api, name)
        log.append(f"bindings moved to {temp}")
        gone = empty_then_delete(api, counts, name, temp, deadline, log)
        declare_quorum(api, name, queue)
        result["absent_seconds"] = round(time.monotonic() - gone, 3)
        log.append(f"{name} declared again as a quorum queue")
    elif queue is None:  # resumed after the delete: declare it from the parked twin
        declare_quorum(api, name, tmp)
    copy_bindings(api, temp, name)
    drop_bindings(api, temp)
    log.append(f"bindings back on {name}")
    empty_then_delete(api, counts, temp, name, deadline, log)
    return result


def ha_policies(api: Api) -> list[str]:
    """The vhost's classic-mirroring (ha-mode) policies."""
    return [pol["name"] for pol in api.must("GET", f"/policies/{api.v}")
            if "ha-mode" in (pol.get("definition") or {})]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "vhost": {"type": "str", "required": True},
            "queues": {"type": "list", "elements": "str"},
            "api_url": {"type": "str", "required": True},
            "user": {"type": "str", "required": True},
            "password": {"type": "str", "required": True, "no_log": True},
            "remove_ha_policies": {"type": "bool", "default": True},
            "timeout": {"type": "int", "default": 600},
        },
        supports_check_mode=True,
    )
    p = module.params
    api = Api(p["api_url"], p["user"], p["password"], p["vhost"])

    def counts(queue: str) -> tuple[int, int]:
        """Ready and unacknowledged messages, asked of the queue itself: the management
        API's and list_queues' figures for quorum queues are statistics, seconds old."""
        def erl(text: str) -> str:
            return '<<"' + text.replace("\\", "\\\\").replace('"', '\\"') + '">>'
        expr = (f"case rabbit_amqqueue:lookup(rabbit_misc:r({erl(p['vhost'])}, queue, "
                f"{erl(queue)})) of {{ok, Q}} -> rabbit_amqqueue:stat(Q); E -> E end.")
        rc, out, err = module.run_command(["rabbitmqctl", "-q", "eval", expr])
        if rc != 0 or not out.startswith("{"):
            raise RuntimeError(f"cannot count the messages of {queue}: {(err or out).strip()}")
        if out.strip() == "{error,not_found}":
            return 0, 0
        ready = int(out.strip().strip("{}").split(",")[1])
        rc, out, err = module.run_command(
            ["rabbitmqctl", "-q", "list_queues", "-p", p["vhost"], "name",
             "messages_unacknowledged", "type", "--formatter", "json"])
        if rc != 0:
            raise RuntimeError(f"rabbitmqctl list_queues: {(err or out).strip()}")
        unacked = next((int(q["messages_unacknowledged"]) for q in json.loads(out)
                        if q["name"] == queue and q["type"] == "classic"), 0)
        return ready, unacked

    try:
        status, _ = api.call("GET", f"/vhosts/{api.v}")
        if status != 200:
            module.fail_json(msg=f"vhost {p['vhost']} not found (HTTP {status})")
        todo, refused, done = plan(api.queues(), p["queues"])
    except Exception as exc:  # noqa: BLE001
        module.fail_json(msg=f"management API at {p['api_url']}: {exc}")
    if refused and p["queues"] is not None:
        module.fail_json(msg="refusing, nothing was changed: " + "; ".join(refused),
                         refused=refused, migrated=[], already=done, policies_removed=[])
    migrated, removed = [], []
    if module.check_mode:
        # predict the policies a run would remove, as it would (after the queues)
        if p["remove_ha_policies"] and not refused:
            try:
                removed = ha_policies(api)
            except Exception as exc:  # noqa: BLE001
                module.fail_json(msg=f"management API at {p['api_url']}: {exc}")
    else:
        # one migration at a time on this node (a run whose controller died may still run)
        lock = open("/run/pilotstack-rabbitmq-migrate.lock", "w")  # noqa: SIM115
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            module.fail_json(msg="another migration runs on this node (its controller may "
                                 "have gone): wait for it, nothing was changed")
        try:
            for name in todo:
                migrated.append(migrate(api, counts, name, p["timeout"]))
            if p["remove_ha_policies"] and not refused:
                for name in ha_policies(api):
                    api.must("DELETE", f"/policies/{api.v}/{quote(name, safe='')}")
                    removed.append(name)
        except Exception as exc:  # noqa: BLE001
            module.fail_json(msg=f"migration stopped: {exc}. Every message is in the queue "
                                 f"or its {TEMP_SUFFIX} twin; run again to resume.",
                             migrated=migrated, refused=refused, already=done,
                             policies_removed=removed)
    module.exit_json(changed=bool(todo or removed), migrated=migrated,
                     planned=todo, refused=refused, already=done, policies_removed=removed)


if __name__ == "__main__":
    main()
