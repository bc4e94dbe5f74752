"""pilotstack_galera_state and pilotstack_galera_plan: real main(), faked command output
(recorded from MariaDB 10.11 + galera-4) only to test reading and deciding."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import load_plugin, run_module

STATE = load_plugin("library", "pilotstack_galera_state")
PLAN = load_plugin("library", "pilotstack_galera_plan")
FIXTURES = Path(__file__).parent / "fixtures" / "galera"
REC_UUID = "677e5ede-e5a7-11f1-8fef-d625cbfa3272"


def fixture(name: str) -> str:
    return (FIXTURES / f"mariadb-10.11-{name}").read_text()


class Runner:
    """Answers like the real commands would; records every argv."""

    def __init__(self, active: bool, sql=(0, "", ""), recover_log: str | None = None):
        self.active, self.sql, self.recover_log, self.calls = active, sql, recover_log, []

    def __call__(self, argv):
        self.calls.append(argv)
        if argv[0] == "systemctl":
            if self.active == "activating":
                return 3, "activating\n", ""
            return (0, "active\n", "") if self.active else (3, "inactive\n", "")
        if argv[0] == "mysql":
            return self.sql
        if argv[0] == "mariadbd":
            log = next(a.split("=", 1)[1] for a in argv if a.startswith("--log-error="))
            if self.recover_log is not None:
                Path(log).write_text(self.recover_log)
            return 0, "", ""
        raise AssertionError(f"unexpected command {argv}")


def datadir(tmp_path, grastate: str | None) -> str:
    if grastate is not None:
        (tmp_path / "grastate.dat").write_text(grastate)
    return str(tmp_path)


def test_running_member_reports_live_status(tmp_path):
    runner = Runner(active=True, sql=(0, fixture("status.txt"), ""))
    result = run_module(STATE, {"datadir": datadir(tmp_path, fixture("grastate-running.txt"))},
                        run_command=runner)
    assert result["failed"] is False and result["changed"] is False
    assert result["running"] is True and result["readable"] is True
    assert result["status"]["wsrep_local_state_comment"] == "Synced"
    assert result["grastate"]["uuid"] == REC_UUID
    assert ["mysql", "--batch", "--skip-column-names", "-e",
            "SHOW GLOBAL STATUS LIKE 'wsrep_%'"] in result["commands"]
    assert not any(c[0] == "mariadbd" for c in runner.calls)


def test_killed_member_is_recovered_when_asked(tmp_path):
    runner = Runner(active=False, recover_log=fixture("recover.log"))
    args = {"datadir": datadir(tmp_path, fixture("grastate-killed.txt")), "recover": True}
    result = run_module(STATE, args, run_command=runner)
    assert result["running"] is False and result["readable"] is True
    assert result["grastate"]["seqno"] == -1
    assert result["recovered"] == {"uuid": REC_UUID, "seqno": 4, "prepared_transactions": 0}
    recover = next(c for c in runner.calls if c[0] == "mariadbd")
    assert "--wsrep-recover" in recover and f"--datadir={tmp_path}" in recover


def test_recover_is_skipped_without_the_flag_and_in_check_mode(tmp_path):
    args = {"datadir": datadir(tmp_path, fixture("grastate-killed.txt")), "recover": True}
    for extra, check in (({"recover": False}, False), ({}, True)):
        runner = Runner(active=False, recover_log=fixture("recover.log"))
        result = run_module(STATE, dict(args, **extra), check_mode=check, run_command=runner)
        assert result["recovered"] is None
        assert result["recover_pending"] is check
        assert not any(c[0] == "mariadbd" for c in runner.calls)


def test_check_mode_plan_on_a_killed_member_is_unknown_not_refused(tmp_path):
    # a real run would --wsrep-recover db2 and bootstrap it; check mode must not refuse
    args = {"datadir": datadir(tmp_path, fixture("grastate-killed.txt")), "recover": True}
    killed = run_module(STATE, args, check_mode=True,
                        run_command=Runner(active=False, recover_log=fixture("recover.log")))
    behind = {"readable": True, "running": False,
              "grastate": {"uuid": REC_UUID, "seqno": 3, "safe_to_bootstrap": 0}}
    result = run_module(PLAN, {"hosts": ["db1", "db2", "db3"],
                               "states": {"db1": behind, "db2": killed, "db3": behind}},
                        check_mode=True)
    assert result["failed"] is False
    assert result["action"] == "unknown"
    assert "db2: position unknown until --wsrep-recover" in result["reasons"][0]


def test_data_directory_contents_and_last_primary_view_are_reported(tmp_path):
    (tmp_path / "mysql").mkdir()
    (tmp_path / "drill").mkdir()
    (tmp_path / "galera.cache").write_text("")
    (tmp_path / "ibdata1").write_text("")
    (tmp_path / "gvwstate.dat").write_text(
        "my_uuid: u1\n#vwbeg\nview_id: 3 u1 7\nbootstrap: 0\nmember: u1 0\n"
        "member: u2 0\nmember: u3 0\n#vwend\n")
    result = run_module(STATE, {"datadir": str(tmp_path), "recover": True},
                        run_command=Runner(active=False, recover_log=fixture("recover.log")))
    assert result["datadir"] == ["dir:drill", "dir:mysql", "galera.cache", "gvwstate.dat"]
    assert result["gvwstate"] == {"my_uuid": "u1", "view_id": "3 u1 7",
                                  "members": ["u1", "u2", "u3"]}
    # no grastate.dat, but the directory held data: --wsrep-recover reads the position
    assert result["recovered"]["seqno"] == 4


def test_clean_stop_needs_no_recovery(tmp_path):
    runner = Runner(active=False, recover_log=fixture("recover.log"))
    args = {"datadir": datadir(tmp_path, fixture("grastate-clean.txt")), "recover": True}
    result = run_module(STATE, args, run_command=runner)
    assert result["grastate"] == {"uuid": REC_UUID, "seqno": 6, "safe_to_bootstrap": 1}
    assert not any(c[0] == "mariadbd" for c in runner.calls)


def test_fresh_host_has_no_state(tmp_path):
    result = run_module(STATE, {"datadir": datadir(tmp_path, None), "recover": True},
                        run_command=Runner(active=False))
    assert result["readable"] is True and result["grastate"] is None
    assert result["recovered"] is None


def test_active_server_that_does_not_answer_is_unreadable(tmp_path):
    runner = Runner(active=True, sql=(1, "", "ERROR 2002 (HY000): Can't connect"))
    result = run_module(STATE, {"datadir": datadir(tmp_path, None)}, run_command=runner)
    assert result["readable"] is False
    assert "does not answer SQL: ERROR 2002" in result["error"]


def test_recovery_that_finds_nothing_is_unreadable(tmp_path):
    runner = Runner(active=False, recover_log="[ERROR] InnoDB: corrupted\n")
    args = {"datadir": datadir(tmp_path, fixture("grastate-killed.txt")), "recover": True}
    result = run_module(STATE, args, run_command=runner)
    assert result["readable"] is False
    assert "--wsrep-recover found no position" in result["error"]


def test_member_still_starting_is_reported_not_recovered(tmp_path):
    runner = Runner(active="activating", recover_log=fixture("recover.log"))
    args = {"datadir": datadir(tmp_path, fixture("grastate-killed.txt")), "recover": True}
    result = run_module(STATE, args, run_command=runner)
    assert result["readable"] is False and result["starting"] is True
    assert "still starting" in result["error"] and "stop it to read its position" in result["error"]
    assert [c[0] for c in runner.calls] == ["systemctl"]


def test_state_module_rejects_unknown_option(tmp_path):
    result = run_module(STATE, {"datadir": str(tmp_path), "bogus": 1},
                        run_command=Runner(active=False))
    assert result["failed"] is True and "bogus" in result["msg"]


def _down(seqno, recovered=None):
    return {"readable": True, "running": False,
            "grastate": {"uuid": REC_UUID, "seqno": seqno, "safe_to_bootstrap": 0},
            "recovered": None if recovered is None else {"uuid": REC_UUID, "seqno": recovered}}


def test_plan_module_returns_the_plan_in_check_mode_too():
    args = {"hosts": ["db1", "db2", "db3"],
            "states": {"db1": _down(4), "db2": _down(-1, 9), "db3": _down(7)}}
    for check in (False, True):
        result = run_module(PLAN, args, check_mode=check)
        assert result["failed"] is False and result["changed"] is False
        assert (result["action"], result["bootstrap_host"], result["joiners"]) == (
            "bootstrap", "db2", ["db1", "db3"])


def test_plan_module_fails_closed_and_says_why():
    args = {"hosts": ["db1", "db2", "db3"],
            "states": {"db1": _down(4), "db2": {"readable": False, "error": "timed out"},
                       "db3": _down(7)}}
    result = run_module(PLAN, args)
    assert result["failed"] is True
    assert "cannot read the Galera state of db2: timed out" in result["msg"]
    assert "pilotstack_galera_accept_data_loss=true" in result["msg"]


def test_plan_module_rejects_missing_states():
    result = run_module(PLAN, {"hosts": ["db1"]})
    assert result["failed"] is True and "states" in result["msg"]


def test_plan_module_journals_decisions_and_refusals(tmp_path):
    import json
    journal = tmp_path / "sub" / "galera.jsonl"
    ok = {"hosts": ["db1", "db2", "db3"], "journal": str(journal),
          "states": {"db1": _down(4), "db2": _down(-1, 9), "db3": _down(7)}}
    refused = dict(ok, states=dict(ok["states"], db3={"readable": False,
                                                      "error": "no answer"}))
    assert run_module(PLAN, ok, check_mode=True)["failed"] is False
    assert run_module(PLAN, refused)["failed"] is True
    first, second = (json.loads(line) for line in journal.read_text().splitlines())
    assert (first["action"], first["bootstrap_host"], first["check_mode"]) == (
        "bootstrap", "db2", True)
    assert first["states"]["db2"]["recovered"] == {"uuid": REC_UUID, "seqno": 9}
    assert second["action"] == "refused" and second["check_mode"] is False
    assert any("cannot read the Galera state of db3: no answer" in r
               for r in second["reasons"])
    assert second["states"]["db3"]["error"] == "no answer"
