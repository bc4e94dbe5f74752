"""Fault drills: real faults (kill, freeze, cut, power off) on a deployed testbed while a
client writes, publishes or reads, then the count of what was acknowledged against what
survived, and the environment restored.

One drill = one function registered with @drill(name, tier). It records its figures with
env.figure(), its loss accounting with env.count() (what the client saw acknowledged, what is
missing afterwards), raises DrillFailed when an invariant does not hold, and leaves the
environment as it found it (its `finally` blocks restart what it stopped). The test suite and
`pilotstack drill` run the same functions.

Drills kill containers: they run on the local testbed only (`pilotstack testbed up` +
`pilotstack deploy`), never on an inventory of real servers.
"""

from __future__ import annotations

import importlib
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from ..mu import tiers_mu  # noqa: E402

# The drill files, one per tier that has drills: the tier registry's.
TIER_MODULES = tuple(tiers_mu.drill_modules())


class DrillFailed(AssertionError):
    """An invariant of the drill did not hold (data lost, no failover, ...)."""


def check(condition: object, message: str) -> None:
    if not condition:
        raise DrillFailed(message)


@dataclass
class Drill:
    name: str
    tier: str
    fn: Callable
    summary: str


REGISTRY: dict[str, Drill] = {}


def drill(name: str, tier: str) -> Callable:
    if tier not in tiers_mu.REGISTRY:
        raise ValueError(f"drill {name}: unknown tier {tier!r}; the tier registry "
                         f"(module_utils/pilotstack_tiers.py) knows {', '.join(tiers_mu.TIERS)}")

    def register(fn: Callable) -> Callable:
        paragraph = (fn.__doc__ or name).strip().split("\n\n")[0]
        REGISTRY[name] = Drill(name, tier, fn, " ".join(paragraph.split()))
        return fn
    return register


def load() -> dict[str, Drill]:
    for module in TIER_MODULES:
        importlib.import_module(f"{__name__}.{module}")
    return REGISTRY


@dataclass
class Count:
    what: str
    acknowledged: int
    lost: int


@dataclass
class Result:
    name: str
    tier: str
    ok: bool = False
    seconds: float = 0.0
    figures: dict = field(default_factory=dict)
    counts: list[Count] = field(default_factory=list)
    error: str | None = None

    @property
    def lost(self) -> int:
        return sum(c.lost for c in self.counts)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["lost"] = self.lost
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Result:
        """The inverse of as_dict (a drill read back from a report)."""
        fields = {k: v for k, v in data.items() if k != "lost"}
        return cls(**{**fields, "counts": [Count(**c) for c in data["counts"]]})


class Recorder:
    """What a drill reports through its env: figures and loss counts."""

    def __init__(self, result: Result, echo: Callable[[str], None] | None = None):
        self.result, self.echo = result, echo

    def figure(self, key: str, value) -> None:
        self.result.figures[key] = value
        if self.echo:
            self.echo(f"  {key}: {value}")

    def count(self, what: str, acknowledged: int, lost: int) -> None:
        self.result.counts.append(Count(what, acknowledged, lost))
        if self.echo:
            self.echo(f"  {what}: {lost} lost of {acknowledged} acknowledged")


def run(name: str, env, echo: Callable[[str], None] | None = None) -> Result:
    """Runs one drill; never raises for a drill's failure (the result says it)."""
    spec = load()[name]
    result = Result(name, spec.tier)
    previous, env.recorder = env.recorder, Recorder(result, echo)
    start = time.monotonic()
    try:
        spec.fn(env)
        result.ok = result.lost == 0
        if not result.ok:
            result.error = f"{result.lost} acknowledged item(s) lost"
    except Exception as exc:  # noqa: BLE001 - the report carries it
        result.error = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, DrillFailed):
            result.error += "\n" + traceback.format_exc(limit=6)
    finally:
        result.seconds = round(time.monotonic() - start, 1)
        env.recorder = previous
    return result


def report(results: list[Result]) -> str:
    return json.dumps({"ok": all(r.ok for r in results),
                       "lost": sum(r.lost for r in results),
                       "drills": [r.as_dict() for r in results]}, indent=2)
