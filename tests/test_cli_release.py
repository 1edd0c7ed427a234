from __future__ import annotations

import hashlib
import json

import pytest

from pps.repository import Repository

TESTS_TOML = """
setup = "etc/env.sh"

[[tests]]
name = "version"
command = "tool | grep -q 1.0"
timeout = 20
"""


def _create(grid, *extra, version="1.0", src=None):
    src = src or grid.source("tool-1.0", tests=TESTS_TOML)
    (src / "etc").mkdir(exist_ok=True)
    (src / "etc/env.sh").write_text("export TOOL=1\n")
    return grid.invoke(
        "release", "create", "tool", version, "--from", str(src),
        "--class", "bc-client", "--type", "revision", *extra,
    )  # fmt: skip


def test_release_create_writes_tarball_checksum_manifest_and_index(grid):
    result = _create(grid, "--test", "extra=true", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    repo = grid.root / "repo"
    tarball = repo / "unverified/tool/1.0/tool-1.0.tar.gz"
    assert record["tarball"] == "unverified/tool/1.0/tool-1.0.tar.gz"
    assert record["sha256"] == hashlib.sha256(tarball.read_bytes()).hexdigest()
    assert record["size"] == tarball.stat().st_size
    assert (repo / "unverified/tool/1.0/tool-1.0.tar.gz.sha256").read_text() == (
        f"{record['sha256']}  tool-1.0.tar.gz\n"
    )
    manifest = json.loads((repo / "unverified/tool/1.0/tool-1.0.manifest.json").read_text())
    assert [t["name"] for t in manifest["tests"]] == ["version", "extra"]
    assert manifest["setup"] == "etc/env.sh"
    (entry,) = Repository(repo).load().releases
    assert (entry.stage, entry.update_class.value, entry.release_type.value) == (
        "unverified", "bc-client", "revision",
    )  # fmt: skip


def test_release_create_is_reproducible_across_repositories(grid, tmp_path):
    first = json.loads(_create(grid, "--json").output)["sha256"]
    (grid.root / "repo").rename(tmp_path / "old-repo")
    assert grid.invoke("repo", "init").exit_code == 0
    assert json.loads(_create(grid, "--json").output)["sha256"] == first


def test_existing_release_is_never_overwritten(grid):
    assert _create(grid).exit_code == 0
    tarball = grid.root / "repo/unverified/tool/1.0/tool-1.0.tar.gz"
    before = tarball.read_bytes()
    src = grid.source("tool-1.0-changed", version_text="changed")
    result = _create(grid, src=src)
    assert result.exit_code == 2
    assert "release tool 1.0 already exists" in result.output
    assert tarball.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["release", "create", 'to"ol', "1.0", "--from", "{src}", "--class", "bc-client",
          "--type", "minor"], "component 'to\"ol' is not valid"),
        (["release", "create", "tool", "1.0/..", "--from", "{src}", "--class", "bc-client",
          "--type", "minor"], "version '1.0/..' is not valid"),
        (["release", "create", "tool", "1.0", "--from", "{missing}", "--class", "bc-client",
          "--type", "minor"], "does not exist or is not a directory"),
        (["release", "create", "tool", "1.0", "--from", "{src}", "--class", "client",
          "--type", "minor"], "'client' is not one of"),
        (["release", "create", "tool", "1.0", "--from", "{src}", "--class", "bc-client",
          "--type", "minor", "--test", "no-equals"], "NAME=COMMAND"),
        (["release", "create", "tool", "1.0", "--from", "{src}", "--class", "bc-client",
          "--type", "minor", "--notes-url", "javascript:alert(1)"],
         "must be an http(s) URL with a host"),
    ],
    ids=["bad-component", "bad-version", "missing-from", "bad-class", "bad-test", "bad-url"],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2_and_writes_nothing(grid, args, message):
    src = grid.source("tool-1.0")
    args = [a.format(src=src, missing=grid.root / "missing") for a in args]
    before = sorted(p.name for p in (grid.root / "repo").iterdir())
    result = grid.invoke(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert sorted(p.name for p in (grid.root / "repo").iterdir()) == before


def test_bad_tests_file_is_named(grid):
    src = grid.source("tool-1.0", tests="[[tests]]\nname = 'x'\n")
    result = _create(grid, src=src)
    assert result.exit_code == 2
    assert "pps-tests.toml: tests[0] needs 'name' and 'command'" in result.output


def test_release_list_shows_releases_as_table_and_json(grid):
    _create(grid)
    table = grid.invoke("release", "list")
    assert table.exit_code == 0
    assert table.output.splitlines()[0].split() == ["COMPONENT", "VERSION", "STAGE", "CLASS",
                                                    "TYPE", "STATE", "STEP"]  # fmt: skip
    assert table.output.splitlines()[1].split() == ["tool", "1.0", "unverified", "bc-client",
                                                    "revision", "unverified", "verification",
                                                    "0h", "of", "2d"]  # fmt: skip
    data = json.loads(grid.invoke("release", "list", "--json").output)
    assert [(r["component"], r["version"]) for r in data] == [("tool", "1.0")]


def test_config_with_unknown_key_is_exit_2_naming_it(grid):
    grid.config.write_text(grid.config.read_text() + "\ncolour = 'red'\n")
    result = grid.invoke("release", "list")
    assert result.exit_code == 2
    assert "unknown key 'colour'" in result.output


@pytest.mark.parametrize(
    ("first", "second"),
    [(("tool", "1.0"), ("Tool", "1.0")), (("x-1", "2.0"), ("x", "1-2.0"))],
    ids=["case", "dash"],
)
def test_release_create_refuses_a_release_whose_tags_would_collide(grid, first, second):
    src = grid.source("tool-1.0")
    for (component, version), code in ((first, 0), (second, 2)):
        result = grid.invoke(
            "release", "create", component, version, "--from", str(src),
            "--class", "bc-client", "--type", "revision",
        )  # fmt: skip
        assert result.exit_code == code, result.output
    assert result.output == (
        f"Error: release {second[0]} {second[1]} would publish the same tags as "
        f"{first[0]} {first[1]} (tags compare case-insensitively): choose another version\n"
    )
    assert not (grid.root / "repo" / "unverified" / second[0]).exists()
    assert [r.component for r in Repository(grid.root / "repo").load().releases] == [first[0]]


def test_the_repository_index_grows_its_serial_at_every_write(grid):
    assert _create(grid).exit_code == 0
    assert _create(grid, version="2.0").exit_code == 0
    # repo init wrote the first index, each release one more
    assert json.loads((grid.root / "repo" / "index.json").read_text())["serial"] == 3


def test_a_missing_repository_is_created_only_by_repo_init(grid, tmp_path):
    import shutil

    shutil.rmtree(grid.root / "repo")

    refused = _create(grid)
    made = grid.invoke("repo", "init")
    again = grid.invoke("repo", "init")

    assert refused.exit_code == 2
    assert refused.output == (
        f"Error: {grid.root / 'repo'} is not a pps repository (no index.json): create it with "
        "'pps repo init'\n"
    )
    assert made.exit_code == 0, made.output
    assert made.output == f"made the repository {grid.root / 'repo'}\n"
    assert again.exit_code == 2
    assert "is a repository already: nothing to do" in again.output
    assert _create(grid).exit_code == 0
