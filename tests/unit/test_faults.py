"""The fault layer (src/pilotstack/faults.py): the commands each fault runs, its undo on
the way out of a failing block, and the refusals. Only `docker` is faked: its argv is
recorded and `docker ps` answers with the running containers."""

from __future__ import annotations

import pytest

from pilotstack.faults import NFT_TABLE, FaultRefused, Faults
from pilotstack.testbed import topology


class FakeFaults(Faults):
    def __init__(self, running=("db1", "db2", "db3", "lb1"), paused=()):
        super().__init__(topology.load())
        self.calls: list[tuple] = []
        self.up = {f"pstb-{h}" for h in running}
        self.paused_names = {f"pstb-{h}" for h in paused}

    def docker(self, *args, check=True, timeout=120):
        self.calls.append(args)
        if args[0] == "ps":
            names = self.paused_names if "status=paused" in args else self.up
            return "\n".join(sorted(names)) + "\n"
        if args[0] == "pause":
            self.paused_names |= set(args[1:])
        if args[0] == "unpause":
            self.paused_names -= set(args[1:])
        if args[0] == "kill":
            self.up -= set(args[1:])
        if args[0] == "start":
            self.up |= set(args[1:])
        if args[0] == "exec":
            command = args[-1]
            if "is-system-running" in command:
                return "running\nactive\n"
            if "ip -o -4 addr show" in command:
                return "eth1\n"
            if "df -Pk" in command:
                return "1000000\n"
        return ""

    def execs(self, host):
        return [a[-1] for a in self.calls if a[:2] == ("exec", f"pstb-{host}")]


def test_a_frozen_host_is_thawed_when_the_block_fails():
    f = FakeFaults()
    with pytest.raises(ZeroDivisionError), f.frozen("db2"):
        assert ("pause", "pstb-db2") in f.calls
        raise ZeroDivisionError
    assert ("unpause", "pstb-db2") in f.calls


def test_a_killed_host_is_started_and_waited_for_when_the_block_fails():
    f = FakeFaults()
    with pytest.raises(RuntimeError), f.killed("db1", unit="mariadb"):
        raise RuntimeError("drill failed")
    assert ("kill", "pstb-db1") in f.calls and ("start", "pstb-db1") in f.calls
    assert any("is-active mariadb" in c for c in f.execs("db1"))


def test_hosts_outside_the_topology_or_not_running_are_refused_before_anything_is_done():
    f = FakeFaults(running=("db1",))
    with pytest.raises(FaultRefused, match="'web9' is not a host of testbed pstb"):
        f.kill("web9")
    with pytest.raises(FaultRefused, match="not running on testbed pstb: db2"):
        f.freeze("db1", "db2")
    assert not [c for c in f.calls if c[0] in ("kill", "pause")]


def test_cut_drops_both_directions_on_one_network_and_heal_removes_it():
    f = FakeFaults()
    addrs = f.cut("db1", ["db2", "db3"], network="storage")
    assert addrs == ["10.213.20.22", "10.213.20.23"]
    script = f.execs("db1")[-1]
    assert f"nft add table inet {NFT_TABLE}" in script
    assert "in 'ip saddr { 10.213.20.22, 10.213.20.23 } drop'" in script
    assert "out 'ip daddr { 10.213.20.22, 10.213.20.23 } drop'" in script
    with pytest.raises(FaultRefused, match="no address on network 'storage'"):
        f.cut("lb1", ["db1"], network="storage")


def test_cut_off_heals_on_the_way_out():
    f = FakeFaults()
    with pytest.raises(KeyError), f.cut_off("db1", ["db2"]):
        raise KeyError("x")
    assert any(c == f"nft delete table inet {NFT_TABLE}" for c in f.execs("db1"))


def test_ports_loss_rate_and_their_refusals():
    f = FakeFaults()
    f.cut_ports("db1", "5405-5412", "udp")
    assert "in 'udp dport 5405-5412 drop'" in f.execs("db1")[-1]
    for bad in ("5405-", "x", "70000"):
        with pytest.raises(FaultRefused):
            f.cut_ports("db1", bad)
    f.lossy("db1", 20, "storage")
    assert """in 'iifname "eth1" numgen random mod 100 < 20 drop'""" in f.execs("db1")[-1]
    with pytest.raises(FaultRefused):
        f.lossy("db1", 100)
    f.rate("db1", 512, "storage")
    assert "tc qdisc replace dev eth1 root tbf rate 512kbit" in f.execs("db1")[-1]
    with pytest.raises(FaultRefused, match="sch_netem"):
        f.delay("db1", 100)


def test_fill_disk_leaves_the_asked_room_and_is_removed():
    f = FakeFaults()
    with f.disk_filled("db1", "/var/lib/mysql", leave_mib=100) as target:
        assert target == "/var/lib/mysql/pilotstack-fault-fill"
    execs = f.execs("db1")
    # 1,000,000 KiB free = 976 MiB; 100 left
    assert any(c.startswith("fallocate -l 876M ") for c in execs)
    assert execs[-1] == "rm -f /var/lib/mysql/pilotstack-fault-fill"
    with pytest.raises(FaultRefused, match="this machine's own disk"):
        f.fill_disk("db1", "/var/lib/mysql", leave_mib=100, max_mib=500)


def test_process_signals_and_units():
    f = FakeFaults()
    with f.process_frozen("db1", "beam.smp"):
        assert f.execs("db1")[-1] == "pkill -STOP -x beam.smp"
    assert f.execs("db1")[-1] == "pkill -CONT -x beam.smp"
    with pytest.raises(FaultRefused):
        f.signal("db1", "beam.smp", "HUP")
    with f.unit_down("db2", "ceph-mon@db2"):
        assert "systemctl kill -s KILL ceph-mon@db2" in f.execs("db2")[-1]
    assert "systemctl start ceph-mon@db2" in f.execs("db2")[-1]


def test_thaw_only_unpauses_what_is_paused():
    f = FakeFaults(paused=("db3",))
    f.thaw("db2", "db3")
    assert ("unpause", "pstb-db3") in f.calls
    assert not any(c[0] == "unpause" and "pstb-db2" in c for c in f.calls)


def test_every_drill_names_a_host_fault_the_layer_knows():
    """A drill that passes a fault name the layer refuses fails only on the testbed: catch
    it here (galera-writer-frozen once asked for 'paused')."""
    import ast
    from pathlib import Path
    root = Path(__file__).resolve().parents[2] / "src" / "pilotstack" / "drills"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "host_fault" \
                    and len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
                assert node.args[1].value in ("killed", "frozen"), (path.name, node.lineno)
    f = FakeFaults()
    with pytest.raises(FaultRefused, match="unknown host fault 'paused'"), \
            f.host_fault("db1", "paused"):
        pass
