"""Every operational entry point (include_role/import_role with tasks_from) is declared in
its role's meta/argument_specs.yml, and every caller passes what the entry point requires
(in the include's vars, its loop_var, or the play's vars)."""

from __future__ import annotations

import yaml

from tests.conftest import ROOT


def _tasks(node):
    """Every task dict under a play or task list (blocks, rescue, always, nested)."""
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue",
                    "always"):
            if key in node:
                yield from _tasks(node[key])


def _includes():
    files = list((ROOT / "playbooks").glob("*.yml")) + list((ROOT / "roles").glob("*/tasks/*.yml"))
    for path in files:
        doc = yaml.safe_load(path.read_text()) or []
        plays = doc if isinstance(doc, list) else [doc]
        for play in plays:
            play_vars = play.get("vars") or {} if isinstance(play, dict) else {}
            for task in _tasks(play):
                for key in ("ansible.builtin.include_role", "ansible.builtin.import_role",
                            "include_role", "import_role"):
                    spec = task.get(key)
                    if isinstance(spec, dict) and spec.get("tasks_from"):
                        given = set(task.get("vars") or {}) | set(play_vars)
                        loop_var = (task.get("loop_control") or {}).get("loop_var")
                        if loop_var:
                            given.add(loop_var)
                        yield path, spec["name"], spec["tasks_from"], given


def test_there_are_entry_points_to_check():
    assert len(list(_includes())) >= 15


def test_every_entry_point_has_an_argument_spec_and_gets_what_it_requires():
    problems = []
    for path, role, entry, given in _includes():
        specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml")
                               .read_text())["argument_specs"]
        where = f"{path.relative_to(ROOT)}: {role}/{entry}"
        if entry not in specs:
            problems.append(f"{where}: no argument spec")
            continue
        required = {k for k, v in (specs[entry].get("options") or {}).items()
                    if v.get("required")}
        missing = required - given
        if missing:
            problems.append(f"{where}: the caller does not pass {sorted(missing)}")
    assert not problems, "\n".join(problems)
