"""Secrets: strong values of the right shape, encrypted, never overwritten, never in git."""

from __future__ import annotations

import base64
import struct
import subprocess

import pytest
import yaml

from pilotstack import secrets


def test_generated_values_have_the_right_shape():
    assert len(secrets.generate("password")) == 32
    assert len(secrets.generate("vrrp")) == 8          # VRRP PASS carries 8 characters
    assert secrets.generate("password") != secrets.generate("password")
    raw = base64.b64decode(secrets.generate("cephx"))
    kind, _created, _nsec, length = struct.unpack("<hIIh", raw[:12])
    assert (kind, length, len(raw)) == (1, 16, 28)
    assert len(base64.b64decode(secrets.generate("corosync_key"))) == 256
    with pytest.raises(secrets.SecretsError):
        secrets.generate("nonsense")


def _decrypt(vault_file, pass_file) -> dict:
    vault = secrets._vault(pass_file.read_bytes().strip())
    return yaml.safe_load(vault.decrypt(vault_file.read_bytes()))["pilotstack_secrets"]


def test_load_reads_what_ensure_wrote(tmp_path):
    assert secrets.load(tmp_path) == {}
    secrets.ensure(tmp_path)
    loaded = secrets.load(tmp_path)
    assert loaded == _decrypt(tmp_path / "group_vars" / "all" / "secrets.vault.yml",
                              tmp_path / ".vault_pass")
    assert len(loaded["nova_rabbitmq_password"]) == 32


def test_ensure_generates_then_never_overwrites(tmp_path):
    first = secrets.ensure(tmp_path)
    names = {e["name"] for e in secrets.catalogue()}
    assert set(first["added"]) == names and first["kept"] == []
    vault_file = tmp_path / "group_vars" / "all" / "secrets.vault.yml"
    pass_file = tmp_path / ".vault_pass"
    assert vault_file.read_text().startswith("$ANSIBLE_VAULT;1.1;AES256")
    assert oct(vault_file.stat().st_mode & 0o777) == "0o600"
    assert oct(pass_file.stat().st_mode & 0o777) == "0o600"
    values = _decrypt(vault_file, pass_file)

    # an operator's own value and a deleted key: the first is kept, the second regenerated
    values["galera_sst_password"] = "operator-chosen"
    del values["ceph_fsid"]
    vault = secrets._vault(pass_file.read_bytes().strip())
    vault_file.write_bytes(vault.encrypt(yaml.safe_dump({"pilotstack_secrets": values})))
    second = secrets.ensure(tmp_path)
    assert second["added"] == ["ceph_fsid"]
    after = _decrypt(vault_file, pass_file)
    assert after["galera_sst_password"] == "operator-chosen"
    assert {k: v for k, v in after.items() if k != "ceph_fsid"} == values


def test_wrong_password_changes_nothing(tmp_path):
    secrets.ensure(tmp_path)
    vault_file = tmp_path / "group_vars" / "all" / "secrets.vault.yml"
    before = vault_file.read_bytes()
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    with pytest.raises(secrets.SecretsError, match="cannot decrypt"):
        secrets.ensure(tmp_path, wrong)
    assert vault_file.read_bytes() == before


def test_vault_without_password_file_is_refused(tmp_path):
    secrets.ensure(tmp_path)
    (tmp_path / ".vault_pass").unlink()
    with pytest.raises(secrets.SecretsError, match="password file"):
        secrets.ensure(tmp_path)


def test_refuses_a_vault_git_would_track(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    with pytest.raises(secrets.SecretsError, match="not ignored"):
        secrets.ensure(tmp_path)
    assert not (tmp_path / "group_vars" / "all" / "secrets.vault.yml").exists()
    (tmp_path / ".gitignore").write_text("secrets.vault.yml\n.vault_pass\n")
    assert secrets.ensure(tmp_path)["added"]
