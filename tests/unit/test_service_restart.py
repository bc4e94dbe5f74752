"""Restart pending (module_utils/pilotstack_service.py) and the drain file's owner: the
decisions on recorded /proc contents, and pilotstack_galera_state's main() returning them."""

from __future__ import annotations

import os

from ansible.module_utils import pilotstack_service as svc

from tests.conftest import load_plugin, run_module

STATE = load_plugin("library", "pilotstack_galera_state")
GALERA = load_plugin("filter_plugins", "pilotstack_galera")

# /proc/<pid>/stat of mariadbd (command name with a space to test the split), started
# 123456 ticks (1234.56 s at 100 Hz) after boot; boot at epoch 1764900000.
STAT = ("4242 (mariadbd x) S 1 4242 4242 0 -1 4194560 9012 0 2 0 310 95 0 0 20 0 40 0 "
        "123456 1800000000 40000 18446744073709551615 1 1 0 0 0 0 0 4096 1260 0 0 0 17 1 0 "
        "0 0 0 0")
PROC_STAT = "cpu  1 2 3 4\nbtime 1764900000\nprocesses 99\n"
STARTED = 1764900000 + 1234.56


def runner(pid="4242"):
    calls = []

    def run(argv):
        calls.append(argv)
        if argv[:2] == ["systemctl", "show"]:
            return 0, f"{pid}\n", ""
        raise AssertionError(f"unexpected {argv}")
    run.calls = calls
    return run


def reader(files: dict):
    return lambda path: files.get(path)


PROC = {"/proc/4242/stat": STAT, "/proc/stat": PROC_STAT}


def test_process_start_time_from_proc():
    assert svc.process_started(4242, reader(PROC), clock_ticks=100) == STARTED
    assert svc.process_started(4242, reader({}), clock_ticks=100) is None
    assert svc.process_started(4242, reader({**PROC, "/proc/stat": "cpu 1\n"}),
                               clock_ticks=100) is None


def test_a_file_written_after_the_start_means_a_restart_is_pending():
    mtimes = {"/etc/a.cnf": STARTED + 30, "/etc/b.cnf": STARTED - 30}
    result = svc.restart_pending(runner(), reader(PROC), mtimes.get, "mariadb",
                                 ["/etc/a.cnf", "/etc/b.cnf", "/etc/missing.cnf"],
                                 clock_ticks=100)
    assert result["pending"] is True and result["newer"] == ["/etc/a.cnf"]
    assert "pid 4242" in result["why"] and "/etc/a.cnf" in result["why"]


def test_a_file_written_before_the_start_or_within_btime_resolution_is_not():
    # btime has a resolution of one second: a file written half a second "after" the
    # computed start may be older than the real start.
    mtimes = {"/etc/a.cnf": STARTED + 0.5}
    result = svc.restart_pending(runner(), reader(PROC), mtimes.get, "mariadb",
                                 ["/etc/a.cnf"], clock_ticks=100)
    assert result["pending"] is False and result["why"] is None


def test_a_stopped_service_has_no_pending_restart():
    result = svc.restart_pending(runner(pid="0"), reader(PROC), lambda p: 2e9, "mariadb",
                                 ["/etc/a.cnf"], clock_ticks=100)
    assert result == {"pending": False, "newer": [], "started": None, "why": None}


def test_drain_owner():
    assert svc.drain_owner(None) is None
    assert svc.drain_owner("pilotstack: drained for a rolling restart\n") == "pilotstack"
    assert svc.drain_owner("") == "operator"
    assert svc.drain_owner("disk replacement, ask Anna\n") == "operator"


def test_state_module_reports_restart_pending_and_the_role_drain(tmp_path):
    cnf = tmp_path / "galera.cnf"
    cnf.write_text("[galera]\n")
    drain = tmp_path / "drain"
    drain.write_text("pilotstack: drained for a rolling restart\n")
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "stat").write_text(STAT)
    # The process started 60 s before the file was written.
    started = os.stat(cnf).st_mtime - 60
    btime = int(started) - 1000
    ticks = int(round((started - btime) * os.sysconf("SC_CLK_TCK")))
    fields = STAT.split(") ", 1)[1].split()
    fields[19] = str(ticks)
    (proc / "stat").write_text("4242 (mariadbd) " + " ".join(fields))
    real_open = open

    def fake_open(path, *a, **kw):
        if path == "/proc/4242/stat":
            return real_open(proc / "stat", *a, **kw)
        if path == "/proc/stat":
            (proc / "btime").write_text(f"btime {btime}\n")
            return real_open(proc / "btime", *a, **kw)
        return real_open(path, *a, **kw)

    def run(argv):
        if argv[:2] == ["systemctl", "is-active"]:
            return 0, "active\n", ""
        if argv[:2] == ["systemctl", "show"]:
            return 0, "4242\n", ""
        if argv[0] == "mysql":
            return 0, "wsrep_local_state_comment\tSynced\n", ""
        raise AssertionError(argv)

    import builtins
    from unittest import mock
    with mock.patch.object(builtins, "open", fake_open):
        result = run_module(STATE, {"datadir": str(tmp_path / "data"),
                                    "config_files": [str(cnf)], "drain_file": str(drain)},
                            run_command=run)
    assert result["failed"] is False and result["changed"] is False
    assert result["restart_pending"] is True, result
    assert str(cnf) in result["restart_pending_why"]
    assert result["drained"] == "pilotstack"


def test_gcomm_periods_galera_refuses_or_that_contradict_are_named():
    ok = {"evs_suspect_timeout": "PT5S", "evs_inactive_timeout": "PT15S",
          "evs_join_retrans_period": "PT0.1S", "evs_keepalive_period": "PT0.1S",
          "evs_inactive_check_period": "PT0.2S"}
    assert GALERA.pilotstack_galera_gcomm_problems(ok) == []
    assert GALERA.period_seconds("PT1M30S") == 90 and GALERA.period_seconds("5s") is None
    low = GALERA.pilotstack_galera_gcomm_problems({**ok, "evs_join_retrans_period": "PT0.05S"})
    assert low == ["galera_evs_join_retrans_period=PT0.05S is below PT0.1S, which Galera "
                   "refuses when the server starts"]
    bad = GALERA.pilotstack_galera_gcomm_problems({**ok, "evs_keepalive_period": "0.1"})
    assert "is not an ISO 8601 duration" in bad[0]
    order = GALERA.pilotstack_galera_gcomm_problems({**ok, "evs_inactive_timeout": "PT3S",
                                                     "evs_inactive_check_period": "PT3S"})
    assert any("inactive_timeout must not be shorter" in p for p in order)
    assert any("inactive_check_period must be at most half" in p for p in order)


PENDING = load_plugin("library", "pilotstack_restart_pending")


def test_restart_pending_module_reads_a_stopped_service_as_nothing_pending(tmp_path):
    cnf = tmp_path / "rabbitmq.conf"
    cnf.write_text("x = 1\n")

    def run(argv):
        assert argv[:2] == ["systemctl", "show"], argv
        return 0, "0\n", ""
    result = run_module(PENDING, {"service": "rabbitmq-server", "config_files": [str(cnf)]},
                        check_mode=True, run_command=run)
    assert result["failed"] is False and result["changed"] is False
    assert result["pending"] is False and result["started"] is None


def test_restart_pending_module_finds_a_file_newer_than_this_process(tmp_path):
    """The test's own process stands for the server: a file written now is newer."""
    import time
    time.sleep(1.2)  # past the one-second tolerance of btime
    cnf = tmp_path / "rabbitmq.conf"
    cnf.write_text("x = 2\n")
    pid = os.getpid()
    result = run_module(PENDING, {"service": "rabbitmq-server", "config_files": [str(cnf)]},
                        run_command=lambda argv: (0, f"{pid}\n", ""))
    assert result["pending"] is True, result
    assert result["newer"] == [str(cnf)] and f"pid {pid}" in result["why"]
