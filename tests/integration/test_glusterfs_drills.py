"""Fault drills of the shared storage tier, with a real client writing checksummed files
through the FUSE mount on cmp1 (each file written, fsync'ed and closed before it counts as
acknowledged). Figures are printed at the end of the run."""

from __future__ import annotations

import time

import pytest

from .conftest import FIGURES, INVENTORY, ansible_playbook
from .glusterdrill import (
    BRICKS,
    SERVERS,
    Writer,
    docker,
    lost,
    on_node,
    ping_timeouts,
    power_off,
    power_on,
    split_brain,
    wait_healed,
)

MOUNT = "/var/lib/nova/instances"
# ping timeouts the silent-server drill caused on purpose (all others are spurious)
CAUSED: list[str] = []


@pytest.fixture(autouse=True)
def healthy_before(stack):
    """Every drill starts from a healed volume."""
    wait_healed("instances", timeout=300)


def _brick_lost(writer: Writer, directory: str) -> dict[str, int]:
    """Acknowledged files missing or different on each brick."""
    out = {}
    for host in SERVERS:
        gone = lost(writer, host, f"{BRICKS}/instances/brick/{directory}")
        out[host] = len(gone["missing"]) + len(gone["corrupt"])
    return out


@pytest.mark.parametrize("how", ["killed", "silent"])
def test_drill_one_server_fails_while_a_client_writes(how):
    """st3 dies (docker kill: sockets closed) or goes silent (docker pause: a frozen host,
    sockets open) for 20 s while cmp1 writes. The client must carry on with the other two
    bricks (a silent server costs about twice network.ping-timeout, 4 s); when st3 is back
    the volume heals and every acknowledged file is intact on every brick."""
    directory = f"drill-{how}-{int(time.time())}"
    writer = Writer("cmp1", f"{MOUNT}/{directory}").start()
    writer.wait_acks(30)
    timeouts_before = ping_timeouts()
    fault = time.time()
    if how == "killed":
        power_off("st3")
    else:
        docker("pause", "pstb-st3")
    try:
        time.sleep(20)
        during = writer.acked_between(fault, time.time())
    finally:
        if how == "killed":
            power_on("st3")
        else:
            docker("unpause", "pstb-st3")
    back = time.time()
    time.sleep(10)
    stall = writer.stall(fault, back)
    writer.stop()
    heal = wait_healed("instances", timeout=600)
    gone = lost(writer)
    bricks = _brick_lost(writer, directory)
    split = split_brain("instances")
    new_timeouts = [line for line in ping_timeouts() if line not in timeouts_before]
    CAUSED.extend(new_timeouts)
    FIGURES[f"gluster server {how}: client stall (s)"] = round(stall, 2)
    FIGURES[f"gluster server {how}: files acked / lost / corrupt"] = (
        len(writer.acked), len(gone["missing"]), len(gone["corrupt"]))
    FIGURES[f"gluster server {how}: heal after return (s), split-brain"] = (round(heal, 1),
                                                                              split)
    assert during > 0, "the client wrote nothing while one server was down"
    assert gone == {"missing": [], "corrupt": []}
    assert bricks == dict.fromkeys(SERVERS, 0), bricks
    assert split == 0
    # only st3 was silent, so only st3 may have missed pings
    assert all(SERVERS["st3"] + ":" in line for line in new_timeouts), new_timeouts
    if how == "silent":
        assert new_timeouts, "no client noticed the silent server by its ping timeout"
    # a silent server costs about twice network.ping-timeout (4 s); 42 s (GlusterFS's
    # default) froze writes 79 s
    assert stall < 30, f"client stalled {stall:.1f} s with network.ping-timeout 4 s"


def test_drill_two_servers_killed_writes_refused_no_split_brain():
    """st2 and st3 die: with 1 brick of 3 left, client quorum refuses writes (and server
    quorum stops st1's brick); nothing is acknowledged while quorum is lost. When they are
    back the volume heals with no split-brain and every acknowledged file is intact."""
    directory = f"drill-two-{int(time.time())}"
    writer = Writer("cmp1", f"{MOUNT}/{directory}").start()
    writer.wait_acks(30)
    power_off("st2")
    power_off("st3")
    lost_quorum = time.time()
    try:
        time.sleep(20)
        refused_until = time.time()
    finally:
        power_on("st2")
        power_on("st3")
    acked_without_quorum = writer.acked_between(lost_quorum + 2, refused_until)
    errors = [t for t, _ in writer.errors if lost_quorum < t < refused_until]
    heal = wait_healed("instances", timeout=600)
    # writes resume once quorum is back
    resumed = len(writer.acked)
    deadline = time.monotonic() + 120
    while len(writer.acked) < resumed + 20:
        assert time.monotonic() < deadline, "writes did not resume after quorum came back"
        time.sleep(0.5)
    writer.stop()
    wait_healed("instances", timeout=300)
    gone = lost(writer)
    split = split_brain("instances")
    FIGURES["gluster two servers killed: acked without quorum, refused writes"] = (
        acked_without_quorum, len(errors))
    FIGURES["gluster two servers killed: heal (s), split-brain, files lost"] = (
        round(heal, 1), split, len(gone["missing"]) + len(gone["corrupt"]))
    assert acked_without_quorum == 0
    assert errors, "no write was refused while 2 of 3 servers were down"
    assert gone == {"missing": [], "corrupt": []}
    assert _brick_lost(writer, directory) == dict.fromkeys(SERVERS, 0)
    assert split == 0


MIGR = "migr"
MIGR_MOUNT = "/mnt/migr"


def _remove_migration_volume():
    on_node("cmp1", f"umount {MIGR_MOUNT} 2>/dev/null; true", check=False)
    if MIGR in on_node("st1", "gluster --mode=script volume list").split():
        on_node("st1", f"gluster --mode=script volume stop {MIGR} force; "
                       f"gluster --mode=script volume delete {MIGR}", check=False)
    for host in SERVERS:
        on_node(host, f"rm -rf {BRICKS}/{MIGR}")


def test_drill_replica_2_to_3_with_data_and_a_writing_client():
    """A replica 2 volume on st1+st2 holding files, a client writing to it throughout:
    the migration first refuses while a brick is down (at once), is started again the moment
    the brick returns (waits while the self-heal daemon drains what the client wrote
    meanwhile), then adds st3's brick, heals and ends 1 x 3 with every file identical on all
    three bricks; a re-run changes nothing."""
    _remove_migration_volume()
    for host in ("st1", "st2"):
        on_node(host, f"mkdir -p {BRICKS}/{MIGR}/brick")
    on_node("st1", f"gluster --mode=script volume create {MIGR} replica 2 "
                   f"{SERVERS['st1']}:{BRICKS}/{MIGR}/brick "
                   f"{SERVERS['st2']}:{BRICKS}/{MIGR}/brick force && "
                   f"gluster --mode=script volume start {MIGR}")
    on_node("cmp1", f"mkdir -p {MIGR_MOUNT} && "
                    f"mount -t glusterfs {SERVERS['st1']}:/{MIGR} {MIGR_MOUNT}")
    try:
        seed = Writer("cmp1", f"{MIGR_MOUNT}/seed").start()
        seed.wait_acks(500)
        seed.stop()
        extra = ["-e", f"gluster_volume={MIGR}", "-e", "gluster_new_server=st3"]

        # refused while st2's brick is down, a client writing (a backlog builds up on st1):
        # nothing changes
        on_node("st2", f"pkill -f -- '[-]-volfile-id {MIGR}\\.'")
        time.sleep(2)
        writer = Writer("cmp1", f"{MIGR_MOUNT}/live").start()
        writer.wait_acks(40)
        refused = ansible_playbook("gluster-replica2-to-3.yml", INVENTORY, *extra)
        assert refused.rc != 0 and "cannot be converted now" in refused.output, \
            refused.output[-3000:]
        assert "brick(s) offline" in refused.output
        assert refused.changed == 0

        # the brick returns and the migration starts at once: the gate waits while the
        # self-heal daemon drains the backlog, then converts
        on_node("st1", f"gluster --mode=script volume start {MIGR} force")
        start = time.time()
        run = ansible_playbook("gluster-replica2-to-3.yml", INVENTORY, *extra)
        took = time.time() - start
        during = writer.acked_between(start, start + took)
        writer.stop()
        assert run.rc == 0, run.output[-6000:]
        assert run.changed > 0
        info = on_node("st1", f"gluster --mode=script volume info {MIGR}")
        assert "Number of Bricks: 1 x 3 = 3" in info, info
        wait_healed(MIGR, timeout=300)
        bad = {}
        for w, sub in ((seed, "seed"), (writer, "live")):
            gone = lost(w)
            bad[f"{sub} via mount"] = len(gone["missing"]) + len(gone["corrupt"])
            for host in SERVERS:
                gone = lost(w, host, f"{BRICKS}/{MIGR}/brick/{sub}")
                bad[f"{sub} on {host}"] = len(gone["missing"]) + len(gone["corrupt"])
        again = ansible_playbook("gluster-replica2-to-3.yml", INVENTORY, *extra)
        FIGURES["gluster replica 2->3: files / written during / took (s) / lost"] = (
            len(seed.acked) + len(writer.acked), during, round(took, 1), sum(bad.values()))
        FIGURES["gluster replica 2->3: gate checks while a heal backlog drained"] = (
            sum("RETRYING" in line and "state of the volume" in line
                for line in run.output.splitlines()))
        assert bad == dict.fromkeys(bad, 0), bad
        assert during > 0, "the client wrote nothing during the migration"
        assert split_brain(MIGR) == 0
        assert again.rc == 0 and again.changed == 0, again.recap
    finally:
        _remove_migration_volume()


def test_no_spurious_ping_timeout_during_the_whole_run():
    """network.ping-timeout is short (4 s): under every load this run put on the machine
    (deploys, the other tiers' drills, heals, rolling restarts) no client and no self-heal
    daemon may have given up on a server that was not made silent on purpose."""
    spurious = [line for line in ping_timeouts() if line not in CAUSED]
    FIGURES["gluster ping timeouts: caused by the silent drill / spurious"] = (
        len(CAUSED), len(spurious))
    assert spurious == [], spurious[:10]
