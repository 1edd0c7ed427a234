"""What keeps ``pps bulletin build`` cheap (issue 14, "Speed"), checked as a user sees it: the
site's files are created ahead while the sites are read, and a build that fails or names a
page it does not write leaves nothing behind; ``--help`` loads no bulletin.  The figures
themselves are ``benchmarks/bulletin_build.py``'s."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bulletin import build_map, write_site
from bulletin.render import expected_files, prepare_site, site_files
from distributor.cli import cli
from pps.errors import BadInput
from tests.bulletin_helpers import GENERATED, index, ldif, release, site

UI = ("glite-UI", "3.2.8-0")
ROOT = Path(__file__).resolve().parent.parent


def small_map():
    return build_map(
        index(release(*UI)), [site("S1"), site("S2")],
        published={"S1": ldif("S1", f"VO-dteam-PPS-{UI[0]}-{UI[1]}"), "S2": ldif("S2")},
        generated=GENERATED,
    )  # fmt: skip


def test_bulletin_build_help_loads_neither_the_bulletin_nor_jinja2() -> None:
    code = (
        "import sys\n"
        "from distributor.cli import main\n"
        "sys.argv = ['pps', 'bulletin', 'build', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('bulletin', 'jinja2', 'distributor.bulletin_records', "
        "'distributor.demo') if m in sys.modules))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert "--out DIRECTORY" in run.stdout
    assert run.stdout.strip().splitlines()[-1] == "[]"


def test_files_made_ahead_are_the_site_and_a_page_it_has_not_is_gone(tmp_path: Path) -> None:
    vmap = small_map()
    out = tmp_path / "bulletin"
    names = expected_files([UI, ("glite-UI", "9.9-0")], ["S1", "S2", "GONE"])
    old_mask = os.umask(0o022)
    try:
        prepared = prepare_site(out, names)
        prepared.wait()
        assert (prepared.path / "v/glite-UI-9.9-0.html").is_file()  # made ahead, empty
        write_site(vmap, out, prepared=prepared)
    finally:
        os.umask(old_mask)
    files = site_files(vmap)
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted(files)  # no page for glite-UI 9.9-0 or GONE, nothing missing
    for rel in files:
        if rel != "map.json":  # (its build time is the one thing that differs)
            assert (out / rel).read_bytes() == files[rel], rel
        assert (out / rel).stat().st_mode & 0o777 == 0o644, rel
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bulletin"]  # no temporary left


def test_a_foreign_directory_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "README").write_text("mine\n")
    with pytest.raises(BadInput, match="holds files that no bulletin build wrote"):
        prepare_site(docs, expected_files([UI], ["S1"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs"]


def test_a_build_whose_read_fails_leaves_no_new_directory(tmp_path: Path) -> None:
    config = tmp_path / "pps.toml"
    (tmp_path / "repo").mkdir()
    config.write_text(
        '[repository]\npath = "repo"\n\n[[sites]]\nname = "S1"\npartner = "silver"\n'
        'vos = ["dteam"]\ntransport = "local"\nsubcluster = "ce.s1.example.org"\n'
        'root = "sites/S1"\n'
    )
    out = tmp_path / "web" / "bulletin"
    # port 1 on the loopback: nothing listens there, the read fails at once
    result = CliRunner().invoke(
        cli,
        ["--config", str(config), "bulletin", "build", "--out", str(out), "--infosys",
         "ldap://127.0.0.1:1"],
    )  # fmt: skip
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert not out.exists()
    assert [p.name for p in (tmp_path / "web").iterdir()] == []
