from pathlib import Path

import pytest

from harness.environment.baseimage import (
    AptSource,
    host_codename,
    mirror_lines,
    mmdebstrap_argv,
    parse_deb822,
    parse_sources_list,
    read_host_mirror,
)
from harness.errors import BaseImageError

DEB822 = """\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: https://vendor.example/apt
Suites: nodistro
Components: main

Types: deb-src
URIs: http://mirror.example/debian
Suites: bookworm
Components: main
"""


def test_parse_deb822_keeps_binary_stanzas():
    assert parse_deb822(DEB822) == [
        AptSource("http://mirror.example/debian", ("bookworm", "bookworm-updates"), ("main",)),
        AptSource("http://mirror.example/debian-security", ("bookworm-security",), ("main",)),
        AptSource("https://vendor.example/apt", ("nodistro",), ("main",)),
    ]


def test_parse_deb822_skips_disabled_stanzas():
    assert parse_deb822("Types: deb\nURIs: http://m/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n") == []


def test_parse_one_line_sources_with_options():
    text = (
        "# comment\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://m/debian trixie main contrib\n"
        "deb-src http://m/debian trixie main\n"
    )
    assert parse_sources_list(text) == [AptSource("http://m/debian", ("trixie",), ("main", "contrib"))]


def test_mirror_lines_keep_the_host_suites_and_skip_vendors():
    assert mirror_lines(parse_deb822(DEB822), "bookworm", "bookworm") == [
        "deb http://mirror.example/debian bookworm main",
        "deb http://mirror.example/debian bookworm-updates main",
        "deb http://mirror.example/debian-security bookworm-security main",
    ]


def test_mirror_lines_move_to_another_suite():
    lines = mirror_lines(parse_deb822(DEB822), "bookworm", "trixie")
    assert lines[0] == "deb http://mirror.example/debian trixie main"
    assert lines[-1] == "deb http://mirror.example/debian-security trixie-security main"


def test_host_codename():
    assert host_codename('NAME="Debian GNU/Linux"\nVERSION_CODENAME=bookworm\n') == "bookworm"
    assert host_codename("NAME=x\n") is None


def test_no_mirror_is_a_clear_error(tmp_path: Path):
    with pytest.raises(BaseImageError, match="no Debian mirror"):
        read_host_mirror("bookworm", apt_dir=tmp_path)


def test_mmdebstrap_argv_builds_a_minbase_tarball(tmp_path: Path):
    argv = mmdebstrap_argv("bookworm", ["deb http://m/debian bookworm main"], tmp_path / "root.tar")
    assert argv[0] == "mmdebstrap"
    assert "--variant=minbase" in argv and "--format=tar" in argv
    assert argv[-3:] == ["bookworm", str(tmp_path / "root.tar"), "deb http://m/debian bookworm main"]
    assert "--dpkgopt=path-exclude=/usr/share/doc/*" in argv


def test_missing_mmdebstrap_without_root_says_how_to_install(monkeypatch):
    from harness.environment import baseimage

    monkeypatch.setattr(baseimage.shutil, "which", lambda name: None)
    monkeypatch.setattr(baseimage.os, "geteuid", lambda: 1000)
    with pytest.raises(BaseImageError, match="mmdebstrap is missing; install it with: sudo apt-get install mmdebstrap"):
        baseimage.ensure_mmdebstrap(lambda m: None)
