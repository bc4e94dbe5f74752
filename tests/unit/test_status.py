"""`pilotstack status`: inventory reading, SSH options, HAProxy's writer, the verdict."""

from __future__ import annotations

from pathlib import Path

from pilotstack import status

FIXTURES = Path(__file__).parent / "fixtures"

INVENTORY = {
    "_meta": {"hostvars": {
        "lb1": {"ansible_host": "10.0.0.11", "ansible_user": "root",
                "ansible_ssh_common_args": "-o UserKnownHostsFile=/k/known_hosts "
                                           "-o StrictHostKeyChecking=yes",
                "pilotstack_vips": {"internal": {"address": "10.0.0.100",
                                                 "hosts_group": "lb"}},
                "pilotstack_disabled_tiers": ["ceph"], "pilotstack_secrets": {"x": "secret"}},
        "db1": {"ansible_host": "10.0.0.21", "pilotstack_disabled_tiers": ["ceph"]},
        "st1": {"ansible_host": "10.0.0.41", "pilotstack_disabled_tiers": ["ceph"]}}},
    "all": {"children": ["ungrouped", "lb", "galera", "storage"]},
    "lb": {"hosts": ["lb1"]},
    "galera": {"hosts": ["db1"]},
    "storage": {"children": ["gluster", "ceph_mon"]},
    "gluster": {"hosts": ["st1"]},
    "ceph_mon": {"hosts": ["st1"]},
}


def test_inventory_groups_children_and_connection_variables_only():
    inv = status.parse_inventory(INVENTORY)
    assert inv["groups"]["storage"] == ["st1"]
    assert inv["groups"]["all"] == ["lb1", "db1", "st1"]
    assert inv["hosts"]["lb1"] == {"ansible_host": "10.0.0.11", "ansible_user": "root",
                                   "ansible_ssh_common_args": INVENTORY["_meta"]["hostvars"][
                                       "lb1"]["ansible_ssh_common_args"]}
    # secrets never leave ansible-inventory's output for the status code
    assert "pilotstack_secrets" not in str(inv)


def test_disabled_and_empty_tiers_are_not_probed():
    inv = status.parse_inventory(INVENTORY)
    assert status.enabled_tiers(inv) == ["gluster", "galera", "lb"]  # registry order


def test_known_hosts_file_is_taken_from_the_ssh_arguments():
    assert status._known_hosts("-o UserKnownHostsFile=/a/b -o X=y") == "/a/b"
    assert status._known_hosts("-o StrictHostKeyChecking=yes -oUserKnownHostsFile=/c") == "/c"
    assert status._known_hosts("-o userknownhostsfile=/d") == "/d"
    assert status._known_hosts(None) is None


def stat_csv(rows: list[tuple[str, str, bool]]) -> str:
    """`show stat` lines: pxname, svname, ... status at 17, bck at 20, sid at 28."""
    header = (FIXTURES / "haproxy-2.6-show-stat.csv").read_text().splitlines()[0]
    lines = [",".join(header.split(",")[:30])]
    for sid, (name, state, backup) in enumerate(rows, 1):
        cols = ["galera", name] + [""] * 28
        cols[17], cols[19], cols[20] = state, "0" if backup else "1", "1" if backup else "0"
        cols[28] = str(sid)
        lines.append(",".join(cols))
    return "\n".join(lines)


def test_writer_is_the_active_server_when_up():
    csv = stat_csv([("db1", "UP", False), ("db2", "UP", True), ("db3", "UP", True)])
    assert status.haproxy_writer(csv) == ("db1", {"db1": "UP", "db2": "UP", "db3": "UP"})


def test_writer_is_the_first_backup_up_when_the_active_is_down():
    csv = stat_csv([("db1", "DOWN", False), ("db2", "DOWN", True), ("db3", "UP 1/2", True)])
    assert status.haproxy_writer(csv)[0] == "db3"
    assert status.haproxy_writer(stat_csv([("db1", "DOWN", False)]))[0] is None


def test_writer_is_the_stuck_server_while_it_is_up():
    # db2 took over when db1 failed and keeps the writes now that db1 is back
    csv = stat_csv([("db1", "UP", False), ("db2", "UP", True), ("db3", "UP", True)])
    table = ("#table\n# table: galera, type: ip, size:2, used:1\n"
             "0x55d0c2a1b2c0: key=10.213.10.100 use=0 exp=0 shard=0 server_id=2\n")
    assert status.haproxy_writer(csv + "\n" + table)[0] == "db2"
    down = stat_csv([("db1", "UP", False), ("db2", "DOWN", True), ("db3", "UP", True)])
    assert status.haproxy_writer(down + "\n" + table)[0] == "db1"


def test_writer_from_a_recorded_show_stat():
    text = (FIXTURES / "haproxy-2.6-show-stat.csv").read_text()
    writer, servers = status.haproxy_writer(text)
    assert writer == "db1"
    assert set(servers) == {"db1", "db2", "db3"}


def test_report_verdict_and_table():
    report = status.Report([status.Row("galera", "db1", True, "Synced"),
                            status.Row("galera", "db3", False, "unreachable")], 1.25)
    assert report.problems == ["galera db3: unreachable"]
    data = report.as_dict()
    assert data["healthy"] is False and data["tiers"]["galera"][1]["what"] == "db3"
    lines = status.render(report).splitlines()
    assert lines[2].split()[:3] == ["galera", "db3", "FAIL"]
    assert lines[-1].startswith("DEGRADED: 1 problem(s)")
    assert status.render(status.Report([status.Row("lb", "lb1", True, "")], 0.5)).endswith(
        "healthy (0.5 s)")


def test_an_unreachable_host_is_a_result_not_an_exception():
    sh = status.Shell({"nowhere": {"ansible_host": "127.0.0.1", "ansible_port": 1}})
    rc, out, err = sh.run("nowhere", "true")
    assert rc == 255 and out == "" and err.startswith("unreachable")
