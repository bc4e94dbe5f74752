"""Foundation on the real testbed: 12 containers with systemd and sshd, preflight + base
over SSH, idempotence, preflight refusing broken inventories, and a clean `down`.

The tests run in file order and share one testbed (session fixture).
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml

from tests.conftest import ROOT

from .conftest import FIGURES, INVENTORY, ansible_playbook, pilotstack, pilotstack_deploy

HOSTS = ["lb1", "lb2", "db1", "db2", "db3", "ctl1", "ctl2", "st1", "st2", "st3", "cmp1",
         "cmp2"]


def test_up_prints_a_line_per_host_and_is_idempotent(testbed):
    lines = re.findall(r"^\[\s*\d+/12\] (\S+)\s+(\S+)\s+(\S+)", testbed.up_output, re.M)
    assert [name for name, _, _ in lines] == HOSTS
    assert {action for _, _, action in lines} == {"created"}
    again = pilotstack("testbed", "up")
    assert again.stdout.count(" running") == 12, again.stdout
    status = pilotstack("testbed", "status")
    assert status.stdout.count(" ok ") == 12, status.stdout


def test_hosts_boot_systemd_and_answer_ssh(testbed):
    for name in HOSTS:
        host = testbed.host(name)
        assert host.check_output("hostname") == name
        assert host.run("systemctl is-system-running --wait").stdout.strip() == "running", name
    ssh = pilotstack("testbed", "ssh", "st3", "cat", "/etc/hostname")
    assert ssh.stdout.strip() == "st3"


def test_check_mode_on_fresh_hosts_predicts_without_changing(testbed):
    run = ansible_playbook("site.yml", INVENTORY, "--check")
    FIGURES["site.yml check mode on fresh hosts (s)"] = round(run.seconds, 1)
    assert run.rc == 0, run.output[-6000:]
    assert all(run.recap[h]["changed"] > 0 for h in HOSTS), run.recap
    for name in HOSTS:
        host = testbed.host(name)
        assert not host.package("chrony").is_installed, name
        assert not host.file("/etc/apt/apt.conf.d/01pilotstack-proxy").exists, name
    for name in ("db1", "lb1"):
        assert not testbed.host(name).package("mariadb-server").is_installed
        assert not testbed.host(name).package("haproxy").is_installed
    assert "new_cluster db1" in run.output  # the plan is printed in check mode too


def test_deploy_site(testbed):
    """`pilotstack deploy` cold, with its default strategy (Mitogen's where installed, as
    run.sh installs it)."""
    run = pilotstack_deploy()
    FIGURES["pilotstack deploy cold, every tier (s)"] = round(run.seconds, 1)
    assert run.rc == 0, run.output[-6000:]
    assert "new_cluster db1" in run.output  # bootstrapped once, from the first member
    assert set(run.recap) == {"localhost", *HOSTS}
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in run.recap.values())
    tiers = tier_times(run)
    assert list(tiers) == TIERS, tiers
    for tier, figures in tiers.items():
        FIGURES[f"pilotstack deploy cold, tier {tier} (s)"] = figures["seconds"]


TIERS = ["Preflight", "Base", "GlusterFS", "Ceph", "Galera", "Load balancers", "RabbitMQ",
         "Pacemaker"]


def tier_times(run) -> dict:
    """The tier callback's figures: a progress line per tier, the table at the end, JSON."""
    for tier in TIERS:
        assert f"== pilotstack: tier {tier} (" in run.output, tier
    assert "PILOTSTACK TIER TIMES" in run.output
    return json.loads((ROOT / ".pilotstack" / "last-run-tiers.json").read_text())["tiers"]


@pytest.mark.parametrize("how", ["pilotstack deploy", "ansible-playbook site.yml"])
def test_second_run_changes_nothing(testbed, how):
    """Idempotent with either strategy: the CLI's default and plain Ansible (linear)."""
    run = pilotstack_deploy() if how == "pilotstack deploy" else ansible_playbook("site.yml")
    FIGURES[f"{how} re-run (s)"] = round(run.seconds, 1)
    FIGURES[f"{how} re-run changed"] = run.changed
    assert run.rc == 0, run.output[-6000:]
    assert run.changed == 0, {h: r for h, r in run.recap.items() if r["changed"]}
    for tier, figures in tier_times(run).items():
        FIGURES[f"{how} re-run, tier {tier} (s)"] = figures["seconds"]


def test_a_disabled_tier_is_skipped_before_any_task(testbed):
    run = ansible_playbook("ceph.yml", INVENTORY, "-e",
                           '{"pilotstack_disabled_tiers": ["ceph"]}')
    assert run.rc == 0, run.output[-4000:]
    assert "TASK [ceph" not in run.output and "TASK [Ceph" not in run.output, run.output
    assert run.changed == 0


def test_base_really_configured_the_hosts(testbed):
    vars_ = yaml.safe_load((INVENTORY / "group_vars/all/testbed.yml").read_text())
    for name in HOSTS:
        host = testbed.host(name)
        assert host.package("chrony").is_installed
        assert host.service("chrony").is_running
        assert host.file("/etc/apt/apt.conf.d/01pilotstack-proxy").contains(
            re.escape(vars_["base_apt_proxy"]))
        assert host.sysctl("net.ipv4.ip_nonlocal_bind") == 1
        limit = host.check_output("systemctl show chrony -p LimitNOFILE --value")
        assert int(limit) == vars_["base_nofile_limit"]
        # every cluster name resolves to its management address on every host
        hosts_file = host.file("/etc/hosts").content_string
        for other in HOSTS:
            addr = yaml.safe_load((INVENTORY / "hosts.yml").read_text())["all"]["hosts"][
                other]["ansible_host"]
            assert re.search(rf"^{re.escape(addr)}\s+{other}$", hosts_file, re.M), (name, other)
        if name != "lb1":
            # chrony follows the testbed's local time source on lb1
            sources = host.check_output("chronyc -n sources")
            assert re.search(r"^\^[*+] 10\.213\.10\.11 ", sources, re.M), (name, sources)


def test_base_refuses_kernel_settings_and_limits_it_cannot_meet(testbed):
    """In a container the runtime sets the per-namespace sysctls: base reads them and stops,
    naming the key and its running value, when they differ; and it refuses an open-file
    limit above PID 1's hard limit. Both before any file changes."""
    run = ansible_playbook("base.yml", INVENTORY, "--limit", "cmp2", "-e",
                           '{"base_sysctl": {"net.core.somaxconn": 1024}}')
    assert run.rc != 0 and run.recap["cmp2"]["changed"] == 0
    assert ("cmp2: /proc/sys is read-only and base_sysctl differs from the running values "
            "({'net.core.somaxconn': '4096'})") in run.output, run.output[-3000:]
    run = ansible_playbook("base.yml", INVENTORY, "--limit", "cmp2", "-e",
                           '{"base_nofile_limit": 99999999}')
    assert run.rc != 0 and run.recap["cmp2"]["changed"] == 0
    assert "base_nofile_limit 99999999 is above the hard limit" in run.output, run.output[-3000:]


def _copy_inventory(tmp_path):
    inv = tmp_path / "inv"
    shutil.copytree(INVENTORY, inv)
    return inv


def _edit_yaml(path, change):
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _dup_ip(inv):
    def change(d):
        hosts = d["all"]["hosts"]
        hosts["db2"]["pilotstack_ip"]["mgmt"] = hosts["db1"]["pilotstack_ip"]["mgmt"]
    _edit_yaml(inv / "hosts.yml", change)
    return "db2: pilotstack_ip.mgmt 10.213.10.21 duplicates db1 pilotstack_ip.mgmt"


def _set_vip(inv, name, address):
    def change(d):
        d["pilotstack_vips"][name]["address"] = address
    _edit_yaml(inv / "group_vars/all/testbed.yml", change)


def _vip_outside(inv):
    _set_vip(inv, "internal", "10.99.0.100")
    return "pilotstack_vips.internal.address 10.99.0.100 is outside network mgmt (10.213.10.0/24)"


def _two_galera(inv):
    def change(d):
        del d["all"]["children"]["galera"]["hosts"]["db3"]
    _edit_yaml(inv / "hosts.yml", change)
    return "group galera: 2 host(s) (db1, db2); the galera tier needs an odd number, at least 3"


def _missing_secret(inv):
    # The vault replaced by a plain file that lacks one secret (test values, temp dir).
    (inv / "group_vars/all/secrets.vault.yml").unlink()
    (inv / ".vault_pass").unlink()
    catalogue = yaml.safe_load((ROOT / "playbooks/vars/secrets_catalogue.yml").read_text())
    values = {e["name"]: "x" for e in catalogue["pilotstack_secrets_catalogue"]
              if e["name"] != "galera_sst_password"}
    (inv / "group_vars/all/secrets.yml").write_text(
        yaml.safe_dump({"pilotstack_secrets": values}))
    return "pilotstack_secrets.galera_sst_password is missing (needed by tier galera)"


def _vip_is_a_host(inv):
    _set_vip(inv, "controller", "10.213.10.31")
    return "pilotstack_vips.controller.address 10.213.10.31 is already ctl1 pilotstack_ip.mgmt"


BROKEN = [_dup_ip, _vip_outside, _two_galera, _missing_secret, _vip_is_a_host]


@pytest.mark.parametrize("breakage", BROKEN, ids=[b.__name__[1:] for b in BROKEN])
def test_preflight_refuses_broken_inventory_before_touching_hosts(testbed, tmp_path, breakage):
    inv = _copy_inventory(tmp_path)
    expected = breakage(inv)
    run = ansible_playbook("site.yml", inv)
    assert run.rc != 0
    assert expected in run.output, run.output[-3000:]
    # only the controller ran anything: no host was contacted, nothing changed
    assert set(run.recap) == {"localhost"}, run.recap
