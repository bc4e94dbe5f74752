"""Messaging tier on the real testbed, as site.yml deployed it: RabbitMQ 3.10 on db1-db3 in
one cluster. Verify, check mode, the configuration reaching running nodes by a rolling
restart, and the inputs it must refuse before any node is touched."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pika
import pika.exceptions
import pytest

from pilotstack import secrets
from pilotstack.drills.rabbitmq import NODES, on_node, wait_whole

from .conftest import FIGURES, INVENTORY, ansible_playbook

HOSTS = list(NODES)
MEMBERS = [f"rabbit@{h}" for h in HOSTS]
USERS = {"nova": "nova_rabbitmq_password", "neutron": "neutron_rabbitmq_password",
         "cinder": "cinder_rabbitmq_password"}


@pytest.fixture(scope="module", autouse=True)
def whole(stack):
    """The database drills power-cut db1-db3 (RabbitMQ runs there too): start from a whole
    cluster."""
    FIGURES["rabbitmq whole again after the database drills (s)"] = round(wait_whole(300), 1)


@pytest.fixture(scope="module")
def vault():
    return secrets.load(INVENTORY)


def connect(user: str, password: str, vhost: str, host: str = "db1"):
    return pika.BlockingConnection(pika.ConnectionParameters(
        host=NODES[host], virtual_host=vhost, credentials=pika.PlainCredentials(user, password),
        connection_attempts=1, socket_timeout=5))


def status(stack, host: str) -> dict:
    return json.loads(stack.host(host).check_output(
        "rabbitmqctl -q cluster_status --formatter json"))


def test_three_nodes_running_in_one_cluster_without_partitions(stack):
    for host in HOSTS:
        st = status(stack, host)
        assert sorted(st["running_nodes"]) == MEMBERS, (host, st["running_nodes"])
        assert sorted(st["disk_nodes"]) == MEMBERS
        assert not any((st.get("partitions") or {}).values()), st["partitions"]
        assert st["alarms"] == [] and st["cluster_name"] == "pilotstack"


def test_node_settings_and_cookie(stack):
    for host in HOSTS:
        node = stack.host(host)
        cookie = node.file("/var/lib/rabbitmq/.erlang.cookie")
        assert (cookie.mode, cookie.user) == (0o400, "rabbitmq")
        ticktime = node.check_output("rabbitmqctl -q eval 'net_kernel:get_net_ticktime().'")
        assert ticktime == "10"
        handling = node.check_output(
            "rabbitmqctl -q eval 'application:get_env(rabbit, cluster_partition_handling).'")
        assert handling == "{ok,pause_minority}"
        # AMQP, management and Erlang distribution listen on the management address only
        listening = node.check_output("ss -Hltn")
        addr = NODES[host]
        assert f"{addr}:5672 " in listening and f"{addr}:15672 " in listening
        assert "0.0.0.0:5672 " not in listening and "*:5672 " not in listening
        assert "0.0.0.0:15672 " not in listening and "*:15672 " not in listening


def test_guest_is_gone_and_service_users_reach_only_their_vhost(stack, vault):
    users = stack.host("db1").check_output("rabbitmqctl -q list_users --no-table-headers")
    assert "guest" not in users.split()
    for user, secret in USERS.items():
        conn = connect(user, vault[secret], user)
        assert conn.is_open
        conn.close()
        other = next(u for u in USERS if u != user)
        with pytest.raises(pika.exceptions.ProbableAccessDeniedError):
            connect(user, vault[secret], other)
        with pytest.raises(pika.exceptions.ProbableAuthenticationError):
            connect(user, "wrong-password", user)
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        connect("guest", "guest", "/")


def test_a_queue_declared_without_type_is_a_quorum_queue_on_three_nodes(stack, vault):
    conn = connect("nova", vault["nova_rabbitmq_password"], "nova")
    try:
        channel = conn.channel()
        channel.queue_delete("pilotstack-verify")
        channel.queue_declare("pilotstack-verify", durable=True)  # no x-queue-type
    finally:
        conn.close()
    out = json.loads(stack.host("db2").check_output(
        "rabbitmqctl -q list_queues -p nova name type members --formatter json"))
    queue = next(q for q in out if q["name"] == "pilotstack-verify")
    assert queue["type"] == "quorum"
    assert sorted(queue["members"]) == MEMBERS


def test_management_api_needs_the_admin_password(stack, vault):
    url = f"http://{NODES['db1']}:15672/api/overview"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url, timeout=5)
    assert err.value.code == 401
    mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    mgr.add_password(None, url, "pilotstack_admin", vault["rabbitmq_admin_password"])
    opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(mgr))
    with opener.open(url, timeout=10) as resp:
        assert json.load(resp)["cluster_name"] == "pilotstack"


def test_rerun_and_check_mode_change_nothing(stack):
    for extra in ((), ("--check",)):
        run = ansible_playbook("rabbitmq.yml", INVENTORY, *extra)
        FIGURES[f"rabbitmq.yml re-run{' (check mode)' if extra else ''} (s)"] = round(
            run.seconds, 1)
        assert run.rc == 0, run.output[-6000:]
        assert run.changed == 0, (extra, {h: r for h, r in run.recap.items() if r["changed"]})
        for host in HOSTS:  # the membership module decided "nothing to do" on each node
            assert f"{host}: none:" in run.output, run.output[-4000:]


@pytest.mark.full
def test_a_changed_setting_reaches_running_nodes_one_at_a_time(stack):
    def watermarks():
        return [stack.host(h).check_output(
            "rabbitmqctl -q eval 'vm_memory_monitor:get_vm_memory_high_watermark().'")
            for h in HOSTS]
    setting = ("-e", "rabbitmq_vm_memory_high_watermark=0.35")
    run = ansible_playbook("rabbitmq.yml", INVENTORY, "--check", *setting)
    assert run.rc == 0 and "rolling restart (check mode: would restart): db1, db2, db3" in \
        run.output, run.output[-4000:]
    assert watermarks() == ["0.4"] * 3
    try:
        run = ansible_playbook("rabbitmq.yml", INVENTORY, *setting)
        FIGURES["rabbitmq config change, rolling restart of 3 nodes (s)"] = round(run.seconds, 1)
        assert run.rc == 0, run.output[-6000:]
        assert "rolling restart: db1, db2, db3" in run.output
        # one node at a time, each behind the health gate
        order = [line for line in run.output.splitlines()
                 if line.startswith("TASK [rabbitmq : Restart | restart the node")]
        assert [o.rsplit(": ", 1)[-1].strip(" *]") for o in order] == HOSTS, order
        assert watermarks() == ["0.35"] * 3
    finally:
        run = ansible_playbook("rabbitmq.yml")
        assert run.rc == 0, run.output[-6000:]
    assert watermarks() == ["0.4"] * 3
    assert "runs with net_ticktime" not in run.output  # the tick time is the configured one
    wait_whole(60)


# --- inputs that must be refused before any node is touched -----------------------------

def _boot_ids() -> dict[str, str]:
    """Each node's server process (systemd's main PID): another one after a restart. Not
    `pidof beam.smp`: every rabbitmqctl (the partition guard's timer runs one each 15 s) is
    a beam.smp of its own."""
    return {h: on_node(h, "systemctl show -p MainPID --value rabbitmq-server").strip()
            for h in HOSTS}


@pytest.mark.parametrize("case", ["cookie mismatch on db3", "db3 not resolvable on db2"])
def test_bad_input_fails_before_any_node_is_touched(stack, case):
    before = _boot_ids()
    cookie = "/var/lib/rabbitmq/.erlang.cookie"
    if case.startswith("cookie"):
        # The running node keeps its cookie in memory; the file is what a restart would use.
        on_node("db3", f"cp -p {cookie} /root/cookie.keep && chmod 600 {cookie} && "
                       f"echo WRONGCOOKIEWRONGCOOKIE > {cookie} && chmod 400 {cookie}")
        expect = "db3 already has an Erlang cookie that differs from the vault's"
    else:
        # db3 leaves db2's /etc/hosts, and db2 stops asking DNS (Docker's would answer)
        on_node("db2", "cp /etc/hosts /root/hosts.keep && grep -vw db3 /root/hosts.keep "
                       "> /root/hosts.new && cat /root/hosts.new > /etc/hosts && "
                       "cp /etc/nsswitch.conf /root/nsswitch.keep && "
                       "sed -i 's/^hosts:.*/hosts: files/' /etc/nsswitch.conf && "
                       "! getent ahostsv4 db3")
        expect = "node names do not resolve to their mgmt addresses on db2: db3 -> nothing"
    try:
        run = ansible_playbook("rabbitmq.yml")
        assert run.rc != 0
        assert expect in run.output and "No node was" in run.output, run.output[-4000:]
        assert run.changed == 0, run.recap
        assert _boot_ids() == before
    finally:
        if case.startswith("cookie"):
            on_node("db3", f"cp -p /root/cookie.keep {cookie} && rm /root/cookie.keep")
        else:
            on_node("db2", "cat /root/hosts.keep > /etc/hosts && rm /root/hosts.* && "
                           "mv /root/nsswitch.keep /etc/nsswitch.conf")
    assert json.loads(on_node("db1", "rabbitmqctl -q cluster_status --formatter json"))[
        "running_nodes"]

