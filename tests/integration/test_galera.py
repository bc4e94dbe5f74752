"""Database tier on the real testbed, as site.yml deployed it: a 3-node Galera cluster behind
HAProxy on the keepalived VIP. Verify, idempotence, check mode, health endpoint, and the
inputs it must refuse without touching a member."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request

import pytest
import yaml

from pilotstack.drills.galera import (
    DB,
    LB,
    MGMT,
    VIP,
    connect,
    haproxy_servers,
    new_table,
    wait_whole,
)

from .conftest import FIGURES, INVENTORY, ansible_playbook

CNF = "/etc/mysql/mariadb.conf.d/60-pilotstack-galera.cnf"


def health(addr: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{addr}:9200/", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_galera_rerun_changes_nothing_and_never_rebootstraps(stack):
    run = ansible_playbook("galera.yml")
    FIGURES["galera re-run (s)"] = round(run.seconds, 1)
    assert run.rc == 0, run.output[-6000:]
    assert run.changed == 0, {h: r for h, r in run.recap.items() if r["changed"]}
    assert "none : every member is Synced in one Primary component" in run.output


def test_check_mode_on_the_deployed_tier_predicts_no_change(stack):
    for book in ("galera.yml", "loadbalancers.yml"):
        run = ansible_playbook(book, INVENTORY, "--check")
        assert run.rc == 0, run.output[-6000:]
        assert run.changed == 0, (book, {h: r for h, r in run.recap.items() if r["changed"]})
        if book == "galera.yml":
            assert "none : every member is Synced" in run.output


def test_three_members_synced_in_one_primary_component(stack):
    uuids = set()
    for name in DB:
        out = stack.host(name).check_output(
            "mysql -NBe \"SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size',"
            "'wsrep_cluster_status','wsrep_local_state_comment','wsrep_cluster_state_uuid')\"")
        status = dict(line.split("\t") for line in out.splitlines())
        assert status["wsrep_cluster_size"] == "3", (name, status)
        assert status["wsrep_cluster_status"] == "Primary", (name, status)
        assert status["wsrep_local_state_comment"] == "Synced", (name, status)
        uuids.add(status["wsrep_cluster_state_uuid"])
    assert len(uuids) == 1


def test_durability_settings(stack):
    out = stack.host("db2").check_output(
        "mysql -NBe \"SELECT @@innodb_flush_log_at_trx_commit, @@binlog_format, "
        "@@wsrep_sst_method\"")
    assert out.split("\t") == ["1", "ROW", "mariabackup"]


def test_vip_is_held_by_exactly_one_balancer(stack):
    holders = [lb for lb in LB if VIP in stack.host(lb).check_output("ip -4 -o addr show")]
    assert len(holders) == 1, holders
    for lb in LB:
        assert stack.host(lb).service("keepalived").is_running
        assert stack.host(lb).service("haproxy").is_running


def test_a_write_through_the_vip_is_read_on_every_member_and_one_writer_takes_it(
        stack, drill_env, drill_db):
    table = new_table(drill_env, "verify")
    nodes = set()
    for i in range(20):  # new connection each time: HAProxy must pick the same writer
        with connect(VIP, drill_db) as conn, conn.cursor() as cur:
            cur.execute(f"INSERT INTO {table} (id, node) VALUES (%s, @@wsrep_node_name)", (i,))
            cur.execute("SELECT @@wsrep_node_name")
            nodes.add(cur.fetchone()[0])
    assert len(nodes) == 1, nodes
    for name in DB:
        with connect(MGMT[name], drill_db) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM {table}")
            assert cur.fetchone()[0] == 20, name


def test_haproxy_has_one_active_server_and_two_backups(stack, drill_env):
    for lb in LB:
        out = stack.host(lb).check_output(
            "echo 'show stat' | socat -t 2 stdio /run/haproxy/admin.sock")
        rows = [line.split(",") for line in out.splitlines() if line.startswith("galera,db")]
        # columns: 17 status, 19 act, 20 bck
        active = [r[1] for r in rows if r[19] == "1"]
        backup = [r[1] for r in rows if r[20] == "1"]
        assert active == ["db1"] and backup == ["db2", "db3"], (lb, rows)
        assert haproxy_servers(drill_env, lb) == {"db1": "UP", "db2": "UP", "db3": "UP"}
    cfg = stack.host("lb1").file("/etc/haproxy/haproxy.cfg")
    assert cfg.mode == 0o640 and cfg.group == "haproxy"
    assert cfg.contains("on-marked-down shutdown-sessions")


def test_stats_page_needs_the_password(stack):
    try:
        urllib.request.urlopen(f"http://{MGMT['lb1']}:1936/", timeout=5)
        raise AssertionError("stats page answered without credentials")
    except urllib.error.HTTPError as err:
        assert err.code == 401


def test_health_endpoint_200_when_synced_503_in_maintenance(stack):
    for name in DB:
        code, body = health(MGMT[name])
        assert code == 200 and "Primary Synced" in body, (name, code, body)
    db2 = stack.host("db2")
    db2.check_output("touch /etc/mysql/clustercheck.disabled")
    try:
        code, body = health(MGMT["db2"])
        assert code == 503 and "maintenance" in body, (code, body)
    finally:
        db2.check_output("rm -f /etc/mysql/clustercheck.disabled")
    assert health(MGMT["db2"])[0] == 200


def test_secrets_stay_out_of_world_readable_files(stack):
    for host, path in (("db1", CNF), ("db1", "/etc/mysql/pilotstack-clustercheck.cnf"),
                       ("lb1", "/etc/keepalived/keepalived.conf"),
                       ("lb1", "/etc/haproxy/haproxy.cfg")):
        f = stack.host(host).file(path)
        assert f.mode & 0o007 == 0, (host, path, oct(f.mode))


# --- inputs that must be refused before any member is touched ---------------------------

def _inventory_copy(tmp_path, host_vars: dict | None = None):
    inv = tmp_path / "inv"
    shutil.copytree(INVENTORY, inv)
    for host, values in (host_vars or {}).items():
        (inv / "host_vars").mkdir(exist_ok=True)
        (inv / "host_vars" / f"{host}.yml").write_text(yaml.safe_dump(values))
    return inv


def _config_stamps(stack) -> dict[str, str]:
    return {h: stack.host(h).check_output(f"stat -c %Y:%s {CNF}") for h in DB}


@pytest.mark.parametrize("case", ["wrong cluster name", "member list differs",
                                  "SST secret missing", "gcomm period Galera refuses"])
def test_bad_input_fails_clearly_and_touches_no_member(stack, tmp_path, case):
    before = _config_stamps(stack)
    extra: list[str] = []
    if case == "wrong cluster name":
        inv = _inventory_copy(tmp_path, {"db3": {"galera_cluster_name": "other"}})
        expect = "galera_cluster_name differs between members"
    elif case == "member list differs":
        inv = _inventory_copy(tmp_path, {"db2": {"galera_hosts": ["db1", "db2"]}})
        expect = "galera_hosts differs between members"
    elif case == "gcomm period Galera refuses":
        # Galera refuses it only when a server starts: unchecked, a rolling restart would
        # stop the first member and leave it down.
        inv = INVENTORY
        extra = ["-e", "galera_evs_join_retrans_period=PT0.05S"]
        expect = "galera_evs_join_retrans_period=PT0.05S is below PT0.1S"
    else:
        inv = INVENTORY
        secrets_file = tmp_path / "secrets.json"
        # The vault stays as it is: extra vars override the secrets for this run only.
        secrets_file.write_text(json.dumps({"pilotstack_secrets": {
            "galera_monitor_password": "x" * 20}}))
        extra = ["-e", f"@{secrets_file}"]
        expect = "missing secrets galera_sst_password"
    run = ansible_playbook("galera.yml", inv, *extra)
    assert run.rc != 0
    assert expect in run.output and "No member was touched" in run.output, run.output[-3000:]
    assert run.changed == 0
    assert _config_stamps(stack) == before
    assert wait_whole_quick(stack)


def wait_whole_quick(stack) -> bool:
    for name in DB:
        out = stack.host(name).check_output(
            "mysql -NBe \"SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'\"")
        if not out.endswith("3"):
            return False
    return True


@pytest.mark.full
def test_a_member_of_another_cluster_is_refused_not_wiped(stack, drill_db):
    """db3 is made the sole member of a new cluster (new uuid, same name): the plan sees two
    Primary components and stops; nothing is bootstrapped or wiped. Stopped, with its Galera
    files deleted by hand, db3 still holds the other history in InnoDB (--wsrep-recover
    reads it): refused again, named. The override joins it by SST, its data moved aside."""
    db3 = stack.host("db3")
    db3.check_output("systemctl stop mariadb && rm -f /var/lib/mysql/grastate.dat "
                     "/var/lib/mysql/gvwstate.dat /var/lib/mysql/galera.cache && "
                     "galera_new_cluster")
    try:
        run = ansible_playbook("galera.yml")
        assert run.rc != 0
        assert "different Primary components" in run.output, run.output[-3000:]
        assert "stop the wrong side by hand" in run.output
        st = db3.check_output("mysql -NBe \"SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'\"")
        assert st.endswith("1"), st  # still its own cluster: not touched
    finally:
        db3.check_output("systemctl stop mariadb && rm -f /var/lib/mysql/grastate.dat "
                         "/var/lib/mysql/gvwstate.dat /var/lib/mysql/galera.cache")
    run = ansible_playbook("galera.yml")
    assert run.rc != 0
    assert "db3 holds history" in run.output, run.output[-3000:]
    assert db3.run("systemctl is-active mariadb").stdout.strip() != "active"
    run = ansible_playbook("galera.yml", INVENTORY, "-e", "pilotstack_galera_bootstrap_host=db1",
                           "-e", "pilotstack_galera_accept_data_loss=true")
    assert run.rc == 0, run.output[-4000:]
    assert "db3: data directory moved aside to /var/lib/mysql.pilotstack-resync-" in run.output
    wait_whole(drill_db, timeout=300)
    db3.check_output("rm -rf /var/lib/mysql.pilotstack-resync-*")


@pytest.mark.full
def test_later_tiers_add_listeners_through_haproxy_services(stack, tmp_path):
    """An HTTP API listener (here: the members' health endpoint standing in for an API) is
    added by a variable, validated, reloaded without closing the Galera listener, and
    removed again by the next plain run."""
    extra = tmp_path / "services.json"
    extra.write_text(json.dumps({"haproxy_services": [{
        "name": "example_api", "port": 18080, "mode": "http", "hosts": ["db1", "db2"],
        "backend_port": 9200, "check": {"path": "/"}}]}))
    run = ansible_playbook("loadbalancers.yml", INVENTORY, "-e", f"@{extra}")
    assert run.rc == 0, run.output[-4000:]
    for lb in LB:
        out = stack.host(lb).check_output(
            "echo 'show stat' | socat -t 2 stdio /run/haproxy/admin.sock | cut -d, -f1,2,18")
        assert "example_api,db1,UP" in out and "example_api,db2,UP" in out, out
    with urllib.request.urlopen(f"http://{VIP}:18080/", timeout=5) as resp:
        assert resp.status == 200 and "Primary Synced" in resp.read().decode()
    run = ansible_playbook("loadbalancers.yml")
    assert run.rc == 0 and run.changed > 0
    out = stack.host("lb1").check_output(
        "echo 'show stat' | socat -t 2 stdio /run/haproxy/admin.sock")
    assert "example_api" not in out and "galera,db1" in out


def test_check_diff_verbose_output_holds_no_vault_value(stack):
    """Change a line next to each secret-holding template, run --check --diff -v: the files
    are predicted changed and none of the vault's values is printed."""
    from pilotstack import secrets
    values = [v for v in secrets.load(INVENTORY).values() if isinstance(v, str) and len(v) >= 8]
    assert values
    runs = [ansible_playbook("galera.yml", INVENTORY, "--check", "--diff", "-v",
                             "-e", "galera_max_connections=499"),
            ansible_playbook("loadbalancers.yml", INVENTORY, "--check", "--diff", "-v",
                             "-e", "haproxy_stats_user=pilotstack-audit",
                             "-e", "keepalived_advert_int=2")]
    for run in runs:
        assert run.rc == 0, run.output[-3000:]
    out = "\n".join(r.output for r in runs)
    for task in ("Configure | Galera server configuration",
                 "HAProxy | configuration (checked with haproxy -c before it is installed)",
                 "Keepalived | configuration (checked before it is installed)"):
        after = out.split(f"{task}]", 1)  # TASK [role : name]
        assert len(after) == 2, task
        block = after[1].split("TASK [", 1)[0]
        assert "changed: [" in block, (task, block[:600])
    leaked = [v[:4] + "..." for v in values if v in out]
    assert not leaked, f"vault values printed: {leaked}"


@pytest.mark.full
def test_a_restart_and_a_drain_left_by_a_stopped_run_are_finished_by_the_next(stack):
    """A run that wrote db2's configuration and stopped before its restart (the file is
    newer than db2's server), and one that stopped with db3 drained: the next run restarts
    db2 alone and puts db3 back; the run after changes nothing. A drain written by hand is
    reported and left in place."""
    db2, db3 = stack.host("db2"), stack.host("db3")
    pid = {h: stack.host(h).check_output("systemctl show -p MainPID --value mariadb")
           for h in DB}
    db2.check_output(f"touch {CNF}")
    drain = "/etc/mysql/clustercheck.disabled"
    db3.check_output(f"printf 'pilotstack: drained for a rolling restart\\n' > {drain}")
    try:
        check = ansible_playbook("galera.yml", INVENTORY, "--check")
        assert check.rc == 0 and "pending from an earlier run: db2" in check.output
        run = ansible_playbook("galera.yml")
        assert run.rc == 0, run.output[-4000:]
        assert "rolling restart: db2; pending from an earlier run: db2" in run.output
        after = {h: stack.host(h).check_output("systemctl show -p MainPID --value mariadb")
                 for h in DB}
        assert [h for h in DB if after[h] != pid[h]] == ["db2"], (pid, after)
        assert not db3.file(drain).exists
        assert health(MGMT["db3"])[0] == 200
        again = ansible_playbook("galera.yml")
        assert again.rc == 0 and again.changed == 0, again.recap
        # An operator's drain: reported, never removed by a run.
        db3.check_output(f"echo 'disk replacement' > {drain}")
        run = ansible_playbook("galera.yml")
        assert run.rc == 0 and run.changed == 0, run.recap
        assert "was not written by pilotstack; left as it is" in run.output
        assert db3.file(drain).exists and health(MGMT["db3"])[0] == 503
    finally:
        db3.check_output(f"rm -f {drain}")
    assert wait_whole_quick(stack)
