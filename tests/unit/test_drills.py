"""The drill runner's verdicts: a drill passes only when it raised nothing and lost
nothing; its figures and counts reach the report; the environment's recorder is restored."""

from __future__ import annotations

import json

import pytest

from pilotstack import drills


class FakeEnv:
    """Stands for pilotstack.drills.env.Env: only the reporting part the runner uses."""

    def __init__(self):
        self.recorder = "outer"

    def figure(self, key, value):
        self.recorder.figure(key, value)

    def count(self, what, acknowledged, lost):
        self.recorder.count(what, acknowledged, lost)


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setattr(drills, "REGISTRY", {})
    monkeypatch.setattr(drills, "TIER_MODULES", ())

    @drills.drill("clean", "galera")
    def clean(env):
        """A clean drill.

        More text."""
        env.figure("stall (s)", 1.5)
        env.count("rows", 100, 0)

    @drills.drill("lossy", "galera")
    def lossy(env):
        env.count("rows", 100, 2)

    @drills.drill("broken", "galera")
    def broken(env):
        drills.check(False, "no failover")

    return drills.REGISTRY


def test_summary_is_the_first_paragraph(registry):
    assert registry["clean"].summary == "A clean drill."
    assert registry["lossy"].summary == "lossy"


def test_a_clean_drill_passes_with_its_figures(registry):
    env = FakeEnv()
    lines = []
    result = drills.run("clean", env, echo=lines.append)
    assert result.ok and result.error is None and result.lost == 0
    assert result.figures == {"stall (s)": 1.5}
    assert lines == ["  stall (s): 1.5", "  rows: 0 lost of 100 acknowledged"]
    assert env.recorder == "outer"


def test_a_drill_that_lost_data_fails_even_without_an_exception(registry):
    result = drills.run("lossy", FakeEnv())
    assert not result.ok and result.lost == 2 and "2 acknowledged" in result.error


def test_a_broken_invariant_fails_with_its_message(registry):
    result = drills.run("broken", FakeEnv())
    assert not result.ok and result.error == "DrillFailed: no failover"


def test_report_totals(registry):
    results = [drills.run(n, FakeEnv()) for n in ("clean", "lossy")]
    data = json.loads(drills.report(results))
    assert data["ok"] is False and data["lost"] == 2
    assert [d["name"] for d in data["drills"]] == ["clean", "lossy"]
    assert data["drills"][0]["counts"] == [{"what": "rows", "acknowledged": 100, "lost": 0}]
    back = [drills.Result.from_dict(d) for d in data["drills"]]
    assert back == results


def test_every_tier_registers_its_drills():
    names = drills.load()
    for tier in ("galera", "rabbitmq", "gluster", "pacemaker", "ceph"):
        assert any(n.startswith(tier) for n in names), tier
