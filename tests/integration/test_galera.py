"""Database tier on the real testbed (work in progress of issue 3): the galera role forms a
3-node cluster from scratch, a re-run changes nothing, writes replicate, the health endpoint
tells Synced from not."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from .conftest import FIGURES, ansible_playbook

DB = ["db1", "db2", "db3"]
MGMT = {"db1": "10.213.10.21", "db2": "10.213.10.22", "db3": "10.213.10.23"}


def health(addr: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{addr}:9200/", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.fixture(scope="module")
def galera(testbed):
    if not testbed.host("db1").file("/etc/apt/apt.conf.d/01pilotstack-proxy").exists:
        base = ansible_playbook("site.yml")
        assert base.rc == 0, base.output[-4000:]
    run = ansible_playbook("galera.yml")
    FIGURES["galera first deploy, 3 nodes (s)"] = round(run.seconds, 1)
    assert run.rc == 0, run.output[-6000:]
    assert "new_cluster db1" in run.output
    return run


def test_rerun_changes_nothing_and_never_rebootstraps(galera):
    run = ansible_playbook("galera.yml")
    FIGURES["galera re-run (s)"] = round(run.seconds, 1)
    assert run.rc == 0, run.output[-6000:]
    assert run.changed == 0, {h: r for h, r in run.recap.items() if r["changed"]}
    assert "none : every member is Synced in one Primary component" in run.output


def test_three_members_synced_in_one_primary_component(galera, testbed):
    uuids = set()
    for name in DB:
        out = testbed.host(name).check_output(
            "mysql -NBe \"SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size',"
            "'wsrep_cluster_status','wsrep_local_state_comment','wsrep_cluster_state_uuid')\"")
        status = dict(line.split("\t") for line in out.splitlines())
        assert status["wsrep_cluster_size"] == "3", (name, status)
        assert status["wsrep_cluster_status"] == "Primary", (name, status)
        assert status["wsrep_local_state_comment"] == "Synced", (name, status)
        uuids.add(status["wsrep_cluster_state_uuid"])
    assert len(uuids) == 1


def test_durability_settings(galera, testbed):
    out = testbed.host("db2").check_output(
        "mysql -NBe \"SELECT @@innodb_flush_log_at_trx_commit, @@binlog_format, "
        "@@wsrep_sst_method\"")
    assert out.split("\t") == ["1", "ROW", "mariabackup"]


def test_a_write_on_one_member_is_read_on_every_member(galera, testbed):
    testbed.host("db1").check_output(
        "mysql -e \"CREATE DATABASE IF NOT EXISTS probe; CREATE TABLE IF NOT EXISTS probe.t "
        "(id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(40)); "
        "INSERT INTO probe.t (v) VALUES ('written-on-db1')\"")
    for name in DB:
        count = testbed.host(name).check_output(
            "mysql -NBe \"SELECT COUNT(*) FROM probe.t WHERE v = 'written-on-db1'\"")
        assert int(count) >= 1, name


def test_health_endpoint_200_when_synced_503_in_maintenance(galera, testbed):
    for name in DB:
        code, body = health(MGMT[name])
        assert code == 200 and "Primary Synced" in body, (name, code, body)
    db2 = testbed.host("db2")
    db2.check_output("touch /etc/mysql/clustercheck.disabled")
    try:
        code, body = health(MGMT["db2"])
        assert code == 503 and "maintenance" in body, (code, body)
    finally:
        db2.check_output("rm -f /etc/mysql/clustercheck.disabled")
    assert health(MGMT["db2"])[0] == 200


def test_secrets_stay_out_of_world_readable_files(galera, testbed):
    for path in ("/etc/mysql/mariadb.conf.d/60-pilotstack-galera.cnf",
                 "/etc/mysql/pilotstack-clustercheck.cnf"):
        f = testbed.host("db1").file(path)
        assert f.mode & 0o007 == 0, (path, oct(f.mode))
