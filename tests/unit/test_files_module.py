"""pilotstack_files driven through its real main() on a real directory: no-op, change,
check mode, absent and unmanaged entries, attributes, parents, diff, refusals."""

from __future__ import annotations

import grp
import os
import pwd

import pytest

from tests.conftest import load_plugin, run_module

FILES = load_plugin("library", "pilotstack_files")
OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def run(files, check_mode=False, **kw):
    args = {"files": files, "owner": OWNER, "group": GROUP, **kw}
    return run_module(FILES, args, check_mode=check_mode)


def mode(path) -> str:
    return oct(path.stat().st_mode & 0o7777)


def test_writes_missing_files_with_parents_then_changes_nothing(tmp_path):
    a, b = tmp_path / "etc" / "d" / "a.conf", tmp_path / "b.conf"
    files = [{"path": str(a), "content": "A\n"}, {"path": str(b), "content": "B\n",
                                                  "mode": "0600"}]
    result = run(files)
    assert not result["failed"] and result["changed"]
    assert result["changed_paths"] == [str(a), str(b)]
    assert a.read_text() == "A\n" and b.read_text() == "B\n"
    assert mode(a) == "0o644" and mode(b) == "0o600"
    assert mode(a.parent) == "0o755"
    again = run(files)
    assert not again["changed"] and again["changed_paths"] == []
    assert not [p for p in tmp_path.rglob(".*")], "temporary files left behind"


def test_only_the_file_that_differs_is_rewritten(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("A\n")
    b.write_text("old\n")
    a.chmod(0o644)
    b.chmod(0o644)
    inode_a = a.stat().st_ino
    result = run([{"path": str(a), "content": "A\n"}, {"path": str(b), "content": "new\n"}])
    assert result["changed_paths"] == [str(b)]
    assert a.stat().st_ino == inode_a and b.read_text() == "new\n"


def test_a_wrong_mode_alone_is_a_change(tmp_path):
    a = tmp_path / "a"
    a.write_text("A\n")
    a.chmod(0o666)
    result = run([{"path": str(a), "content": "A\n"}])
    assert result["changed_paths"] == [str(a)] and mode(a) == "0o644"


def test_check_mode_predicts_and_touches_nothing(tmp_path):
    a, b, gone = tmp_path / "new" / "a", tmp_path / "b", tmp_path / "gone"
    b.write_text("old\n")
    b.chmod(0o600)
    gone.write_text("x")
    files = [{"path": str(a), "content": "A\n"}, {"path": str(b), "content": "old\n"},
             {"path": str(gone), "state": "absent"}]
    result = run(files, check_mode=True)
    assert result["changed_paths"] == [str(a), str(b), str(gone)]
    assert not a.parent.exists() and mode(b) == "0o600" and gone.exists()


def test_absent_and_unmanaged_entries(tmp_path):
    gone, kept = tmp_path / "gone", tmp_path / "kept"
    gone.write_text("x")
    kept.write_text("theirs\n")
    files = [{"path": str(gone), "state": "absent"},
             {"path": str(kept), "state": "unmanaged", "content": "ours\n"}]
    result = run(files)
    assert result["changed_paths"] == [str(gone)]
    assert not gone.exists() and kept.read_text() == "theirs\n"
    assert not run(files)["changed"]


def test_diff_shows_before_and_after_unless_secret(tmp_path):
    a = tmp_path / "a"
    a.write_text("old\n")
    a.chmod(0o644)
    files = [{"path": str(a), "content": "new\n"}]
    result = run_module(FILES, {"files": files, "owner": OWNER, "group": GROUP,
                                "_ansible_diff": True}, check_mode=True)
    assert result["diff"] == [{"before_header": str(a), "before": "old\n",
                               "after_header": str(a), "after": "new\n"}]
    hidden = run_module(FILES, {"files": files, "owner": OWNER, "group": GROUP,
                                "secret": True, "_ansible_diff": True}, check_mode=True)
    assert hidden["changed"] and "diff" not in hidden


@pytest.mark.parametrize("files, message", [
    ([{"path": "/tmp/x", "content": ""}, {"path": "/tmp/x", "content": "y"}],
     "listed more than once: /tmp/x"),
    ([{"path": "relative/x", "content": ""}], "paths must be absolute: relative/x"),
])
def test_bad_entries_are_refused_before_any_write(files, message):
    result = run(files)
    assert result["failed"] and message in result["msg"]


def test_a_directory_in_the_way_is_refused(tmp_path):
    (tmp_path / "d").mkdir()
    result = run([{"path": str(tmp_path / "d"), "content": "x"}])
    assert result["failed"] and "is a directory" in result["msg"]
