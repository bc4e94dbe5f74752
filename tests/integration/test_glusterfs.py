"""Shared storage tier on the testbed: real GlusterFS 10 servers on st1-st3, FUSE clients on
the controllers and compute hosts (playbooks/glusterfs.yml, part of site.yml)."""

from __future__ import annotations

import hashlib
import time
import xml.etree.ElementTree as ET

import pytest

from pilotstack.drills.gluster import BRICKS, SERVERS, on_node

from .conftest import FIGURES, INVENTORY, ansible_playbook, run_drill

VOLUMES = {"instances": ["cmp1", "cmp2"], "images": ["ctl1", "ctl2"],
           "volumes": ["ctl1", "ctl2"]}
MOUNTS = {"instances": "/var/lib/nova/instances", "images": "/var/lib/glance/images",
          "volumes": "/var/lib/cinder/gluster"}


def gluster_xml(*args: str, host: str = "st1") -> ET.Element:
    return ET.fromstring(on_node(host, "gluster --mode=script " + " ".join(args) + " --xml"))


@pytest.fixture(scope="module", autouse=True)
def deployed(stack):
    """The tier is part of site.yml; run alone, this module converges it."""
    if not on_node("st1", "gluster --mode=script volume list", check=False).split():
        run = ansible_playbook("glusterfs.yml")
        assert run.rc == 0, run.output[-6000:]
    return stack


def test_three_peers_connected_on_the_storage_network():
    """Each server knows the two others as connected peers, by their storage addresses
    (the names the bricks carry), whatever reverse DNS first called them."""
    for host in SERVERS:
        peers = list(gluster_xml("peer", "status", host=host).iter("peer"))
        assert len(peers) == 2, host
        for peer in peers:
            assert peer.findtext("connected") == "1"
            assert peer.findtext("stateStr") == "Peer in Cluster"
        known = {h.text for p in peers for h in p.iter("hostname")}
        assert set(SERVERS.values()) - {SERVERS[host]} <= known, (host, known)


def test_volumes_are_started_1_x_3_with_quorum_and_their_clients_only():
    allowed = {"instances": ["10.213.20.41", "10.213.20.42", "10.213.20.43",
                             "10.213.20.51", "10.213.20.52"],
               "images": ["10.213.20.31", "10.213.20.32", "10.213.20.41", "10.213.20.42",
                          "10.213.20.43"]}
    allowed["volumes"] = allowed["images"]
    for name in VOLUMES:
        vol = gluster_xml("volume", "info", name).find(".//volume")
        assert vol.findtext("statusStr") == "Started"
        assert (vol.findtext("replicaCount"), vol.findtext("brickCount")) == ("3", "3")
        bricks = [b.findtext("name") for b in vol.iter("brick")]
        assert bricks == [f"{a}:{BRICKS}/{name}/brick" for a in SERVERS.values()]
        opts = {o.findtext("name"): o.findtext("value") for o in vol.iter("option")}
        assert opts["cluster.quorum-type"] == "auto"
        assert opts["cluster.server-quorum-type"] == "server"
        assert opts["network.ping-timeout"] == "4"
        assert opts["auth.allow"].split(",") == allowed[name]
        status = gluster_xml("volume", "status", name)
        online = [n.findtext("status") for n in status.iter("node")
                  if (n.findtext("path") or "").startswith("/")]
        assert online == ["1", "1", "1"], name


def test_clients_mount_with_backup_servers_and_services_wait_for_the_mount():
    for name, hosts in VOLUMES.items():
        for host in hosts:
            line = on_node(host, f"findmnt -n -o SOURCE,FSTYPE {MOUNTS[name]}").split()
            assert line == [f"10.213.20.41:/{name}", "fuse.glusterfs"], (host, line)
            fstab = on_node(host, f"grep ' {MOUNTS[name]} ' /etc/fstab")
            assert "backup-volfile-servers=10.213.20.42:10.213.20.43" in fstab
            assert "_netdev" in fstab
    dropin = on_node("cmp1", "cat /etc/systemd/system/nova-compute.service.d/"
                             "pilotstack-glusterfs.conf")
    assert "RequiresMountsFor=/var/lib/nova/instances" in dropin


def test_a_file_written_by_a_client_is_on_all_three_bricks_and_on_the_other_client():
    data = f"pilotstack {time.time()}\n" * 1000
    digest = hashlib.sha256(data.encode()).hexdigest()
    on_node("cmp1", f"mkdir -p {MOUNTS['instances']}/verify && "
                    f"printf %s '{data}' > {MOUNTS['instances']}/verify/f && sync")
    assert on_node("cmp2", f"sha256sum {MOUNTS['instances']}/verify/f").split()[0] == digest
    for host in SERVERS:
        got = on_node(host, f"sha256sum {BRICKS}/instances/brick/verify/f").split()[0]
        assert got == digest, host


def test_a_client_outside_auth_allow_is_refused():
    """cmp1 may mount `instances` but not `images` (the controllers' Glance store)."""
    on_node("cmp1", "mkdir -p /mnt/refused")
    try:
        out = on_node("cmp1", "mount -t glusterfs 10.213.20.41:/images /mnt/refused 2>&1; "
                              "echo rc=$?; findmnt -n /mnt/refused || echo not-mounted",
                      check=False)
        assert "not-mounted" in out, out
    finally:
        on_node("cmp1", "umount /mnt/refused 2>/dev/null; rmdir /mnt/refused", check=False)


def test_rerun_and_check_mode_change_nothing():
    start = time.monotonic()
    run = ansible_playbook("glusterfs.yml")
    assert run.rc == 0 and run.changed == 0, run.recap
    FIGURES["glusterfs.yml re-run (s)"] = round(time.monotonic() - start, 1)
    check = ansible_playbook("glusterfs.yml", INVENTORY, "--check", "--diff")
    assert check.rc == 0 and check.changed == 0, check.recap


@pytest.mark.full
def test_rolling_restart_waits_for_heal_while_a_client_writes(drill_env):
    run_drill(drill_env, "gluster-rolling-restart")


@pytest.mark.parametrize("case", ["brick on the root filesystem", "replica 2"])
def test_bad_input_fails_before_any_server_is_touched(case):
    before = on_node("st1", "gluster --mode=script volume info instances --xml")
    if case.startswith("brick"):
        extra = ["-e", "glusterfs_brick_mount=/srv/on-root",
                 "-e", "glusterfs_brick_allow_shared_fs=false"]
        on_node("st1", "mkdir -p /srv/on-root")
        expect = ("/srv/on-root on st1 is on the filesystem mounted at /, not a filesystem "
                  "of its own")
    else:
        extra = ["-e", "glusterfs_replica=2"]
        expect = "glusterfs_replica 2 with 3 server(s)"
    try:
        run = ansible_playbook("glusterfs.yml", INVENTORY, *extra)
    finally:
        on_node("st1", "rmdir /srv/on-root", check=False)
    assert run.rc != 0
    assert expect in run.output and "No server was touched" in run.output, run.output[-3000:]
    assert run.changed == 0, run.recap
    assert on_node("st1", "gluster --mode=script volume info instances --xml") == before
