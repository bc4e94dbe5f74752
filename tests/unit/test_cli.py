"""The thin CLI: which playbook it runs and what it passes on to ansible-playbook."""

from __future__ import annotations

import pytest

from pilotstack import cli


@pytest.fixture
def calls(monkeypatch):
    seen = []
    monkeypatch.setattr(cli.subprocess, "call", lambda argv, **kw: seen.append(argv) or 0)
    return seen


def test_run_resolves_a_playbook_name_and_passes_options_on(calls, tmp_path):
    inv = tmp_path / "inv"
    inv.mkdir()
    (inv / ".vault_pass").write_text("x")
    assert cli.main(["run", "galera-recover", "-i", str(inv), "-e",
                     "galera_recover_grace=10", "--check"]) == 0
    argv = calls[0]
    assert argv[1:4] == ["-i", str(inv), str(cli.paths.project_root() / "playbooks"
                                              / "galera-recover.yml")]
    assert argv[4:] == ["--vault-password-file", str(inv / ".vault_pass"), "-e",
                        "galera_recover_grace=10", "--check"]


def test_deploy_runs_site(calls, tmp_path):
    assert cli.main(["deploy", "-i", str(tmp_path)]) == 0
    assert calls[0][3].endswith("playbooks/site.yml")


def test_unknown_options_are_refused_where_nothing_passes_them_on(capsys):
    with pytest.raises(SystemExit):
        cli.main(["secrets", "--bogus"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_drill_lists_and_refuses_unknown_names(capsys):
    assert cli.main(["drill", "--list"]) == 0
    listed = capsys.readouterr().out.split("\n")
    assert any(line.startswith("galera-writer-killed ") for line in listed)
    assert cli.main(["drill", "no-such-drill"]) == 2
    assert "unknown drill no-such-drill" in capsys.readouterr().err


def test_drill_runs_on_the_testbed_only(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PILOTSTACK_ROOT", str(tmp_path))
    assert cli.main(["drill", "galera-writer-killed"]) == 1
    assert "drills run on the testbed only" in capsys.readouterr().err


def test_deploy_takes_mitogen_when_installed_and_linear_otherwise(monkeypatch):
    import builtins

    env = cli.strategy_env("auto")
    assert env["ANSIBLE_STRATEGY"] == "mitogen_linear"  # the venv has '.[speed]'
    assert env["ANSIBLE_STRATEGY_PLUGINS"].endswith("ansible_mitogen/plugins/strategy")
    assert "ANSIBLE_STRATEGY" not in cli.strategy_env("linear")

    real_import = builtins.__import__

    def no_mitogen(name, *args, **kw):
        if name == "ansible_mitogen":
            raise ImportError(name)
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_mitogen)
    assert "ANSIBLE_STRATEGY" not in cli.strategy_env("auto")
    with pytest.raises(RuntimeError, match="needs the mitogen package"):
        cli.strategy_env("mitogen")


def test_an_inventory_yaml_error_names_file_line_and_column(tmp_path, capsys):
    gv = tmp_path / "group_vars" / "all"
    gv.mkdir(parents=True)
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    db1: {}\n")
    (gv / "vault.yml").write_text("$ANSIBLE_VAULT;1.1;AES256\n6162\n")
    (gv / "main.yml").write_text("a: !vault |\n  x\nb: 1\nnets:\n  mgmt: {cidr: 10.0.0.0/24\n"
                                 "galera_network: storage\n")
    errors = cli.inventory_yaml_errors(tmp_path)
    assert len(errors) == 1
    assert errors[0].startswith(f"{gv / 'main.yml'}:6:")
    assert cli.main(["preflight", "-i", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "the inventory does not parse; no host was contacted" in err
    assert "main.yml:6:" in err


def test_version_and_run_list(capsys):
    with pytest.raises(SystemExit) as out:
        cli.main(["--version"])
    assert out.value.code == 0
    assert capsys.readouterr().out.strip().startswith("pilotstack 0.")
    assert cli.main(["run", "--list"]) == 0
    listed = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert set(listed) >= {"site", "galera-recover", "galera-rolling-restart", "base"}
    assert all(text.strip() for text in listed.values()), listed
    assert cli.main(["run"]) == 2
    assert "pilotstack run --list" in capsys.readouterr().err


def test_every_argument_has_help():
    parser = cli.build_parser()
    undocumented = []

    def walk(p, prefix):
        for action in p._actions:
            if action.help is None and action.dest not in ("help", "command", "action"):
                undocumented.append(f"{prefix} {action.dest}")
            choices = getattr(action, "choices", None)
            for name, sub in (choices.items() if isinstance(choices, dict) else []):
                if isinstance(sub, type(parser)):
                    walk(sub, f"{prefix} {name}")
    walk(parser, "pilotstack")
    assert undocumented == [], undocumented
