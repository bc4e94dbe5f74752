"""One health rule per tier (module_utils), as the roles' gates (through the filters),
`pilotstack status` and the drills ask it; one `show stat` parser, by column name."""

from __future__ import annotations

from pathlib import Path

from ansible.module_utils import pilotstack_galera as galera
from ansible.module_utils import pilotstack_haproxy as haproxy

from tests.conftest import load_plugin

FIXTURES = Path(__file__).parent / "fixtures"
MU = load_plugin("filter_plugins", "pilotstack_mu")
UUID_A = "677e5ede-e5a7-11f1-8fef-d625cbfa3272"
UUID_B = "11111111-e5a7-11f1-8fef-d625cbfa3272"


def member(state="Synced", status="Primary", size="3", uuid=UUID_A) -> dict:
    return {"wsrep_local_state_comment": state, "wsrep_cluster_status": status,
            "wsrep_cluster_size": size, "wsrep_cluster_state_uuid": uuid}


def test_a_whole_cluster_has_no_problem():
    states = {h: member() for h in ("db1", "db2", "db3")}
    assert galera.cluster_problems(states, ["db1", "db2", "db3"]) == []


def test_each_member_problem_is_named():
    states = {"db1": member(), "db2": member(state="Donor/Desynced"),
              "db3": member(status="non-Primary", size="1")}
    assert galera.cluster_problems(states, ["db1", "db2", "db3"]) == [
        "db2: Donor/Desynced, not Synced",
        "db3: non-Primary, not Primary; cluster size 1 of 3"]


def test_a_silent_member_is_a_problem():
    states = {"db1": member(), "db2": member()}
    assert galera.cluster_problems(states, ["db1", "db2", "db3"]) == [
        "db3: no wsrep status (server down or not answering)"]


def test_two_clusters_of_the_same_name_are_not_whole():
    # every member Synced and Primary of size 3: only the uuid tells the split
    states = {"db1": member(), "db2": member(), "db3": member(uuid=UUID_B)}
    problems = galera.cluster_problems(states, ["db1", "db2", "db3"])
    assert problems == [f"members report different cluster uuids: db1={UUID_A}, "
                        f"db2={UUID_A}, db3={UUID_B}"]


def test_the_gate_filter_reads_a_looped_state_module():
    results = [{"item": h, "status": member()} for h in ("db1", "db2")]
    results.append({"item": "db3", "status": member(uuid=UUID_B)})
    assert MU.pilotstack_galera_member_problems(member(), 3) == []
    assert MU.pilotstack_galera_member_problems({}, 3) != []
    assert "different cluster uuids" in MU.pilotstack_galera_cluster_problems(
        results, ["db1", "db2", "db3"])[0]


def test_show_stat_is_read_by_column_name():
    text = (FIXTURES / "haproxy-2.6-show-stat.csv").read_text()
    status = haproxy.server_status(text, "galera")
    assert set(status) == {"db1", "db2", "db3"}
    assert all(s.startswith("UP") for s in status.values())
    # the same data with the columns in another order still reads the same
    lines = text.splitlines()
    header = lines[0][2:].rstrip(",").split(",")
    order = list(reversed(range(len(header))))
    moved = ["# " + ",".join(header[i] for i in order)]
    for line in lines[1:]:
        cols = line.split(",")
        cols += [""] * (len(header) - len(cols))
        moved.append(",".join(cols[i] for i in order))
    assert haproxy.server_status("\n".join(moved), "galera") == status
    assert MU.pilotstack_haproxy_server_status(text, "galera", "db2") == status["db2"]
    assert MU.pilotstack_haproxy_server_status(text, "galera", "db9") == "MISSING"


def test_the_stuck_server_is_the_writer():
    text = (FIXTURES / "haproxy-2.6-show-stat.csv").read_text()
    sid = {r["svname"]: r["sid"] for r in haproxy.servers(text, "galera")}
    table = (f"{haproxy.TABLE_MARK}\n# table: galera, type: ip, size:2, used:1\n"
             f"0x55d0: key=10.213.10.100 use=0 exp=0 shard=0 server_id={sid['db3']}\n")
    assert haproxy.writer(text + "\n" + table)[0] == "db3"
    assert haproxy.stuck_server_ids(table) == {sid["db3"]}
