"""Fuzzing the two parsers that read what a compromised repository could send: the index and the
tarball.  Whatever the bytes, the index reader raises only its one-line BadInput, the extractor
only its UnsafeArchive, nothing is ever written outside the target directory, and the probe
prints exactly one status line with an exit code 0-3."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pps.errors import BadInput
from pps.repository import Index
from probes._extract import CompressedInput, UnsafeArchive, extract_stream
from tests.probe_helpers import add_release, make_site, run_probe

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
release_like = st.fixed_dictionaries(
    {},
    optional={
        "component": st.sampled_from(["glite-UI", "Glite-ui", "x", "hooks", "", "a/b", 5]),
        "version": st.sampled_from(["1.0", "1.0\x00", "..", "2", None, "3.2.8-0"]),
        "stage": st.sampled_from(["unverified", "production", "nowhere", 1]),
        "tarball": st.sampled_from(["a/b.tar.gz", "/etc/passwd", "../x", "", 7]),
        "sha256": st.sampled_from(["a" * 64, "A" * 64, "0", None]),
        "size": st.sampled_from([0, -1, 10**20, True, "5"]),
        "unpacked_size": st.sampled_from([0, -5, 3, 2.5]),
        "update_class": st.sampled_from(["bc-client", "nbc-client", "other"]),
        "release_type": st.sampled_from(["minor", "major", "huge"]),
        "extra": json_values,
    },
)


@FUZZ
@given(st.binary(max_size=2000))
def test_the_index_reader_refuses_any_bytes_with_one_line(raw: bytes) -> None:
    try:
        Index.from_json(raw, "index.json")
    except BadInput as e:
        assert "\n" not in str(e)


@FUZZ
@given(
    st.fixed_dictionaries(
        {"releases": st.lists(release_like, max_size=4)},
        optional={
            "format": st.sampled_from(["pps-index/1", "pps-index/2"]),
            "serial": st.sampled_from([0, 3, -1, "7", True]),
            "subset": json_values,
        },
    )  # fmt: skip
)
def test_the_index_reader_refuses_any_structure_with_one_line(data: dict) -> None:
    try:
        index = Index.from_json(json.dumps(data), "index.json")
    except BadInput as e:
        assert "\n" not in str(e)
        return
    keys = [r.tag_key for r in index.releases]
    assert len(keys) == len(set(keys))  # never two releases with the same tags


def _extract_into_fresh_dir(payload: bytes) -> Path | None:
    """Unpack *payload* (gzip'd) into a fresh directory inside a sandbox; None if refused.
    Asserts nothing appeared outside the target directory."""
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Path(tmp)
        dest = sandbox / "dest"
        dest.mkdir()
        inp = CompressedInput(iter([payload]), max_in=len(payload), max_out=64 << 20, name="t")
        try:
            extract_stream(inp, dest, max_members=1000, max_bytes=16 << 20)
            refused = False
        except UnsafeArchive as e:
            assert "\n" not in str(e)
            refused = True
        assert sorted(os.listdir(sandbox)) == ["dest"]
        for root, dirs, files in os.walk(dest):
            for name in dirs + files:
                path = Path(root, name)
                if path.is_symlink():
                    target = os.path.realpath(path)
                    assert target == str(dest) or target.startswith(str(dest) + "/")
                else:
                    mode = path.lstat().st_mode & 0o7777
                    assert mode in (0o755, 0o644, 0o600), oct(mode)  # 0600: refused mid-write
        return None if refused else dest


@FUZZ
@given(st.binary(max_size=4096))
def test_the_extractor_refuses_random_gzip_payloads_with_one_line(raw: bytes) -> None:
    _extract_into_fresh_dir(gzip.compress(raw, mtime=0))


@FUZZ
@given(st.binary(max_size=4096))
def test_the_extractor_refuses_random_bytes_with_one_line(raw: bytes) -> None:
    _extract_into_fresh_dir(raw)


names = st.one_of(
    st.text(min_size=1, max_size=30),
    st.sampled_from([".", "./", "..", "../x", "/abs", "a/../../b", "a\x00b", "a//b", "lib/", "é"]),
    st.builds(lambda n: "d/" * n + "f", st.integers(0, 40)),
)
kinds = st.sampled_from(
    [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE,
     tarfile.CHRTYPE, b"S", b"V", b"Z"]
)  # fmt: skip


@st.composite
def tarballs(draw: st.DrawFn) -> bytes:
    raw = io.BytesIO()
    fmt = draw(st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT]))
    with tarfile.open(fileobj=raw, mode="w", format=fmt) as tf:
        for _ in range(draw(st.integers(0, 8))):
            info = tarfile.TarInfo(draw(names))
            info.type = draw(kinds)
            info.mode = draw(st.sampled_from([0o644, 0o755, 0o4755, 0o777, 0o1777, 0]))
            data = b""
            if info.type == tarfile.REGTYPE:
                data = draw(st.binary(max_size=64))
                info.size = len(data)
            elif info.type in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = draw(names)
            try:
                tf.addfile(info, io.BytesIO(data))
            except (ValueError, UnicodeError):
                pass  # a name tarfile itself cannot write: not this test's business
    out = raw.getvalue()
    if draw(st.booleans()):  # flip some bytes: corrupt headers, sizes, checksums
        buf = bytearray(out)
        for _ in range(draw(st.integers(1, 8))):
            if buf:
                buf[draw(st.integers(0, len(buf) - 1))] = draw(st.integers(0, 255))
        out = bytes(buf)
    return gzip.compress(out, mtime=0)


@FUZZ
@given(tarballs())
def test_the_extractor_never_writes_outside_its_directory(payload: bytes) -> None:
    _extract_into_fresh_dir(payload)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(index=st.binary(max_size=300), tarball=st.binary(max_size=600))
def test_the_probe_prints_one_status_line_whatever_the_repository_holds(
    tmp_path_factory, index: bytes, tarball: bytes
) -> None:
    tmp_path = tmp_path_factory.mktemp("fuzz")
    os.chmod(tmp_path, 0o755)
    release = add_release(tmp_path / "repo")
    data = json.loads((tmp_path / "repo" / "index.json").read_text())
    data["releases"][0].update(sha256=hashlib.sha256(tarball).hexdigest(), size=len(tarball))
    (tmp_path / "repo" / release.tarball).write_bytes(tarball)
    (tmp_path / "repo" / "index.json").write_text(json.dumps(data))
    site = make_site(tmp_path)

    for _ in range(2):  # a good index with a bad tarball, then a bad index
        proc = run_probe(site, tmp_path / "repo")
        assert proc.returncode in (0, 1, 2, 3)
        assert proc.stdout.count("\n") == 1 and proc.stdout.startswith("PREVIEW_CLIENT "), proc
        assert proc.stderr == ""
        (tmp_path / "repo" / "index.json").write_bytes(index)
