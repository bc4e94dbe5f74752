"""Classic mirrored queue -> quorum queue migration: the rules, as pure functions.

A queue cannot change type in place: it has to be deleted and declared again. The
migration keeps every message and keeps exchange-routed publishing going by parking the
queue's messages and bindings on a temporary quorum queue while the queue is re-declared:

  1. declare TEMP (quorum) and give it Q's bindings      -> routed messages reach both
  2. remove Q's bindings                                  -> routed messages reach TEMP only
  3. shovel Q -> TEMP until Q is empty (ack on confirm: a message leaves Q only once TEMP has
     it), then delete Q if empty                           -> consumers of Q are cancelled
  4. declare Q as a quorum queue, give it TEMP's bindings  -> consumers re-subscribe
  5. remove TEMP's bindings, shovel TEMP -> Q until empty, delete TEMP

Between 1 and 2 a routed message can land in both queues (a duplicate, never a loss).
Between the deletion in 3 and the declaration in 4 (milliseconds) the queue does not exist:
messages published straight to it through the default exchange are unroutable then.

Each step is recognised from what exists, so a run that stopped half-way resumes.
"""

from __future__ import annotations

TEMP_SUFFIX = ".pilotstack-migrating"

# Arguments a quorum queue does not take; dropping them changes nothing a client relies on.
DROPPED_ARGS = {"x-queue-mode", "x-queue-master-locator", "x-queue-version", "x-queue-type",
                "x-ha-policy"}


def is_mirrored(queue: dict) -> bool:
    policy = queue.get("effective_policy_definition") or {}
    return queue.get("type", "classic") == "classic" and "ha-mode" in policy


def refusal(queue: dict) -> str | None:
    """Why this classic queue cannot become a quorum queue (None: it can)."""
    args = queue.get("arguments") or {}
    if not queue.get("durable", True):
        return "it is not durable (a quorum queue always is)"
    if queue.get("exclusive"):
        return "it is exclusive to one connection"
    if queue.get("auto_delete"):
        return "it is auto-delete"
    if "x-max-priority" in args:
        return "it has priorities (x-max-priority): quorum queues have none in 3.10"
    if args.get("x-overflow") == "reject-publish-dlx":
        return "x-overflow=reject-publish-dlx is not supported by quorum queues"
    return None


def quorum_arguments(queue: dict) -> dict:
    args = {k: v for k, v in (queue.get("arguments") or {}).items() if k not in DROPPED_ARGS}
    args["x-queue-type"] = "quorum"
    return args


def stage(queue: dict | None, temp: dict | None) -> str:
    """Where the migration of one queue stands, from what exists now.

    queue/temp: the management API's view of Q and of TEMP (None: absent).
    """
    qtype = None if queue is None else queue.get("type", "classic")
    if qtype == "quorum" and temp is None:
        return "done"
    if qtype == "classic":
        return "move_out"          # steps 1-3 (idempotent)
    if temp is None:
        return "lost"              # neither Q nor TEMP: nothing to resume from
    return "move_back"             # steps 4-5


def plan(queues: list[dict], names: list[str] | None) -> tuple[list[str], list[str], list[str]]:
    """(to migrate, refused with reasons, already done) for the vhost's queues.

    names: the queues asked for (None: every classic mirrored queue, and any half-way
    migration found by its temporary queue).
    """
    by_name = {q["name"]: q for q in queues}
    temps = {n[: -len(TEMP_SUFFIX)] for n in by_name if n.endswith(TEMP_SUFFIX)}
    if names is None:
        wanted = sorted({q["name"] for q in queues if is_mirrored(q)} | temps)
    else:
        wanted = list(names)
    todo, refused, done = [], [], []
    for name in wanted:
        queue = by_name.get(name)
        temp = by_name.get(name + TEMP_SUFFIX)
        st = stage(queue, temp)
        if st == "done":
            done.append(name)
        elif st == "lost":
            refused.append(f"{name}: no such queue")
        elif st == "move_out" and (why := refusal(queue)):
            refused.append(f"{name}: {why}")
        else:
            todo.append(name)
    return todo, refused, done


def own_bindings(bindings: list[dict]) -> list[dict]:
    """A queue's bindings from exchanges (the default exchange's implicit one excluded)."""
    return [b for b in bindings if b.get("source")]
