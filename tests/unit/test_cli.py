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
