"""The site file: one description of the site for every run, strict, and never a dangerous root."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.probe_helpers import (
    add_release,
    make_site,
    run_probe,
    status_line,
)


def test_a_run_reads_everything_from_the_site_file(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(vos=["dteam"], repository=str(tmp_path / "repo"))

    proc = run_probe(site, tmp_path / "repo", site_flags=False, vos=None)

    assert proc.returncode == 0, proc.stdout
    assert status_line(proc).startswith(
        "PREVIEW_CLIENT OK - fake-client 1.0.0 verified at ce01.example.org: 2/2 tests passed, "
        "tagged for dteam |"
    )
    assert site.tags_text("dteam") == "VO-dteam-PPS-fake-client-1.0.0\nPPS-PREVIEW\n"
    assert site.tags_text("ops") is None


def test_flags_override_the_site_file(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(subcluster="ce99.example.org")

    proc = run_probe(site, tmp_path / "repo")  # --subcluster ce01.example.org

    assert proc.returncode == 0, proc.stdout
    assert site.tags_text("dteam") is not None
    assert not (site.info_dir / "ce99.example.org").exists()


BAD_VALUES = {
    "unknown-key": ('colour = "blue"', "unknown key 'colour'"),
    "number-for-a-string": ("repository = 5", "'repository' must be a non-empty string, got 5"),
    "list-for-a-string": ('test_user = ["x"]', "'test_user' must be a non-empty string, got ['x']"),
    "string-for-a-list": (
        'vos = "dteam"',
        "'vos' must be a non-empty list of VO names, got 'dteam'",
    ),
    "bad-vo": ('vos = ["Bad VO"]', "'vos': VO name 'Bad VO' is not valid"),
    "relative-path": (
        'info_dir = "var/info"',
        "'info_dir' must be an absolute path, got 'var/info'",
    ),
    "dotdot": ('profile_d = "/etc/../root"', "'profile_d' '/etc/../root' must not contain '..'"),
    "bool-for-a-size": ("max_release_bytes = true", "'max_release_bytes' must be a whole number"),
    "negative-size": (
        "max_unpacked_bytes = -1",
        "'max_unpacked_bytes' must be a whole number >= 1",
    ),
    "bad-key": ('public_key = "ssh-rsa AAAA"', "'public_key' 'ssh-rsa AAAA' is not an Ed25519"),
    "bad-url": ('repository = "ftp://x/"', "'repository' 'ftp://x/' must be an absolute directory"),
    "not-toml": ("vos = [", "not valid TOML"),
    "bad-bdii": ('bdii = "http://bdii:2170"', "'bdii' 'http://bdii:2170' is not ldap://HOST:PORT"),
}


def test_the_publication_probes_bdii_key_is_a_site_file_key_for_every_probe(
    tmp_path: Path,
) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(bdii="ldap://site-bdii.example.org:2170")

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_a_bad_site_file_is_one_line_unknown_and_changes_nothing(tmp_path: Path, case: str) -> None:
    line, message = BAD_VALUES[case]
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.site_file.write_text(line + "\n")

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 3, proc.stdout
    assert proc.stdout.count("\n") == 1
    assert proc.stdout.startswith(f"PREVIEW_CLIENT UNKNOWN - site file {site.site_file}: {message}")
    assert not site.preview_root.exists()
    assert not site.info_dir.exists()


def test_a_missing_named_site_file_is_unknown(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    site.site_file.unlink()

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 3
    assert proc.stdout == (
        f"PREVIEW_CLIENT UNKNOWN - cannot read the site file {site.site_file}: "
        "No such file or directory\n"
    )


def test_a_site_file_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    import os

    site = make_site(tmp_path)
    site.site_file.unlink()
    os.mkfifo(site.site_file)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 3
    assert proc.stdout == (
        f"PREVIEW_CLIENT UNKNOWN - the site file {site.site_file} is not a regular file\n"
    )


@pytest.mark.parametrize(
    "root",
    ["/", "/opt", "/usr", "/etc", "/var/lib", "/tmp", "/usr/local", "/opt/glite", "/home"],
)
def test_a_system_directory_is_never_a_preview_root(tmp_path: Path, root: str) -> None:
    site = make_site(tmp_path)

    proc = run_probe(site, tmp_path / "repo", "--preview-root", root)

    assert proc.returncode == 3
    assert proc.stdout == (
        f"PREVIEW_CLIENT UNKNOWN - preview_root {root!r} is a system directory: give a directory "
        "of its own, e.g. /opt/pps/preview\n"
    )


@pytest.mark.parametrize("held", ["info_dir", "profile_d"])
def test_a_preview_root_holding_the_info_dir_or_profile_d_is_refused(
    tmp_path: Path, held: str
) -> None:
    site = make_site(tmp_path)
    root = tmp_path / "previews"
    inside = root / "inner"
    inside.mkdir(parents=True)
    flag = "--" + held.replace("_", "-")

    proc = run_probe(site, tmp_path / "repo", "--preview-root", str(root), flag, str(inside))

    assert proc.returncode == 3
    assert proc.stdout == (
        f"PREVIEW_CLIENT UNKNOWN - preview_root {str(root)!r} holds {held} "
        f"{str(inside)!r}: the preview root must be a directory of its own\n"
    )
    assert list(root.iterdir()) == [inside]


def test_a_preview_root_reached_through_a_link_to_a_system_directory_is_refused(
    tmp_path: Path,
) -> None:
    site = make_site(tmp_path)
    link = tmp_path / "looks-harmless"
    link.symlink_to("/usr")

    proc = run_probe(site, tmp_path / "repo", "--preview-root", str(link))

    assert proc.returncode == 3
    assert proc.stdout == (
        f"PREVIEW_CLIENT UNKNOWN - preview_root {str(link)!r} is a system directory (/usr): "
        "give a directory of its own, e.g. /opt/pps/preview\n"
    )


def test_a_preview_root_others_can_write_is_refused(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.preview_root.mkdir(parents=True)
    site.preview_root.chmod(0o777)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 3
    assert proc.stdout == (
        f"PREVIEW_CLIENT UNKNOWN - preview root {site.preview_root} is writable by group or "
        "others (mode 0777): chmod go-w it\n"
    )
    assert list(site.preview_root.iterdir()) == []


def test_a_symlinked_pps_directory_is_refused(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    site.preview_root.mkdir(parents=True)
    (site.preview_root / ".pps").symlink_to(elsewhere)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 3
    assert proc.stdout == (
        f"PREVIEW_CLIENT UNKNOWN - {site.preview_root / '.pps'} is a symbolic link: the probe "
        "keeps its own files there\n"
    )
    assert list(elsewhere.iterdir()) == []


def test_a_changed_site_file_is_read_again_and_an_unsafe_cache_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parsed site file is kept in a private cache, with the exact text it came from."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("PPS_CACHE_DIR", str(cache))
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(vos=["dteam"])
    assert run_probe(site, tmp_path / "repo", site_flags=False, vos=None).returncode == 0
    (entry,) = cache.iterdir()
    poisoned = entry.read_text().replace('"dteam"', '"ops"')

    site.write_site_file(vos=["dteam", "ops"])  # the admin edits the file: read anew
    both = run_probe(site, tmp_path / "repo", site_flags=False, vos=None)
    entry.write_text(poisoned)  # a cache entry that disagrees with the file's text
    again = run_probe(site, tmp_path / "repo", site_flags=False, vos=None)
    cache.chmod(0o777)  # others could write the cache now: never trusted
    unsafe = run_probe(site, tmp_path / "repo", site_flags=False, vos=None)

    for proc in (both, again, unsafe):
        assert "tagged for dteam,ops |" in status_line(proc), proc.stdout
