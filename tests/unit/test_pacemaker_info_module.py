"""pilotstack_pacemaker_info: real main(), crm_mon's XML recorded on the testbed
(Pacemaker 2.1.5); commands faked only to test reading and deciding."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import load_plugin, run_module

INFO = load_plugin("library", "pilotstack_pacemaker_info")
FIXTURES = Path(__file__).parent / "fixtures" / "pacemaker"


def crm(name: str, settle_rc: int = 0):
    xml = (FIXTURES / f"pacemaker-2.1-crm-mon-{name}.xml").read_text()
    calls = []

    def run(argv):
        calls.append(argv)
        if argv[0] == "crm_resource":
            return settle_rc, "", "" if settle_rc == 0 else "Pending actions: start vip"
        if argv[0] == "crm_mon":
            return 0, xml, ""
        raise AssertionError(argv)
    return run, calls


def test_configured_cluster_reads_healthy_in_check_mode_too():
    run, calls = crm("controller")
    result = run_module(INFO, {"members": ["ctl1", "ctl2"], "groups": ["controller"]},
                        check_mode=True, run_command=run)
    assert result["failed"] is False and result["changed"] is False
    assert result["problems"] == [], result["problems"]
    assert [c[0] for c in calls] == ["crm_mon"]


def test_fresh_cluster_without_the_group_or_fencing_is_a_problem():
    run, _ = crm("fresh")
    result = run_module(INFO, {"members": ["ctl1", "ctl2"], "groups": ["controller"]},
                        run_command=run)
    assert result["failed"] is False and result["problems"]


def test_pending_actions_are_a_problem():
    run, calls = crm("controller", settle_rc=1)
    result = run_module(INFO, {"members": ["ctl1", "ctl2"], "settle": 5}, run_command=run)
    assert any("still has actions pending after 5 s" in p for p in result["problems"])
    assert calls[0][:2] == ["crm_resource", "--wait"]


def test_crm_mon_failure_fails_the_module():
    result = run_module(INFO, {}, run_command=lambda argv: (102, "", "not connected"))
    assert result["failed"] is True and "is pacemaker running here?" in result["msg"]
