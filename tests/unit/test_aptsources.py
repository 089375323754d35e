"""The Debian mirror is read from apt's own sources, never named by seedbed."""

from __future__ import annotations

from pathlib import Path

import pytest

from seedbed.deploy.aptsources import NoMirror, debian_mirror


def _patterns(folder: Path) -> tuple[str, ...]:
    return (str(folder / "sources.list"), str(folder / "*.list"), str(folder / "*.sources"))


def test_deb822_sources_give_the_archive_not_security(tmp_path: Path) -> None:
    (tmp_path / "debian.sources").write_text(
        "Types: deb\n# URIs: http://old.example/debian\nURIs: http://mirror.lab.test/debian-security\n"
        "Suites: bookworm-security\n\nTypes: deb\nURIs: http://mirror.lab.test/debian/\n"
        "Suites: bookworm\nComponents: main\n")
    assert debian_mirror(_patterns(tmp_path)) == "http://mirror.lab.test/debian"


def test_one_line_list_with_options(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.test/debian bookworm main\n"
        "deb [signed-by=/usr/share/keyrings/k.gpg] http://apt.lab.test/debian bookworm main\n")
    assert debian_mirror(_patterns(tmp_path)) == "http://apt.lab.test/debian"


def test_no_mirror_says_how_to_give_one(tmp_path: Path) -> None:
    (tmp_path / "other.list").write_text("deb http://ppa.test/ubuntu focal main\n")
    with pytest.raises(NoMirror, match="--mirror"):
        debian_mirror(_patterns(tmp_path))
