"""The package cache must name the mirror this machine's own apt sources use."""

from __future__ import annotations

from pilotstack.testbed import aptcache


def test_mirror_from_deb822_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "x.sources").write_text(
        "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\n\n")
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example.org/debian\nSuites: bookworm\n")
    assert aptcache.host_debian_mirror(tmp_path) == "http://mirror.example.org/debian/"


def test_mirror_from_one_line_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [arch=amd64] http://ftp.example.net/debian/ bookworm main\n")
    assert aptcache.host_debian_mirror(tmp_path) == "http://ftp.example.net/debian/"


def test_default_mirror_when_none_found(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    assert aptcache.host_debian_mirror(tmp_path) == "http://deb.debian.org/debian/"
