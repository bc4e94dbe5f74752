"""Ansible callback: progress and wall time per tier.

A tier is the part of a play name before " | " ("Ceph | cluster" -> Ceph), the naming rule
of every pilotstack playbook. On each new tier it prints one line with the time elapsed so
far; at the end, a table of the tiers' wall times and task counts (ok/changed/failed per
tier), and the same figures as JSON in .pilotstack/last-run-tiers.json (read by `make
bench`). Enabled in the project's ansible.cfg.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: pilotstack_tiers
type: aggregate
short_description: progress and wall time per pilotstack tier
description:
  - Prints a line when a new tier starts and a table of the tiers' wall times at the end;
    writes them to .pilotstack/last-run-tiers.json.
requirements:
  - enabled in callbacks_enabled
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "pilotstack_tiers"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.start = time.monotonic()
        self.tiers: dict[str, dict] = {}
        self.current: str | None = None
        self.since = self.start
        self.playbook = None

    def _close(self, now: float) -> None:
        if self.current is not None:
            self.tiers[self.current]["seconds"] += now - self.since

    def v2_playbook_on_start(self, playbook):
        self.playbook = os.path.basename(playbook._file_name)

    def v2_playbook_on_play_start(self, play):
        name = play.get_name().strip()
        tier = name.split(" | ", 1)[0] if " | " in name else name
        now = time.monotonic()
        if tier != self.current:
            self._close(now)
            self.current, self.since = tier, now
            entry = self.tiers.setdefault(tier, {"seconds": 0.0, "tasks": 0, "changed": 0,
                                                 "failed": 0})
            hosts = play.hosts if isinstance(play.hosts, list) else [play.hosts]
            self._display.display(
                f"== pilotstack: tier {tier} ({', '.join(map(str, hosts))}) at "
                f"{_clock(now - self.start)}" + (" (again)" if entry["tasks"] else ""),
                color="cyan")
            if _REGISTRY is not None and _REGISTRY.play_tier(name) is None:
                self._display.warning(
                    f"play {name!r}: its prefix {tier!r} names no tier of the registry "
                    "(module_utils/pilotstack_tiers.py, 'plays')")

    def _count(self, key: str | None) -> None:
        if self.current is None:
            return
        entry = self.tiers[self.current]
        entry["tasks"] += 1
        if key:
            entry[key] += 1

    def v2_runner_on_ok(self, result):
        self._count("changed" if result._result.get("changed") else None)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count(None if ignore_errors else "failed")

    def v2_runner_on_unreachable(self, result):
        self._count("failed")

    def v2_playbook_on_stats(self, stats):
        now = time.monotonic()
        self._close(now)
        total = now - self.start
        self._display.banner("PILOTSTACK TIER TIMES")
        width = max([len(t) for t in self.tiers] + [5])
        self._display.display(f"{'tier':<{width}} {'wall':>8} {'host-tasks':>10} "
                              f"{'changed':>8} {'failed':>7}")
        for tier, e in self.tiers.items():
            self._display.display(f"{tier:<{width}} {_clock(e['seconds']):>8} "
                                  f"{e['tasks']:>10} {e['changed']:>8} {e['failed']:>7}")
        self._display.display(f"{'total':<{width}} {_clock(total):>8}")
        out = Path(os.environ.get("PILOTSTACK_ROOT", os.getcwd())) / ".pilotstack"
        if out.is_dir():
            data = {"playbook": self.playbook, "total_s": round(total, 1),
                    "tiers": {t: dict(e, seconds=round(e["seconds"], 1))
                              for t, e in self.tiers.items()}}
            (out / "last-run-tiers.json").write_text(json.dumps(data, indent=2) + "\n")


def _load_registry():
    """The tier registry, loaded by path: a callback cannot import the project's
    module_utils as a module can."""
    import importlib.util
    path = Path(__file__).resolve().parents[1] / "module_utils" / "pilotstack_tiers.py"
    spec = importlib.util.spec_from_file_location("pilotstack_tiers_registry", path)
    if spec is None or not path.is_file():
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_REGISTRY = _load_registry()


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"
