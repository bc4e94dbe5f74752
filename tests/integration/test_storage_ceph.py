"""Ceph tier on the testbed: real Ceph 16 (Pacific) mons, mgrs, file-backed BlueStore OSDs
and MDS on st1-st3, RBD and CephFS clients on the controllers and compute hosts
(playbooks/ceph.yml, part of site.yml)."""

from __future__ import annotations

import json
import subprocess

import pytest

from pilotstack.drills.ceph import (
    MONS,
    ceph,
    memory_mib,
    mount_cephfs,
    on_node,
    state,
    unmount_cephfs,
    wait_whole,
    whole_problems,
)

from .conftest import BIN, ENV, FIGURES, INVENTORY, ROOT, ansible_playbook

POOLS = ["volumes", "images", "vms", "backups"]


@pytest.fixture(scope="module", autouse=True)
def deployed(stack):
    """The tier is part of site.yml; run alone, this module converges it."""
    if ceph("status") is None:
        run = ansible_playbook("ceph.yml")
        assert run.rc == 0, run.output[-6000:]
    return stack


def test_health_ok_three_mons_three_osds_one_active_mds_and_a_standby():
    wait_whole(300)
    found = state()
    assert found["health"] == "HEALTH_OK", found["checks"]
    assert found["quorum"] == MONS
    assert found["osds"] == {"total": 3, "up": 3, "in": 3}
    assert found["pgs"]["active_clean"] == found["pgs"]["total"] > 0
    fs = found["mds"]["filesystems"]["cephfs"]
    assert fs["max_mds"] == 1 and fs["ranks"][0]["state"] == "up:active"
    assert len(fs["standby_replay"]) + len(found["mds"]["standbys"]) == 1
    assert {fs["ranks"][0]["name"], *fs["standby_replay"], *found["mds"]["standbys"]} == {
        "st1", "st2"}
    FIGURES["ceph daemons' memory, idle (MiB, 3 mon + 3 mgr + 3 osd + 2 mds)"] = round(
        memory_mib())


def test_msgr2_cephx_and_the_storage_network():
    dump = ceph("mon", "dump")
    for mon in dump["mons"]:
        kinds = {a["type"]: a["addr"] for a in mon["public_addrs"]["addrvec"]}
        assert kinds == {"v2": f"10.213.20.4{mon['name'][-1]}:3300",
                         "v1": f"10.213.20.4{mon['name'][-1]}:6789"}
    conf = on_node("st1", "ceph-conf --show-config-value auth_client_required && "
                          "ceph-conf --show-config-value cluster_network")
    assert conf.split() == ["cephx", "10.213.20.0/24"]
    assert on_node("st1", "stat -c %a /etc/ceph/ceph.client.admin.keyring").strip() == "600"
    for host in ("ctl1", "cmp1"):
        assert on_node(host, "test ! -e /etc/ceph/ceph.client.admin.keyring && echo none"
                       ).strip() == "none"


def test_openstack_pools_size_3_min_size_2_autoscaled_rbd():
    pools = {p["pool_name"]: p for p in ceph("osd", "pool", "ls", "detail")}
    for name in POOLS:
        p = pools[name]
        assert (p["size"], p["min_size"], p["pg_autoscale_mode"]) == (3, 2, "on"), name
        assert "rbd" in p["application_metadata"], name


def test_rbd_image_written_with_cinders_key_reads_back():
    out = on_node("cmp1", "set -e; head -c 8M /dev/urandom > /tmp/rbd-in; "
                          "rbd --id cinder rm volumes/verify >/dev/null 2>&1 || true; "
                          "rbd --id cinder import /tmp/rbd-in volumes/verify >/dev/null 2>&1; "
                          "rbd --id cinder export volumes/verify /tmp/rbd-out >/dev/null 2>&1; "
                          "sha256sum /tmp/rbd-in /tmp/rbd-out | cut -d' ' -f1; "
                          "rbd --id cinder rm volumes/verify >/dev/null 2>&1; "
                          "rm -f /tmp/rbd-in /tmp/rbd-out")
    first, second = out.split()
    assert first == second


def test_client_keys_have_least_privilege():
    """glance writes images but not volumes; nova cannot touch volumes; every client key
    is on the hosts of its groups only."""
    ok = on_node("ctl1", "rbd --id glance create images/verify-glance --size 4 && "
                         "rbd --id glance rm images/verify-glance >/dev/null 2>&1 && echo ok")
    assert ok.strip().endswith("ok")
    for host, client in (("ctl1", "glance"), ("cmp1", "nova")):
        denied = subprocess.run(
            ["docker", "exec", f"pstb-{host}", "rbd", "--id", client, "create",
             "volumes/verify-denied", "--size", "4"], capture_output=True, text=True)
        assert denied.returncode != 0
        assert "Operation not permitted" in denied.stderr or "EPERM" in denied.stderr, (
            denied.stderr)
    assert "verify-denied" not in on_node("st1", "rbd ls volumes")
    keys = {h: on_node(h, "ls /etc/ceph").split() for h in ("ctl1", "cmp1")}
    assert "ceph.client.glance.keyring" in keys["ctl1"]
    assert "ceph.client.nova.keyring" not in keys["ctl1"]
    assert "ceph.client.glance.keyring" not in keys["cmp1"]
    caps = {e["entity"]: e["caps"] for e in ceph("auth", "ls")["auth_dump"]}
    assert caps["client.glance"] == {"mgr": "profile rbd pool=images", "mon": "profile rbd",
                                     "osd": "profile rbd pool=images"}


@pytest.fixture(scope="module")
def cephfs_mount():
    """CephFS mounted with ceph-fuse on cmp1 and cmp2 with a key for the tests only."""
    yield mount_cephfs("cmp1", "cmp2")
    unmount_cephfs("cmp1", "cmp2")


def test_cephfs_mounted_written_and_read_from_another_client(cephfs_mount):
    sha = on_node("cmp1", f"head -c 4M /dev/urandom > {cephfs_mount}/verify && sync && "
                          f"sha256sum {cephfs_mount}/verify | cut -d' ' -f1").strip()
    assert on_node("cmp2", f"sha256sum {cephfs_mount}/verify | cut -d' ' -f1").strip() == sha
    on_node("cmp1", f"rm {cephfs_mount}/verify")


def test_check_mode_on_the_deployed_cluster_changes_nothing():
    """The idempotent re-run is site.yml's (test_foundation); check mode here."""
    check = ansible_playbook("ceph.yml", INVENTORY, "--check")
    assert check.rc == 0, check.output[-6000:]
    assert check.changed == 0, check.recap
    FIGURES["ceph.yml check mode on the deployed cluster (s, changed)"] = (
        round(check.seconds, 1), check.changed)


def adhoc(module: str, args: dict, host: str = "st1") -> dict:
    proc = subprocess.run(
        [str(BIN / "ansible"), host, "-i", str(INVENTORY), "-m", module,
         "-a", json.dumps(args), "--vault-password-file", str(INVENTORY / ".vault_pass")],
        cwd=ROOT, env=ENV, capture_output=True, text=True)
    out = proc.stdout
    if "=>" not in out:
        return {"msg": out + proc.stderr, "failed": True}
    result = json.loads(out[out.index("=>") + 2:])
    result["failed"] = "| FAILED!" in out.split("=>")[0]
    return result


def test_a_pool_larger_than_the_osd_hosts_is_refused():
    result = adhoc("pilotstack_ceph_pool", {"name": "too-big", "size": 4})
    assert result["failed"], result
    assert "size 4 needs 4 hosts with OSDs" in result["msg"], result
    assert "No pool was changed" in result["msg"]
    assert "too-big" not in on_node("st1", "ceph osd pool ls")


def test_a_key_that_differs_from_the_vault_is_not_replaced():
    before = on_node("st1", "ceph auth get-key client.glance")
    result = adhoc("pilotstack_ceph_key", {
        "name": "client.glance", "key": "AQBZ1EFnAAAAABAAzPZVU4RCV+HM8yIHxYt1Nw==",
        "caps": {"mon": "profile rbd"}})
    assert result["failed"] and "refusing to replace it" in result["msg"], result
    assert on_node("st1", "ceph auth get-key client.glance") == before


@pytest.mark.parametrize("case", ["even mons", "device with a filesystem", "pool size 4"])
def test_bad_input_fails_before_any_host_is_touched(case):
    before = on_node("st1", "ceph osd ls && ceph mon dump 2>/dev/null | grep -c mon")
    if case == "even mons":
        extra = ["-e", json.dumps({"ceph_mons": ["st1", "st2"]})]
        expect = "2 mon(s) (st1, st2): a quorum needs an odd number"
    elif case == "pool size 4":
        extra = ["-e", "ceph_pool_size=4"]
        expect = "pool size 4 / min_size 2 with 3 OSD host(s)"
    else:
        for host in MONS:
            on_node(host, "truncate -s 16M /srv/disks/osd/used.img && "
                          "mkfs.ext4 -q -F /srv/disks/osd/used.img")
        extra = ["-e", json.dumps({"ceph_osd_file_backed": False,
                                   "ceph_osd_devices": ["/srv/disks/osd/used.img"]})]
        expect = "/srv/disks/osd/used.img on st1 holds a ext4 signature"
    try:
        run = ansible_playbook("ceph.yml", INVENTORY, *extra)
        if case == "device with a filesystem":
            for host in MONS:
                assert on_node(host, "blkid -p -o value -s TYPE /srv/disks/osd/used.img"
                               ).strip() == "ext4"
    finally:
        for host in MONS:
            on_node(host, "rm -f /srv/disks/osd/used.img", check=False)
    assert run.rc != 0
    assert expect in run.output, run.output[-3000:]
    assert "No host was touched" in run.output or "No device was wiped" in run.output
    assert run.changed == 0, run.recap
    assert on_node("st1", "ceph osd ls && ceph mon dump 2>/dev/null | grep -c mon") == before
    assert whole_problems() == []
