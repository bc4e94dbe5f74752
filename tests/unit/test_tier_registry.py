"""The tier registry (module_utils/pilotstack_tiers.py) is the one place that names the
tiers: every reader agrees with it, and nothing names a tier it does not know."""

from __future__ import annotations

import re

import pytest
import yaml
from ansible.module_utils import pilotstack_inventory as inventory
from ansible.module_utils import pilotstack_tiers as tiers

from pilotstack import cli, drills, status
from tests.conftest import ROOT, load_plugin

PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yml"))
TIER_FILTER = load_plugin("filter_plugins", "pilotstack_tiers")


def _plays():
    for path in PLAYBOOKS:
        for play in yaml.safe_load(path.read_text()) or []:
            yield path.name, play


def test_every_play_name_prefix_names_a_registered_tier():
    unclaimed = [(book, play["name"]) for book, play in _plays()
                 if tiers.play_tier(play["name"]) is None]
    assert not unclaimed


def test_every_tier_gate_names_registered_tiers_and_its_playbook_is_the_tiers():
    seen = 0
    for book, play in _plays():
        for task in play.get("pre_tasks") or []:
            gate = (task.get("vars") or {}).get("tier_gate_tiers")
            if gate is None:
                continue
            seen += 1
            assert not tiers.unknown(gate), (book, gate)
            assert set(gate) & set(tiers.playbook_tiers(book)), (book, gate)
    assert seen >= 7


def test_every_playbook_belongs_to_a_tier_and_every_registered_playbook_exists():
    names = {p.name for p in PLAYBOOKS}
    for name, entry in tiers.REGISTRY.items():
        missing = [b for b in entry["playbooks"] if b not in names]
        assert not missing, (name, missing)
    orphans = [b for b in names - {"site.yml"} if not tiers.playbook_tiers(b)]
    assert not orphans


def test_site_yml_runs_each_deployed_tiers_first_playbook():
    site = [p["ansible.builtin.import_playbook"]
            for p in yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())]
    for name, entry in tiers.REGISTRY.items():
        if entry["deployed"]:
            assert entry["playbooks"][0] in site, name


def test_secrets_catalogue_names_only_registered_tiers():
    catalogue = yaml.safe_load((ROOT / "playbooks" / "vars" / "secrets_catalogue.yml")
                               .read_text())["pilotstack_secrets_catalogue"]
    named = {t for entry in catalogue for t in entry["tiers"]}
    assert not tiers.unknown(named), tiers.unknown(named)


def test_status_cli_drills_and_preflight_read_the_registry():
    assert set(status.PROBES) == set(tiers.status_tiers()) == set(status.TIERS)
    parser = cli.build_parser() if hasattr(cli, "build_parser") else None
    if parser is not None:
        text = parser.format_help()
        assert text
    assert tiers.group_rules() == inventory.TIER_GROUPS
    registered = drills.load()
    assert registered
    assert not tiers.unknown({d.tier for d in registered.values()})
    for module in tiers.drill_modules():
        assert (ROOT / "src" / "pilotstack" / "drills" / f"{module}.py").is_file(), module


def test_cli_tier_choices_are_the_registry_status_tiers():
    source = (ROOT / "src" / "pilotstack" / "cli.py").read_text()
    assert re.search(r'"--tier".*choices=tiers_mu\.status_tiers\(\)', source)
    assert not re.search(r'choices=\["lb"', source)


def test_a_drill_of_an_unknown_tier_is_refused():
    with pytest.raises(ValueError, match="unknown tier 'cephx'"):
        drills.drill("nothing", "cephx")


def test_base_cannot_be_disabled_and_unknown_tiers_are_named():
    problems = inventory.validate({"disabled_tiers": ["base", "cepf"]})
    assert any("['base'] cannot be disabled" in p for p in problems)
    assert any("unknown tier(s) ['cepf']" in p for p in problems)


def test_the_tier_gate_filter_refuses_an_unknown_tier():
    assert TIER_FILTER.pilotstack_known_tiers(["galera"]) == ["galera"]
    with pytest.raises(TIER_FILTER.AnsibleFilterError, match=r"unknown tier\(s\) \['db'\]"):
        TIER_FILTER.pilotstack_known_tiers(["galera", "db"])


def test_play_tier_reads_the_prefix():
    assert tiers.play_tier("Galera | members") == "galera"
    assert tiers.play_tier("Ceph rolling restart | mons") == "ceph"
    assert tiers.play_tier("Keystone | api") is None
