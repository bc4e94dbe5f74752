"""Make the project's Ansible plugins importable the way Ansible imports them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import ansible.module_utils

ROOT = Path(__file__).resolve().parents[1]
# Custom module_utils are imported by modules as ansible.module_utils.<name>.
ansible.module_utils.__path__.append(str(ROOT / "module_utils"))


def load_plugin(kind: str, name: str):
    """Import library/<name>.py or filter_plugins/<name>.py as a module."""
    path = ROOT / kind / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"pilotstack_test_{kind}_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class ModuleExit(BaseException):
    """Raised by the patched exit_json/fail_json: a module that returns without exiting
    fails the test instead of passing it. A BaseException, like SystemExit, so that a
    module's own `except Exception` cannot swallow it."""


def run_module(module, args: dict, check_mode: bool = False, run_command=None) -> dict:
    """Drive a module's real main() with these args; return what it exited with
    (`failed` tells exit_json from fail_json). `run_command(argv) -> (rc, out, err)`
    replaces AnsibleModule.run_command when given."""
    from unittest import mock

    from ansible.module_utils.testing import patch_module_args

    results: dict = {}

    def exit_json(self, **kw):
        results.update(kw, failed=False)
        raise ModuleExit

    def fail_json(self, msg, **kw):
        results.update(kw, msg=msg, failed=True)
        raise ModuleExit

    args = dict(args, _ansible_check_mode=check_mode)
    patches = [mock.patch.object(module.AnsibleModule, "exit_json", exit_json),
               mock.patch.object(module.AnsibleModule, "fail_json", fail_json)]
    if run_command is not None:
        patches.append(mock.patch.object(module.AnsibleModule, "run_command",
                                         lambda self, argv, **kw: run_command(argv)))
    with patch_module_args(args):
        for p in patches:
            p.start()
        try:
            module.main()
        except ModuleExit:
            return results
        finally:
            for p in patches:
                p.stop()
    raise AssertionError("main() returned without exit_json or fail_json")


# --- the two profiles ------------------------------------------------------------------------
# `./run.sh test` is the gate CI runs: every test not marked `full`. `./run.sh test --full`
# runs everything (every drill, the slow recovery and rolling cases). Both end with their
# wall time and the time spent per test file.
def pytest_addoption(parser):
    parser.addoption("--full", action="store_true",
                     help="the full profile: every drill and every slow test (default: the "
                          "gate, the tests not marked full)")


def pytest_configure(config):
    config.addinivalue_line("markers", "full: in the full profile only (./run.sh test --full)")
    config._pilotstack_started = __import__("time").monotonic()
    config._pilotstack_phases = {}


# CI stops a run at 90 minutes and keeps no output of a run it stopped. The gate therefore
# stops itself first: past its budget every remaining test fails at once, naming the time
# spent, so the run ends red with its report instead of being cut off without one. The
# testbed is still taken down (test_zz_down). PILOTSTACK_TEST_BUDGET_MIN=0: no budget.
GATE_BUDGET_MIN = 70


def _budget_min(config) -> float:
    import os
    default = 0 if config.getoption("--full") else GATE_BUDGET_MIN
    return float(os.environ.get("PILOTSTACK_TEST_BUDGET_MIN", default))


def pytest_runtest_setup(item):
    import time

    import pytest
    budget = _budget_min(item.config)
    spent = (time.monotonic() - item.config._pilotstack_started) / 60
    if budget and spent > budget and "test_zz_down" not in item.nodeid:
        pytest.fail(f"the profile's time budget is spent ({spent:.1f} of {budget:g} min): "
                    "not started, so that the run ends with its report (see the time per "
                    "file below)", pytrace=False)


def pytest_collection_modifyitems(config, items):
    if config.getoption("--full"):
        return
    dropped = [i for i in items if i.get_closest_marker("full")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if not i.get_closest_marker("full")]


_CONFIG = []  # the session's config, for the report hook below (it receives none)


def pytest_sessionstart(session):
    _CONFIG.append(session.config)


def pytest_runtest_logreport(report):
    """Time per test file: setup, call and teardown of every test it holds."""
    phases = _CONFIG[-1]._pilotstack_phases
    phase = report.nodeid.split("::", 1)[0]
    phases[phase] = phases.get(phase, 0.0) + (report.duration or 0.0)


def pytest_terminal_summary(terminalreporter, config):
    import time
    wall = time.monotonic() - config._pilotstack_started
    profile = "full" if config.getoption("--full") else "gate"
    terminalreporter.section(f"pilotstack profile: {profile}")
    for phase, seconds in sorted(config._pilotstack_phases.items(), key=lambda kv: -kv[1]):
        if seconds >= 1:
            terminalreporter.write_line(f"{seconds / 60:6.1f} min  {phase}")
    terminalreporter.write_line(f"wall time: {wall / 60:.1f} min ({profile} profile)")
