"""Decisions of module_utils/pilotstack_pacemaker.py: the spec -> CIB elements, the
comparison with the live CIB, what a run would change."""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from module_utils.pilotstack_pacemaker import Refused, build, validate
from tests.conftest import load_plugin, run_module

# The CIB of a fresh two-node cluster, recorded on the testbed (Pacemaker 2.1.5).
FRESH = (Path(__file__).parent / "fixtures" / "pacemaker" /
         "pacemaker-2.1-cib-fresh.xml").read_text()

SPEC = {
    "properties": {"stonith-enabled": "true"},
    "primitives": [
        {"id": "vip", "class": "ocf", "provider": "heartbeat", "type": "IPaddr2",
         "params": {"ip": "10.0.0.110", "cidr_netmask": "24"},
         "ops": [{"name": "monitor", "interval": "10s", "timeout": "20s"}]},
        {"id": "memcached", "class": "systemd", "type": "memcached",
         "ops": [{"name": "monitor", "interval": "10s", "timeout": "30s"}]},
    ],
    "groups": [{"id": "controller", "members": ["vip", "memcached"]}],
    "locations": [{"id": "prefer-ctl1", "rsc": "controller", "node": "ctl1", "score": 50}],
}


def test_fresh_cluster_gets_every_object_then_nothing_changes():
    new, changes = build(FRESH, SPEC)
    assert changes == ["create group controller", "create rsc_location prefer-ctl1",
                       "set crm_config stonith-enabled=true"]
    again, changes = build(ET.tostring(new, encoding="unicode"), SPEC)
    assert changes == []


def test_a_changed_parameter_updates_only_its_object():
    live = ET.tostring(build(FRESH, SPEC)[0], encoding="unicode")
    spec = {**SPEC, "primitives": [dict(SPEC["primitives"][0], params={
        "ip": "10.0.0.111", "cidr_netmask": "24"}), SPEC["primitives"][1]]}
    _, changes = build(live, spec)
    assert changes == ["update group controller"]


def test_undeclared_objects_stay_unless_purged():
    live = ET.tostring(build(FRESH, SPEC)[0], encoding="unicode")
    small = {**SPEC, "locations": []}
    assert build(live, small)[1] == []
    assert build(live, small, purge=True)[1] == ["delete rsc_location prefer-ctl1"]


def test_spec_problems_are_listed_together():
    bad = {**SPEC, "groups": [{"id": "controller", "members": ["vip", "nosuch"]}],
           "orders": [{"id": "o", "first": "ghost", "then": "controller"}]}
    assert validate(bad) == ["group controller: member nosuch is not a declared primitive",
                             "constraint o: first ghost names no resource"]
    assert validate(bad, live_ids={"ghost"}) == [
        "group controller: member nosuch is not a declared primitive"]


def test_node_attributes_only_for_cluster_nodes():
    new, changes = build(FRESH, {"node_attributes": {"ctl1": {"site": "a"}}})
    assert changes == ["set node ctl1 site=a"]
    with pytest.raises(Refused, match="ctl9 is not a node"):
        build(FRESH, {"node_attributes": {"ctl9": {"site": "a"}}})


# --- the module's main(): commands faked, decisions real ---------------------------------
def _cib_runner(live: str, verify_rc: int = 0):
    calls = []

    def run(argv):
        calls.append(argv)
        if argv[:2] == ["cibadmin", "--query"]:
            return 0, live, ""
        if argv[0] == "crm_resource":
            return 0, "<resource-agent/>", ""
        if argv[0] == "crm_verify":
            return (verify_rc, "", "" if verify_rc == 0 else
                    "error: unpack_resources: Resource start-up disabled since no STONITH")
        if argv[0] == "crm_diff":
            return 1, "<diff/>", ""
        if argv[:2] == ["cibadmin", "--patch"]:
            return 0, "", ""
        raise AssertionError(f"unexpected command {argv}")
    return run, calls


def _cib_module():
    return load_plugin("library", "pilotstack_pacemaker_cib")


def test_module_check_mode_verifies_and_shows_a_before_after_diff():
    run, calls = _cib_runner(FRESH)
    result = run_module(_cib_module(), {"spec": SPEC}, check_mode=True, run_command=run)
    assert result["failed"] is False and result["changed"] is True
    assert any(c[0] == "crm_verify" for c in calls)  # read-only, so it runs in check mode
    assert not any(c[:2] == ["cibadmin", "--patch"] for c in calls)
    assert "prefer-ctl1" not in result["diff"]["before"]
    assert "prefer-ctl1" in result["diff"]["after"]


def test_module_check_mode_refuses_what_a_run_refuses():
    run, calls = _cib_runner(FRESH, verify_rc=1)
    result = run_module(_cib_module(), {"spec": SPEC}, check_mode=True, run_command=run)
    assert result["failed"] is True
    assert "the new CIB does not verify" in result["msg"]


def test_module_applies_a_change_then_reports_nothing_to_do():
    run, calls = _cib_runner(FRESH)
    result = run_module(_cib_module(), {"spec": SPEC}, run_command=run)
    assert result["failed"] is False and result["changed"] is True
    assert result["commands"][0][:2] == ["cibadmin", "--patch"]
    live = ET.tostring(build(FRESH, SPEC)[0], encoding="unicode")
    run, calls = _cib_runner(live)
    result = run_module(_cib_module(), {"spec": SPEC}, run_command=run)
    assert result["changed"] is False and not any(c[0] == "crm_verify" for c in calls)


def test_module_diff_masks_secret_values():
    spec = {**SPEC, "primitives": [dict(SPEC["primitives"][0], params={
        "ip": "10.0.0.110", "cidr_netmask": "24", "password": "s3cr3t-value"}),
        SPEC["primitives"][1]]}
    run, _ = _cib_runner(FRESH)
    result = run_module(_cib_module(), {"spec": spec}, check_mode=True, run_command=run)
    assert "s3cr3t-value" not in result["diff"]["after"]
    assert "********" in result["diff"]["after"]


def test_module_fills_a_fence_password_from_the_vault_and_never_shows_it():
    spec = {**SPEC, "primitives": [dict(SPEC["primitives"][0],
                                        secret_params={"password": "bmc_ctl1_password"}),
                                   SPEC["primitives"][1]]}
    run, _ = _cib_runner(FRESH)
    result = run_module(_cib_module(), {"spec": spec, "secrets": {
        "bmc_ctl1_password": "bmc-s3cret-value"}}, check_mode=True, run_command=run)
    assert result["failed"] is False and result["changed"] is True
    assert "bmc-s3cret-value" not in repr(result)
    assert "********" in result["diff"]["after"]
    run, calls = _cib_runner(FRESH)
    result = run_module(_cib_module(), {"spec": spec}, check_mode=True, run_command=run)
    assert result["failed"] is True and "needs the vault secret bmc_ctl1_password" in result["msg"]
    assert calls == []  # refused before the CIB is read
