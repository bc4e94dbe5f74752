"""Galera bootstrap decisions: every branch of plan(), and the parsers."""

from __future__ import annotations

import pytest
from ansible.module_utils.pilotstack_galera import (
    NULL_UUID,
    PlanRefused,
    parse_grastate,
    parse_recovered,
    parse_status,
    plan,
)

U = "5ee99582-bb8d-11e2-b8e3-23de375c1d30"
OTHER = "0b8b6c34-1a2b-11ef-9f0e-2a7e8a1b3c4d"
HOSTS = ["db1", "db2", "db3"]


def down(seqno=None, uuid=U, safe=0, recovered=None):
    gra = None if seqno is None else {"uuid": uuid, "seqno": seqno, "safe_to_bootstrap": safe}
    rec = None if recovered is None else {"uuid": uuid, "seqno": recovered,
                                          "prepared_transactions": 0}
    return {"readable": True, "running": False, "grastate": gra, "recovered": rec}


def up(status="Primary", state="Synced", committed=100, uuid=U):
    return {"readable": True, "running": True,
            "status": {"wsrep_cluster_status": status, "wsrep_local_state_comment": state,
                       "wsrep_last_committed": str(committed),
                       "wsrep_cluster_state_uuid": uuid}}


def fresh():
    return {"readable": True, "running": False, "grastate": None, "recovered": None}


def test_healthy_cluster_needs_nothing():
    result = plan(HOSTS, {h: up() for h in HOSTS})
    assert (result["action"], result["sql_host"], result["joiners"]) == ("none", "db1", [])


def test_running_primary_is_joined_never_rebootstrapped():
    result = plan(HOSTS, {"db1": up(), "db2": up(), "db3": down(seqno=-1)})
    assert result["action"] == "join"
    assert result["bootstrap_host"] is None
    assert result["joiners"] == ["db3"]
    assert result["sql_host"] == "db1"


def test_first_deployment_bootstraps_the_first_host():
    result = plan(HOSTS, {h: fresh() for h in HOSTS})
    assert (result["action"], result["bootstrap_host"], result["joiners"]) == (
        "new_cluster", "db1", ["db2", "db3"])
    assert result["sql_host"] == "db1"


def test_total_outage_picks_the_highest_seqno_recovered_or_saved():
    states = {"db1": down(seqno=-1, recovered=1040), "db2": down(seqno=-1, recovered=1043),
              "db3": down(seqno=1041)}
    result = plan(HOSTS, states)
    assert (result["action"], result["bootstrap_host"], result["joiners"]) == (
        "bootstrap", "db2", ["db1", "db3"])
    assert "db2 has the highest seqno 1043" in result["reasons"][-1]


def test_safe_to_bootstrap_is_preferred():
    states = {"db1": down(seqno=1043), "db2": down(seqno=1043, safe=1), "db3": down(seqno=90)}
    result = plan(HOSTS, states)
    assert result["bootstrap_host"] == "db2"
    assert "safe_to_bootstrap=1" in result["reasons"][-1]


def test_tie_goes_to_the_first_in_inventory_order():
    states = {h: down(seqno=-1, recovered=500) for h in HOSTS}
    result = plan(HOSTS, states)
    assert result["bootstrap_host"] == "db1"
    assert "tied with db2, db3: same data" in result["reasons"][-1]


def test_fresh_node_is_never_a_source_but_joins():
    states = {"db1": fresh(), "db2": down(seqno=7), "db3": down(seqno=-1, recovered=9)}
    result = plan(HOSTS, states)
    assert result["bootstrap_host"] == "db3"
    assert result["joiners"] == ["db1", "db2"]


def test_non_primary_majority_is_restored_on_the_most_advanced():
    states = {"db1": up(status="non-Primary", committed=200),
              "db2": up(status="non-Primary", committed=210), "db3": down(seqno=-1)}
    result = plan(HOSTS, states)
    assert (result["action"], result["bootstrap_host"], result["joiners"]) == (
        "pc_bootstrap", "db2", ["db3"])


@pytest.mark.parametrize("states,expected", [
    ({"db1": down(seqno=5), "db2": {"readable": False, "error": "ssh: no route"},
      "db3": down(seqno=4)}, "cannot read the Galera state of db2: ssh: no route"),
    ({"db1": down(seqno=5), "db3": down(seqno=4)}, "cannot read the Galera state of db2"),
    ({"db1": down(seqno=-1), "db2": down(seqno=5), "db3": down(seqno=4)},
     "db1: position unknown"),
    ({"db1": down(seqno=3, uuid=NULL_UUID), "db2": down(seqno=5), "db3": down(seqno=4)},
     "db1: position unknown"),
    ({"db1": down(seqno=5), "db2": down(seqno=6, uuid=OTHER), "db3": down(seqno=4)},
     "members belong to different clusters"),
    ({"db1": down(seqno=5, safe=1), "db2": down(seqno=6), "db3": down(seqno=4)},
     "db1 has safe_to_bootstrap=1 but seqno 5 is behind seqno 6 on db2"),
    ({"db1": down(seqno=5, safe=1), "db2": down(seqno=5, safe=1), "db3": down(seqno=4)},
     "several members claim safe_to_bootstrap=1"),
    ({"db1": up(uuid=U), "db2": up(uuid=OTHER), "db3": down(seqno=1)},
     "different Primary components"),
    ({"db1": up(status="non-Primary", committed=-1), "db2": down(seqno=1),
      "db3": down(seqno=1)}, "does not report wsrep_last_committed"),
], ids=["unreadable", "missing", "seqno-1", "null-uuid", "two-clusters", "safe-behind",
        "two-safe", "split-primary", "no-last-committed"])
def test_refuses_what_it_cannot_prove(states, expected):
    with pytest.raises(PlanRefused) as err:
        plan(HOSTS, states)
    assert any(expected in reason for reason in err.value.reasons), err.value.reasons


def test_unknown_position_refusal_says_how_to_override():
    with pytest.raises(PlanRefused) as err:
        plan(HOSTS, {"db1": down(seqno=-1), "db2": down(seqno=5), "db3": down(seqno=4)})
    assert "pilotstack_galera_accept_data_loss=true" in err.value.reasons[-1]


def test_override_needs_both_host_and_data_loss_flag():
    states = {"db1": down(seqno=-1), "db2": down(seqno=5), "db3": down(seqno=4)}
    with pytest.raises(PlanRefused, match="also needs pilotstack_galera_accept_data_loss"):
        plan(HOSTS, states, bootstrap_host="db3")
    with pytest.raises(PlanRefused, match="is not a member"):
        plan(HOSTS, states, bootstrap_host="db9", accept_data_loss=True)
    result = plan(HOSTS, states, bootstrap_host="db3", accept_data_loss=True)
    assert (result["action"], result["bootstrap_host"], result["joiners"]) == (
        "bootstrap", "db3", ["db1", "db2"])
    assert any("db2 holds seqno 5 > 4 on db3" in r for r in result["reasons"])


GRASTATE = """# GALERA saved state
version: 2.1
uuid:    5ee99582-bb8d-11e2-b8e3-23de375c1d30
seqno:   -1
safe_to_bootstrap: 0
"""


def test_parse_grastate():
    assert parse_grastate(GRASTATE) == {"uuid": U, "seqno": -1, "safe_to_bootstrap": 0}
    clean = GRASTATE.replace("seqno:   -1", "seqno:   1043").replace(
        "safe_to_bootstrap: 0", "safe_to_bootstrap: 1")
    assert parse_grastate(clean) == {"uuid": U, "seqno": 1043, "safe_to_bootstrap": 1}
    assert parse_grastate("") == {"uuid": NULL_UUID, "seqno": -1, "safe_to_bootstrap": 0}


def test_parse_recovered_takes_the_last_position():
    log = ("2026-11-21 11:00:00 0 [Note] InnoDB: Starting crash recovery\n"
           f"2026-11-21 11:00:01 0 [Note] WSREP: Recovered position: {U}:1040\n"
           "2026-11-21 11:00:02 0 [Note] Found 2 prepared transactions! It means that "
           "server was not shut down properly last time\n"
           f"2026-11-21 11:00:03 0 [Note] WSREP: Recovered position: {U}:1043,0-1-1043\n")
    assert parse_recovered(log) == {"uuid": U, "seqno": 1043, "prepared_transactions": 2}
    assert parse_recovered("nothing here") is None


def test_parse_status():
    text = "wsrep_cluster_size\t3\nwsrep_cluster_status\tPrimary\nwsrep_ready\tON\n"
    assert parse_status(text) == {"wsrep_cluster_size": "3", "wsrep_cluster_status": "Primary",
                                  "wsrep_ready": "ON"}


# --- outputs recorded from MariaDB 10.11.19 + galera-4 (Debian 12) on the testbed ---------

FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures" / "galera"
REC_UUID = "677e5ede-e5a7-11f1-8fef-d625cbfa3272"


def fixture(name: str) -> str:
    return (FIXTURES / f"mariadb-10.11-{name}").read_text()


def test_recorded_grastate_after_a_kill_and_after_a_clean_stop():
    assert parse_grastate(fixture("grastate-killed.txt")) == {
        "uuid": REC_UUID, "seqno": -1, "safe_to_bootstrap": 1}
    assert parse_grastate(fixture("grastate-clean.txt")) == {
        "uuid": REC_UUID, "seqno": 6, "safe_to_bootstrap": 1}


def test_recorded_wsrep_recover_log():
    assert parse_recovered(fixture("recover.log")) == {
        "uuid": REC_UUID, "seqno": 4, "prepared_transactions": 0}


def test_recorded_status():
    status = parse_status(fixture("status.txt"))
    assert status["wsrep_cluster_status"] == "Primary"
    assert status["wsrep_local_state_comment"] == "Synced"
    assert status["wsrep_cluster_state_uuid"] == REC_UUID
    assert int(status["wsrep_last_committed"]) >= 0


def test_plan_from_recorded_states_uses_the_recovered_position():
    killed = {"readable": True, "running": False,
              "grastate": parse_grastate(fixture("grastate-killed.txt")),
              "recovered": parse_recovered(fixture("recover.log"))}
    behind = {"readable": True, "running": False,
              "grastate": {"uuid": REC_UUID, "seqno": 3, "safe_to_bootstrap": 0},
              "recovered": None}
    result = plan(HOSTS, {"db1": behind, "db2": killed, "db3": behind})
    # db2's grastate says safe_to_bootstrap=1 with seqno -1: its recovered seqno 4 decides
    assert (result["action"], result["bootstrap_host"]) == ("bootstrap", "db2")


def test_running_non_primary_majority_is_restored_even_with_a_member_unreachable():
    states = {"db1": up(status="non-Primary", committed=300),
              "db2": up(status="non-Primary", committed=301),
              "db3": {"readable": False, "error": "ssh: no route to host"}}
    result = plan(HOSTS, states)
    # db3 cannot be started from here: it is not a joiner, the reasons say it rejoins later
    assert (result["action"], result["bootstrap_host"], result["joiners"]) == (
        "pc_bootstrap", "db2", [])
    assert "db3 unreadable, but 2 of 3 members run: a majority" in result["reasons"][0]
    assert "db3 must rejoin when reachable again" in result["reasons"][-1]


def test_a_running_minority_with_members_unreachable_is_refused():
    states = {"db1": up(status="non-Primary", committed=300),
              "db2": {"readable": False, "error": "timed out"},
              "db3": {"readable": False, "error": "timed out"}}
    with pytest.raises(PlanRefused, match="cannot read the Galera state of db2"):
        plan(HOSTS, states)


def test_stopped_members_with_one_unreachable_are_refused():
    states = {"db1": down(seqno=-1, recovered=9), "db2": down(seqno=8),
              "db3": {"readable": False, "error": "timed out"}}
    with pytest.raises(PlanRefused, match="cannot read the Galera state of db3"):
        plan(HOSTS, states)


def test_a_running_primary_component_makes_an_unreachable_member_harmless():
    # Measured on the testbed: after a power cut two members came back and healed by
    # themselves while the third stayed off; nothing needs a bootstrap decision then.
    gone = {"readable": False, "error": "ssh: no route to host"}
    result = plan(HOSTS, {"db1": up(), "db2": up(), "db3": gone})
    assert (result["action"], result["joiners"], result["sql_host"]) == ("none", [], "db1")
    assert "db3 unreadable (ssh: no route to host): must rejoin" in result["reasons"][-1]
    result = plan(HOSTS, {"db1": up(), "db2": down(seqno=5), "db3": gone})
    assert (result["action"], result["joiners"]) == ("join", ["db2"])


def test_an_unreachable_member_with_two_primary_components_is_still_refused():
    gone = {"readable": False, "error": "timed out"}
    with pytest.raises(PlanRefused, match="different Primary components"):
        plan(HOSTS, {"db1": up(uuid="a"), "db2": up(uuid="b"), "db3": gone})
