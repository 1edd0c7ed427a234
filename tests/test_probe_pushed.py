"""The probe's ``--push-stream``: the tarball on stdin, asked for on stderr, resumed when cut.

The push's side of the exchange is played here by hand (not with the distributor's code), so
these tests hold the protocol that probes/_pushed.py documents, byte for byte: what the probe
asks, what it accepts, what it keeps, and that a tag never follows a stream that was cut, too
long, hostile or answered wrongly.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from tests.probe_helpers import (
    COMPONENT,
    VERSION,
    Site,
    add_release,
    installed_probe,
    make_site,
    probe_args,
    status_line,
)

TAG = f"VO-dteam-PPS-{COMPONENT}-{VERSION}"


@pytest.fixture
def pushed(tmp_path: Path) -> tuple[Site, Path, Path]:
    """A site, and a push's incoming area there holding a one-release repository; returns
    (site, incoming directory, the operator's tarball)."""
    site = make_site(tmp_path)
    repo = tmp_path / "repo"
    release = add_release(repo)
    incoming = site.preview_root / ".pps" / "incoming" / f"{COMPONENT}-{VERSION}"
    incoming.mkdir(parents=True)
    (incoming / "index.json").write_bytes((repo / "index.json").read_bytes())
    return site, incoming, repo / release.tarball


def _start(site: Site, incoming: Path, *extra: str) -> subprocess.Popen[bytes]:
    args = probe_args(site, incoming) + ["--push-stream", *extra]
    return subprocess.Popen(
        [*installed_probe(), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _request(proc: subprocess.Popen[bytes]) -> list[str]:
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()
    assert line.startswith("PPS-SEND "), line
    return line.split()


def _finish(proc: subprocess.Popen[bytes], data: bytes = b"") -> tuple[int, str]:
    out, _ = proc.communicate(data, timeout=60)
    return proc.returncode, out.decode()


def test_the_probe_asks_for_the_tarball_and_installs_it_as_it_arrives(pushed) -> None:
    site, incoming, tarball = pushed
    proc = _start(site, incoming)

    request = _request(proc)
    code, out = _finish(proc, b"0\n" + tarball.read_bytes())

    assert request == ["PPS-SEND", "0", hashlib.sha256(b"").hexdigest()]
    assert code == 0, out
    assert TAG in (site.tags_text("dteam") or "")
    kept = incoming / tarball.relative_to(tarball.parents[3])
    assert kept.read_bytes() == tarball.read_bytes()  # the copy a push-only Nagios re-reads


def test_an_installed_version_is_not_asked_for_again(pushed) -> None:
    site, incoming, tarball = pushed
    first = _start(site, incoming)
    _request(first)
    assert _finish(first, b"0\n" + tarball.read_bytes())[0] == 0

    again = _start(site, incoming)
    code, out = _finish(again)  # stdin closed at once: nothing to give

    assert code == 0, out
    assert again.stderr is not None


def test_a_cut_stream_is_unknown_keeps_the_part_and_the_next_run_resumes(pushed) -> None:
    site, incoming, tarball = pushed
    data = tarball.read_bytes()
    half = len(data) // 2
    proc = _start(site, incoming)
    _request(proc)
    code, out = _finish(proc, b"0\n" + data[:half])

    assert code == 3, out
    assert "was cut after" in out and "the next push resumes it" in out
    assert site.tags_text("dteam") is None
    assert not site.install_dir().exists()
    (part,) = incoming.rglob("*.part")
    assert part.read_bytes() == data[:half]

    resumed = _start(site, incoming)
    request = _request(resumed)
    assert request == ["PPS-SEND", str(half), hashlib.sha256(data[:half]).hexdigest()]
    code, out = _finish(resumed, f"{half}\n".encode() + data[half:])

    assert code == 0, out
    assert TAG in (site.tags_text("dteam") or "")
    assert not part.exists()


def test_a_push_that_does_not_confirm_the_kept_part_gets_everything_sent_again(pushed) -> None:
    site, incoming, tarball = pushed
    data = tarball.read_bytes()
    part = incoming / f"{tarball.relative_to(tarball.parents[3])}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * 100)
    proc = _start(site, incoming)
    assert _request(proc)[1] == "100"

    code, out = _finish(proc, b"0\n" + data)

    assert code == 0, out
    assert TAG in (site.tags_text("dteam") or "")


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (b"", "its stream ended before it began"),
        (b"12\n", "the push answered b'12'"),
        (b"-1\n", "the push answered b'-1'"),
        (b"9" * 100, "the push answered"),
    ],
    ids=["nothing", "an offset the site did not keep", "negative", "endless digits"],
)
def test_a_wrong_answer_is_unknown_and_changes_nothing(pushed, answer: bytes, said: str) -> None:
    site, incoming, _ = pushed
    proc = _start(site, incoming)
    _request(proc)

    code, out = _finish(proc, answer)

    assert code == 3, out
    assert said in out
    assert site.tags_text("dteam") is None
    assert not site.install_dir().exists()


def test_a_stream_longer_than_the_index_says_is_refused_and_not_kept(pushed) -> None:
    site, incoming, tarball = pushed
    proc = _start(site, incoming)
    _request(proc)

    code, out = _finish(proc, b"0\n" + tarball.read_bytes() + b"x" * 4096)

    assert code == 2, out
    assert "size mismatch" in out
    assert site.tags_text("dteam") is None
    assert not list(incoming.rglob("*.tar.gz*"))


def test_a_stream_with_other_bytes_is_refused_by_its_checksum(pushed) -> None:
    site, incoming, tarball = pushed
    data = bytearray(tarball.read_bytes())
    data[len(data) // 2] ^= 0xFF
    proc = _start(site, incoming)
    _request(proc)

    code, out = _finish(proc, b"0\n" + bytes(data))

    assert code == 2, out
    assert "checksum mismatch" in out or "unsafe tarball" in out
    assert site.tags_text("dteam") is None
    assert not site.install_dir().exists()


def test_a_link_where_the_copy_goes_is_refused_not_followed(pushed, tmp_path: Path) -> None:
    site, incoming, tarball = pushed
    victim = tmp_path / "victim"
    victim.write_bytes(b"the admin's file\n")
    part = incoming / f"{tarball.relative_to(tarball.parents[3])}.part"
    part.parent.mkdir(parents=True)
    part.symlink_to(victim)
    proc = _start(site, incoming)

    code, out = _finish(proc)

    assert code == 2, out
    assert "is not a plain file: not touching it" in out
    assert victim.read_bytes() == b"the admin's file\n"
    assert part.is_symlink()


@pytest.mark.parametrize(
    "where",
    ["elsewhere", ".pps/incoming", ".pps/incoming/a/b", "https://example.org/repo"],
)
def test_push_stream_is_only_for_a_push_incoming_area(pushed, tmp_path: Path, where) -> None:
    site, _, _ = pushed
    repository = where if "://" in where else str(site.preview_root / where)
    if where == "elsewhere":
        repository = str(tmp_path / "elsewhere")
    proc = subprocess.run(
        [*installed_probe(), *probe_args(site, repository), "--push-stream"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )

    assert proc.returncode == 3, proc.stdout
    assert "--push-stream needs --repository" in status_line(proc)
    assert not any(os.scandir(site.info_dir)) if site.info_dir.exists() else True
