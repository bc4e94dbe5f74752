"""Fault drills on the database tier (pilotstack.drills.galera, the same functions
`pilotstack drill` runs): real kills, pauses and power cuts of testbed containers while a
client writes through the VIP; each counts the inserts the client saw acknowledged against
the rows every member holds afterwards. Plus the recovery cases that are tests rather than
drills (refusals, members not started at boot, a configuration change rolled)."""

from __future__ import annotations

import json
import time

import pytest

from pilotstack.drills import Result
from pilotstack.drills import galera as g

from .conftest import DRILLS, FIGURES, INVENTORY, pilotstack, run_drill

pytestmark = pytest.mark.usefixtures("stack")


def test_drill_through_the_cli_prints_figures_and_writes_its_report(tmp_path):
    """`pilotstack drill NAME`: the operator's way in, same function as the others."""
    report = tmp_path / "report.json"
    proc = pilotstack("drill", "galera-writer-killed", "--report", str(report), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "writer killed: write gap on loss (s):" in proc.stdout
    assert "writer killed: write gap on return (s):" in proc.stdout
    assert proc.stdout.rstrip().endswith("acknowledged"), proc.stdout
    data = json.loads(report.read_text())
    assert data["ok"] and data["lost"] == 0
    (drill,) = data["drills"]
    assert drill["counts"][0]["acknowledged"] > 300 and drill["counts"][0]["lost"] == 0
    FIGURES.update(drill["figures"])
    DRILLS.append(Result.from_dict(drill))


@pytest.mark.parametrize("name", ["galera-writer-frozen", "galera-vip-holder",
                                  pytest.param("galera-power-cut", marks=pytest.mark.full),
                                  # Galera's recovery drill (the trial's sequence)
                                  "galera-behind-member",
                                  pytest.param("galera-slow-link", marks=pytest.mark.full)])
def test_drill(drill_env, name):
    run_drill(drill_env, name)


def wait_unit(env, host: str, state: str, timeout: float = 60.0) -> None:
    end, seen = time.monotonic() + timeout, ""
    while time.monotonic() < end:
        seen = env.on(host, "systemctl is-active mariadb", check=False).strip()
        if seen == state:
            return
        time.sleep(0.5)
    raise AssertionError(f"{host}: mariadb is {seen!r}, not {state!r}")


@pytest.mark.full
def test_outage_with_members_not_started_at_boot_recovers_from_the_newest(drill_env):
    """Power cut with the units disabled at boot (nothing can heal by itself): the playbook
    must read every position with --wsrep-recover, bootstrap the newest and rejoin the
    others. (Stopping members while they heal after boot is racy: a mariadbd stopped in the
    middle of its IST hangs until systemd kills it, 15 min later.)"""
    env = drill_env
    with g.writing(env, "outage_newest") as writer:
        for host in g.DB:
            env.on(host, "systemctl disable mariadb")
        g.power_cut(env, writer)
        for host in g.DB:
            env.wait_ssh(host)
            wait_unit(env, host, "inactive")
        start = time.monotonic()
        run = env.playbook("galera-recover.yml")
        assert run.rc == 0, run.output[-5000:]
        FIGURES["outage, members not started at boot: recovery playbook (s)"] = round(
            time.monotonic() - start, 1)
        assert "bootstrap db" in run.output and "total outage" in run.output, run.output[-3000:]
        for host in g.DB:  # the role enables the unit again
            assert env.on(host, "systemctl is-enabled mariadb").strip() == "enabled", host
        g.back_to_normal(env)


@pytest.mark.full
def test_recovery_refuses_when_a_member_cannot_be_read(drill_env):
    env = drill_env
    with g.writing(env, "refusal") as writer:
        g.power_cut(env, writer, back=("db1", "db2"))  # db3 stays off
        for host in ("db1", "db2"):
            env.wait_ssh(host)
        run = env.playbook("galera-recover.yml")
        assert run.rc != 0
        # refused before anything is stopped (members still starting) or by the plan
        assert ("db3 cannot be reached" in run.output
                or "cannot read the Galera state of db3" in run.output), run.output[-3000:]
        journal = (INVENTORY.parent.parent / ".pilotstack" / "journal"
                   / "galera-recover.jsonl").read_text().splitlines()
        assert '"refused"' in journal[-1], journal[-1]
        for host in ("db1", "db2"):  # nothing was bootstrapped
            assert env.on(host, "systemctl is-active mariadb", check=False).strip() != (
                "active"), host
        env.faults.start("db3")
        env.wait_ssh("db3")
        run = env.playbook("galera-recover.yml")
        assert run.rc == 0, run.output[-5000:]
        g.back_to_normal(env)


@pytest.mark.full
def test_rolling_restart_under_write_load_uses_ist_only(drill_env):
    run_drill(drill_env, "galera-rolling-restart")


@pytest.mark.full
def test_config_change_rolls_through_the_members(drill_env):
    """A changed setting reaches running members one at a time (role, not playbook)."""
    env = drill_env
    with g.writing(env, "config_change") as writer:
        since = env.on("db1", "date '+%Y-%m-%d %H:%M:%S'").strip()
        run = env.playbook("galera.yml", "-e", "galera_max_connections=501")
        assert run.rc == 0, run.output[-5000:]
        assert "rolling restart: db1, db2, db3" in run.output
        for host in g.DB:
            assert env.on(host, "mysql -NBe 'SELECT @@max_connections'").strip() == "501"
        run = env.playbook("galera.yml")  # back to the inventory's value, rolling again
        assert run.rc == 0, run.output[-5000:]
        assert g.ist_and_sst_since(env, since) == (6, 0)
        writer.wait_acks(100)


@pytest.mark.full
def test_repeated_kills_and_rejoins(drill_env):
    """6 cycles (each member killed twice; 20 before the Ceph tier needed the CI time, same
    figures)."""
    run_drill(drill_env, "galera-kill-rejoin-cycles")


@pytest.mark.full
def test_override_resyncs_the_members_ahead_and_keeps_their_data_aside(drill_env):
    """The override gets the operator out of any state: bootstrap db3, which is BEHIND (it
    was killed first, db1/db2 took more writes, then lost power). db1 and db2 are ahead:
    their data directories are moved aside (path printed and journalled) and they rejoin
    by SST. What only db1/db2 held is lost, as the operator accepted; every row
    acknowledged before db3 left is on every member, and every member holds the same rows."""
    env = drill_env
    table = g.new_table(env, "override")
    g.back_to_normal(env)
    writer = g.Writer(env.sql_account, table).start()
    try:
        writer.wait_acks(200)
        t_kill = time.monotonic()
        env.faults.kill("db3")
        # applied on db3 for sure: acknowledged a second before it died (a write-set
        # acknowledged on the writer is applied on the others asynchronously, in ms)
        before = {row_id for row_id, t, _ in writer.acked if t < t_kill - 1.0}
        writer.wait_acks(500, timeout=120)
        env.faults.kill("db1", "db2")
        time.sleep(2)
    finally:
        writer.stop()
    env.faults.start(*g.DB)
    for host in g.DB:
        env.wait_ssh(host)
    run = env.playbook("galera-recover.yml", "-e", "pilotstack_galera_bootstrap_host=db3",
                       "-e", "pilotstack_galera_accept_data_loss=true")
    assert run.rc == 0, run.output[-5000:]
    assert "data directory moved aside to /var/lib/mysql.pilotstack-resync-" in run.output
    assert "its newer commits are discarded" in run.output, run.output[-3000:]
    for host in ("db1", "db2"):
        aside = env.on(host, "ls -d /var/lib/mysql.pilotstack-resync-*").split()
        assert aside, host
        assert env.on(host, f"test -f {aside[-1]}/grastate.dat && echo kept").strip() == (
            "kept"), host
        env.on(host, "rm -rf /var/lib/mysql.pilotstack-resync-*")
    assert env.on("db3", "ls -d /var/lib/mysql.pilotstack-resync-* 2>/dev/null || true"
                  ).strip() == ""
    journal = (INVENTORY.parent.parent / ".pilotstack" / "journal"
               / "galera-recover.jsonl").read_text()
    assert '"event": "resync"' in journal
    g.back_to_normal(env)
    held = {}
    for host in g.DB:
        with g.connect(g.MGMT[host], env.sql_account) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT id FROM {table}")  # noqa: S608
            held[host] = {row[0] for row in cur.fetchall()}
    assert held["db1"] == held["db2"] == held["db3"]
    assert before <= held["db3"], len(before - held["db3"])
    FIGURES["override: rows discarded as accepted (acknowledged only by db1/db2)"] = (
        len({i for i, _, _ in writer.acked} - held["db3"]))
