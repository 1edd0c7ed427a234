"""A signed repository: the operator signs index.json, a site that pins the key checks it.

A site whose file names the repository's ``public_key`` refuses an unsigned, badly signed or
rolled-back index (CRITICAL, one line, tags and trees untouched); the sha256 chain index ->
tarball -> manifest covers the rest.  With a pinned key plain http is accepted: the signature,
not the channel, vouches for the index.  On the operator's side, ``pps repo keygen`` makes the
key, ``pps release create`` signs every index it writes and ``pps repo sign`` signs an existing
one.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from distributor.repository.signing import generate_key, load_key, sign_index
from pps.repository import SIGNATURE_NAME, Repository
from tests.grid import Grid
from tests.http_helpers import serve
from tests.probe_helpers import (
    Site,
    add_release,
    environ_without,
    make_site,
    run_probe,
    status_line,
)

OK_LINE = re.compile(
    r"PREVIEW_CLIENT OK - fake-client 1\.0\.0 verified at ce01\.example\.org: 2/2 tests passed, "
    r"tagged for dteam,ops \| live=1;;;0 size=\d+B;;;0 tests_failed=0;;;0 tests_passed=2;;;0 "
    r"time=[\d.]+s;;;0"
)
#: What a refused index adds to its one line.
REFUSED_TAIL = r"; nothing changed \| live=0;;;0 time=[\d.]+s;;;0"


def _signed_repository(tmp_path: Path, name: str = "repo.pem") -> tuple[Path, str]:
    """A repository with one release, its index signed; the public key line sites pin."""
    key_file = tmp_path / "keys" / name
    public_key = generate_key(key_file)
    repo = tmp_path / "repo"
    add_release(repo)
    sign_index(Repository(repo), load_key(key_file))
    return repo, public_key


def _pinned_site(tmp_path: Path, public_key: str) -> Site:
    site = make_site(tmp_path)
    site.write_site_file(public_key=public_key)
    return site


def _snapshot(site: Site) -> dict[str, tuple[int, int, bytes | None]]:
    """Every file and directory the tags, the install and its record consist of: inode, mode
    and content (a file rewritten with the same bytes counts as changed)."""
    seen: dict[str, tuple[int, int, bytes | None]] = {}
    for top in (site.info_dir, site.install_dir(), site.preview_root / ".pps" / "state"):
        for path in sorted([top, *top.rglob("*")]):
            st = path.lstat()
            data = path.read_bytes() if stat.S_ISREG(st.st_mode) else None
            seen[str(path)] = (st.st_ino, st.st_mode, data)
    return seen


def _trusted_serial(site: Site) -> int:
    return int(json.loads((site.preview_root / ".pps" / "trust.json").read_text())["serial"])


def test_a_signed_index_over_https_installs_and_tags(tmp_path: Path) -> None:
    repo, public_key = _signed_repository(tmp_path)
    site = _pinned_site(tmp_path, public_key)

    with serve(repo) as server:
        proc = run_probe(site, server.url, env=server.env())

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert OK_LINE.fullmatch(status_line(proc))
    assert site.tags_text("dteam") == "VO-dteam-PPS-fake-client-1.0.0\nPPS-PREVIEW\n"
    assert [r.path for r in server.requests] == [
        "index.json",
        SIGNATURE_NAME,
        "unverified/fake-client/1.0.0/fake-client-1.0.0.tar.gz",
    ]
    assert _trusted_serial(site) == 1


def test_a_signed_index_over_plain_http_is_accepted(tmp_path: Path) -> None:
    repo, public_key = _signed_repository(tmp_path)
    site = _pinned_site(tmp_path, public_key)

    with serve(repo, tls=False) as server:
        proc = run_probe(site, server.url)

    assert server.url.startswith("http://")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert OK_LINE.fullmatch(status_line(proc))
    assert site.tags_text("ops") == "VO-ops-PPS-fake-client-1.0.0\nPPS-PREVIEW\n"


def test_an_unsigned_index_is_critical_and_changes_nothing(tmp_path: Path) -> None:
    repo, public_key = _signed_repository(tmp_path)
    site = _pinned_site(tmp_path, public_key)
    with serve(repo) as server:
        assert run_probe(site, server.url, env=server.env()).returncode == 0
        before = _snapshot(site)
        (repo / SIGNATURE_NAME).unlink()

        proc = run_probe(site, server.url, env=server.env())

    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout.count("\n") == 1
    assert re.fullmatch(
        rf"PREVIEW_CLIENT CRITICAL - {re.escape(server.url)}index\.json is not signed \(no "
        r"index\.json\.sig\) and this site pins the repository's public_key" + REFUSED_TAIL,
        status_line(proc),
    )
    assert _snapshot(site) == before
    assert site.tags_text("dteam") == "VO-dteam-PPS-fake-client-1.0.0\nPPS-PREVIEW\n"


def _sign_with_another_key(tmp_path: Path, repo: Path) -> None:
    other = tmp_path / "keys" / "other.pem"
    generate_key(other)
    sign_index(Repository(repo), load_key(other))


def _change_the_index_after_signing(tmp_path: Path, repo: Path) -> None:
    index = repo / "index.json"
    index.write_bytes(index.read_bytes().replace(b'"minor"', b'"major"'))


def _garble_the_signature(tmp_path: Path, repo: Path) -> None:
    (repo / SIGNATURE_NAME).write_bytes(b"not a signature\n")


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (
            _sign_with_another_key,
            "{url}index.json.sig does not match the index: the index was changed or signed "
            "with another key",
        ),
        (
            _change_the_index_after_signing,
            "{url}index.json.sig does not match the index: the index was changed or signed "
            "with another key",
        ),
        (_garble_the_signature, "{url}index.json.sig is not an Ed25519 signature"),
    ],
    ids=["signed-by-another-key", "index-changed-after-signing", "not-a-signature"],
)
def test_a_badly_signed_index_is_critical_and_changes_nothing(
    tmp_path: Path, breakage: Callable[[Path, Path], None], message: str
) -> None:
    repo, public_key = _signed_repository(tmp_path)
    site = _pinned_site(tmp_path, public_key)
    with serve(repo) as server:
        assert run_probe(site, server.url, env=server.env()).returncode == 0
        before = _snapshot(site)
        breakage(tmp_path, repo)

        proc = run_probe(site, server.url, env=server.env())

    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout.count("\n") == 1
    assert re.fullmatch(
        "PREVIEW_CLIENT CRITICAL - " + re.escape(message.format(url=server.url)) + REFUSED_TAIL,
        status_line(proc),
    )
    assert _snapshot(site) == before
    assert _trusted_serial(site) == 1


def test_an_older_validly_signed_index_is_refused_as_a_rollback(tmp_path: Path) -> None:
    repo, public_key = _signed_repository(tmp_path)
    key = load_key(tmp_path / "keys" / "repo.pem")
    old = tmp_path / "old-index"
    old.mkdir()
    for name in ("index.json", SIGNATURE_NAME):
        shutil.copy2(repo / name, old / name)
    add_release(repo, version="2.0.0")  # serial 2
    sign_index(Repository(repo), key)
    site = _pinned_site(tmp_path, public_key)
    with serve(repo) as server:
        assert run_probe(site, server.url, env=server.env()).returncode == 0
        assert _trusted_serial(site) == 2
        before = _snapshot(site)
        for name in ("index.json", SIGNATURE_NAME):  # a mirror replays the older index
            shutil.copy2(old / name, repo / name)

        proc = run_probe(site, server.url, env=server.env())

    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert re.fullmatch(
        rf"PREVIEW_CLIENT CRITICAL - {re.escape(server.url)}index\.json has serial 1, lower "
        r"than 2 accepted before: refusing an older index \(rollback\)" + REFUSED_TAIL,
        status_line(proc),
    )
    assert _snapshot(site) == before
    assert _trusted_serial(site) == 2


def test_an_index_verified_before_is_not_verified_again_nor_is_cryptography_loaded(
    tmp_path: Path,
) -> None:
    repo, public_key = _signed_repository(tmp_path)
    site = _pinned_site(tmp_path, public_key)
    env = environ_without(PYTHONPROFILEIMPORTTIME="1")  # what `python -X importtime` prints

    first = run_probe(site, repo, env=env)
    second = run_probe(site, repo, env=env)

    assert first.returncode == 0, first.stdout + first.stderr
    assert second.returncode == 0, second.stdout + second.stderr
    assert re.search(r"\| +cryptography$", first.stderr, re.M)  # the first run checked it
    assert "import time:" in second.stderr
    assert "cryptography" not in second.stderr


# ------------------------------------------------------------------ the operator's side


def _public_key_from(output: str) -> str:
    match = re.search(r'^public_key = "(ed25519:[A-Za-z0-9+/=]+)"$', output, re.M)
    assert match, output
    return match[1]


def _verifies(public_key: str, data: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    raw = base64.b64decode(public_key.removeprefix("ed25519:"))
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(base64.b64decode(signature), data)
    except InvalidSignature:
        return False
    return True


def _configure_key(grid: Grid, relpath: str = "keys/repo.pem") -> None:
    text = grid.config.read_text()
    assert text.startswith('[repository]\npath = "repo"\n')
    grid.config.write_text(
        text.replace('path = "repo"\n', f'path = "repo"\nsigning_key = "{relpath}"\n', 1)
    )


def _create(grid: Grid, version: str = "1.0") -> None:
    src = grid.source(f"tool-{version}", version_text=version)
    result = grid.invoke(
        "release", "create", "tool", version, "--from", str(src), "--class", "bc-client",
        "--type", "revision", "--test", f"version=tool | grep -q {version}",
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def test_pps_repo_keygen_writes_a_private_key_and_never_overwrites_one(grid: Grid) -> None:
    out = grid.root / "keys" / "repo.pem"

    result = grid.invoke("repo", "keygen", "--out", str(out))
    again = grid.invoke("repo", "keygen", "--out", str(out))

    assert result.exit_code == 0, result.output
    public_key = _public_key_from(result.output)
    assert result.output == (
        f"wrote {out}; sites pin it with this line in their site file:\n"
        f'public_key = "{public_key}"\n'
    )
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    pem = out.read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert again.exit_code == 2
    assert again.output == f"Error: {out} exists: not overwriting a signing key\n"
    assert out.read_bytes() == pem


def test_pps_release_create_signs_the_index_and_a_pinned_site_installs_it(
    grid: Grid, tmp_path: Path
) -> None:
    keygen = grid.invoke("repo", "keygen", "--out", str(grid.root / "keys" / "repo.pem"))
    public_key = _public_key_from(keygen.output)
    _configure_key(grid)
    _create(grid)
    repo = grid.root / "repo"
    site = _pinned_site(tmp_path, public_key)

    proc = run_probe(site, repo, component="tool", version="1.0")

    assert _verifies(
        public_key, (repo / "index.json").read_bytes(), (repo / SIGNATURE_NAME).read_bytes()
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert status_line(proc).startswith(
        "PREVIEW_CLIENT OK - tool 1.0 verified at ce01.example.org: 1/1 tests passed, tagged "
        "for dteam,ops |"
    )
    _create(grid, "1.1")  # every index written is signed again
    assert _verifies(
        public_key, (repo / "index.json").read_bytes(), (repo / SIGNATURE_NAME).read_bytes()
    )


def test_pps_repo_sign_signs_an_existing_index(grid: Grid) -> None:
    _create(grid)  # no key yet: an unsigned index
    repo = grid.root / "repo"
    assert not (repo / SIGNATURE_NAME).exists()
    keygen = grid.invoke("repo", "keygen", "--out", str(grid.root / "keys" / "repo.pem"))
    public_key = _public_key_from(keygen.output)
    _configure_key(grid)

    result = grid.invoke("repo", "sign")

    assert result.exit_code == 0, result.output
    assert result.output == (
        f"wrote {repo.resolve() / SIGNATURE_NAME} (serial 2); sites pin:\n"
        f'public_key = "{public_key}"\n'
    )
    assert _verifies(
        public_key, (repo / "index.json").read_bytes(), (repo / SIGNATURE_NAME).read_bytes()
    )


def test_pps_repo_sign_without_a_signing_key_is_exit_2_with_one_line(grid: Grid) -> None:
    _create(grid)

    result = grid.invoke("repo", "sign")

    assert result.exit_code == 2
    assert result.output == (
        f"Error: {grid.config}: [repository] has no signing_key to sign with\n"
    )
    assert not (grid.root / "repo" / SIGNATURE_NAME).exists()
