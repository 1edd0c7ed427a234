"""Inputs that used to end in a traceback or an "internal error": now one line each.

A site file, a ``pps.toml`` or a ``pps-tests.toml`` nested thousands of levels deep (tomllib
recurses; a dotted key of thousands of parts costs it gigabytes) or holding an integer of
thousands of digits (``int()`` refuses more than 4300), a megabyte of text that a backtracking
check would take hours over (the push reads that much of a site's file), a NUL in a pull-mode
tarball path or repository location, and a ``mailto:`` feedback URL that ``release create`` took
and the bulletin showed as "none yet".
"""

from __future__ import annotations

import json
import os
import re
import resource
import string
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pps.errors import BadInput
from pps.repository import Release
from pps.text import is_link_url
from pps.tomlfile import MAX_DEPTH, TomlError, loads
from tests.grid import Grid
from tests.probe_helpers import add_release, installed_probe, make_site, probe_args, run_probe

DEEP_ARRAY = "a = " + "[" * 5000 + "]" * 5000 + "\n"
DEEP_INLINE = "a = " + "{b = " * 3000 + "1" + "}" * 3000 + "\n"
DEEP_DOTTED = "a" + ".b" * 20000 + " = 1\n"
TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep"
HUGE_INT = "retire_grace = " + "1" * 5000 + "\n"
TOO_BIG = "not valid TOML: an integer beyond the 64 bits TOML allows"


def _one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


# ------------------------------------------------------------------ deeply nested TOML
@pytest.mark.parametrize("text", [DEEP_ARRAY, DEEP_INLINE], ids=["array", "inline-table"])
def test_a_deeply_nested_site_file_is_one_unknown_line(tmp_path: Path, text: str) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.site_file.write_text(text)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 3
    line = _one_line(proc.stdout)
    assert line == f"PREVIEW_CLIENT UNKNOWN - site file {site.site_file}: {TOO_DEEP} " + (
        "(no pps file nests so deep)"
    )
    assert "Traceback" not in proc.stderr
    assert not site.preview_root.exists()


def _limited_memory() -> None:
    one_gb = 1 << 30
    resource.setrlimit(resource.RLIMIT_AS, (one_gb, one_gb))


def test_a_site_file_with_a_dotted_key_of_thousands_of_parts_is_refused_in_bounded_memory(
    tmp_path: Path,
) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.site_file.write_text(DEEP_DOTTED)  # 40 KB; tomllib alone needs some 1.6 GB for it

    proc = subprocess.run(
        [*installed_probe(), *probe_args(site, tmp_path / "repo")], capture_output=True,
        text=True, timeout=60, check=False, preexec_fn=_limited_memory,
    )  # fmt: skip

    assert proc.returncode == 3
    assert _one_line(proc.stdout).startswith(
        f"PREVIEW_CLIENT UNKNOWN - site file {site.site_file}: {TOO_DEEP}"
    )


def test_a_deeply_nested_pps_toml_is_one_line_exit_2(grid: Grid) -> None:
    grid.config.write_text(grid.config.read_text() + "\n" + DEEP_ARRAY)

    result = grid.invoke("sites")

    assert result.exit_code == 2
    assert result.output == f"Error: {grid.config}: {TOO_DEEP} (no pps file nests so deep)\n"


def test_a_deeply_nested_site_file_at_a_push_site_is_that_sites_one_line(grid: Grid) -> None:
    src = grid.source("tool-1.0")
    grid.ok("release", "create", "tool", "1.0", "--from", str(src), "--class", "bc-client",
            "--type", "revision")  # fmt: skip
    site_file = grid.site_root("ALPHA") / "etc/pps/site.toml"
    site_file.parent.mkdir(parents=True)
    site_file.write_text(DEEP_ARRAY)

    result = grid.invoke("push", "tool", "1.0")

    assert result.exit_code == 1
    assert "internal error" not in result.output
    assert "RecursionError" not in result.output
    alpha = [ln for ln in result.output.splitlines() if ln.startswith("ALPHA ")]
    assert len(alpha) == 1 and alpha[0].split()[1] == "UNKNOWN", result.output
    assert TOO_DEEP in alpha[0]
    assert "BRAVO" in result.output and "3/4 site(s) OK" in result.output


def test_a_deeply_nested_tests_file_is_refused_at_release_create(grid: Grid) -> None:
    src = grid.source("tool-1.0", tests=DEEP_INLINE)

    result = grid.invoke("release", "create", "tool", "1.0", "--from", str(src), "--class",
                         "bc-client", "--type", "revision")  # fmt: skip

    assert result.exit_code == 2
    assert result.output == (
        f"Error: {src / 'pps-tests.toml'}: {TOO_DEEP} (no pps file nests so deep)\n"
    )
    assert not (grid.root / "repo/unverified/tool").exists()


# ------------------------------------------------------------ integers beyond 64 bits
def test_a_site_file_with_a_5000_digit_number_is_one_unknown_line(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.site_file.write_text(HUGE_INT)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 3
    assert (
        _one_line(proc.stdout) == f"PREVIEW_CLIENT UNKNOWN - site file {site.site_file}: {TOO_BIG}"
    )
    assert "Traceback" not in proc.stderr
    assert not site.preview_root.exists()


def test_a_pps_toml_with_a_5000_digit_number_is_one_line_exit_2(grid: Grid) -> None:
    grid.config.write_text(grid.config.read_text() + "\n[push]\ntimeout = " + "9" * 5000 + "\n")

    result = grid.invoke("sites")

    assert result.exit_code == 2
    assert result.output == f"Error: {grid.config}: {TOO_BIG}\n"


def test_a_5000_digit_number_in_a_site_file_read_by_the_push_is_that_sites_one_line(
    grid: Grid,
) -> None:
    src = grid.source("tool-1.0")
    grid.ok("release", "create", "tool", "1.0", "--from", str(src), "--class", "bc-client",
            "--type", "revision")  # fmt: skip
    site_file = grid.site_root("ALPHA") / "etc/pps/site.toml"
    site_file.parent.mkdir(parents=True)
    site_file.write_text(HUGE_INT)

    result = grid.invoke("push", "tool", "1.0")

    assert result.exit_code == 1
    assert "internal error" not in result.output and "Traceback" not in result.output
    alpha = [ln for ln in result.output.splitlines() if ln.startswith("ALPHA ")]
    assert len(alpha) == 1 and alpha[0].split()[1] == "UNKNOWN", result.output
    assert TOO_BIG in alpha[0]
    assert "3/4 site(s) OK" in result.output


@pytest.mark.parametrize(
    "text",
    ["a = 0x" + "f" * 17, "a = -9223372036854775809", "a = [0o" + "7" * 22 + "]",
     "[t]\nb = {c = 0b1" + "0" * 64 + "}"],
    ids=["hex", "below", "octal-in-array", "binary-in-table"],
)  # fmt: skip
def test_an_integer_beyond_64_bits_is_one_toml_error(text: str) -> None:
    with pytest.raises(TomlError) as e:
        loads(text)
    assert str(e.value) == TOO_BIG
    assert loads("a = 0x7fffffffffffffff\nb = -9223372036854775808") == {
        "a": (1 << 63) - 1, "b": -(1 << 63)
    }  # fmt: skip


# ------------------------------------------------------- a megabyte of hostile shapes
#: What a push reads of a site's file at most, and what any pps file could hold: shapes that a
#: backtracking check could take time quadratic in their length over (hours for a megabyte).
MEGABYTE = 1 << 20
LONG_SHAPES = {
    "bare-run": "a" * MEGABYTE,
    "unclosed-multiline": '"""' + "a" * MEGABYTE,
    "unclosed-literal": "'''" + "a" * MEGABYTE,
    "key-run": "a" * MEGABYTE + " = 1",
    "chains": ("a." * (MAX_DEPTH - 1) + "a ") * (MEGABYTE // (2 * MAX_DEPTH)),
    "spaced-dots": "a" + " ." * (MEGABYTE // 2),
    "quotes": '"' * MEGABYTE,
    "escapes": 'a = "' + '\\"' * (MEGABYTE // 2),
    "multiline-escapes": 'a = """' + '\\"' * (MEGABYTE // 2),
    "single-quotes": "'" * MEGABYTE,
    "string-keys": "a = 1\n" + '"k".' * (MEGABYTE // 4),
    "comments": "#" * MEGABYTE,
    "brackets": "a = " + "[]," * (MEGABYTE // 3),
    "float-digits": "a = 1." + "5" * MEGABYTE,
}
_JUDGE = (
    "import sys\n"
    "from pps.tomlfile import TomlError, loads\n"
    "try:\n    loads(sys.stdin.read())\n"
    "except TomlError as e:\n    print('TomlError', len(str(e).splitlines()))\n"
    "else:\n    print('read')\n"
)


@pytest.mark.parametrize("shape", sorted(LONG_SHAPES))
def test_a_megabyte_of_any_shape_is_judged_within_seconds(shape: str) -> None:
    proc = subprocess.run([sys.executable, "-c", _JUDGE], input=LONG_SHAPES[shape],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip

    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout in ("read\n", "TomlError 1\n")


def test_a_site_file_a_push_reads_cannot_hold_up_the_push(grid: Grid) -> None:
    src = grid.source("tool-1.0")
    grid.ok("release", "create", "tool", "1.0", "--from", str(src), "--class", "bc-client",
            "--type", "revision")  # fmt: skip
    site_file = grid.site_root("ALPHA") / "etc/pps/site.toml"
    site_file.parent.mkdir(parents=True)
    site_file.write_text("a" * (MEGABYTE - 1))  # as much as the push reads
    pps = Path(sys.executable).with_name("pps")

    proc = subprocess.run([str(pps), "--config", str(grid.config), "push", "tool", "1.0"],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip

    assert proc.returncode == 1, proc.stdout + proc.stderr
    alpha = [ln for ln in proc.stdout.splitlines() if ln.startswith("ALPHA ")]
    assert len(alpha) == 1 and alpha[0].split()[1] == "UNKNOWN", proc.stdout
    assert "3/4 site(s) OK" in proc.stdout


def test_nesting_a_pps_file_needs_is_read_as_before() -> None:
    text = (
        '[[sites]]\nname = "A"\n[sites.glue]\nx = [[1, 2], [3]]\n'
        'y = {a.b.c = "[[{{", d = """ ]]}} """}  # ]]]]\n'
        "z = '''\n[[[[\n'''\nf = [1.5, 2.5, 3.5, 4.5]\n"
    )
    data = loads(text)
    assert data["sites"][0]["glue"]["y"] == {"a": {"b": {"c": "[[{{"}}, "d": " ]]}} "}
    assert data["sites"][0]["glue"]["z"] == "[[[[\n"
    # just inside the bound, and just beyond it
    assert loads("a = " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1))
    with pytest.raises(TomlError, match=TOO_DEEP):
        loads("a = " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    with pytest.raises(TomlError, match=TOO_DEEP):
        loads("a" + ".b" * MAX_DEPTH + " = 1")


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


TOML_PIECES = st.sampled_from(
    ["[", "]", "{", "}", "=", ".", ",", '"', "'", '"""', "'''", "#", "\n", " ", "a", "1", "\\",
     "x = ", "[t]\n", "[[u]]\n", "\x00", "1.5", "9" * 4400, "0x" + "f" * 17, "-", "_"]
)  # fmt: skip


#: Integers around and beyond the 64 bits TOML allows, written as TOML writes them, and
#: decimal ones around the 4300 digits ``int()`` converts.
TOML_INTEGERS = st.builds(
    lambda n, form: "a = " + form.format(n) if n >= 0 or form == "{}" else f"a = {n}",
    st.integers(-(1 << 80), 1 << 80),
    st.sampled_from(["{}", "0x{:x}", "0o{:o}", "0b{:b}"]),
) | st.integers(4290, 4310).map(lambda k: "a = " + "9" * k)


@given(st.lists(TOML_PIECES, max_size=80).map("".join) | st.text(max_size=200) | TOML_INTEGERS)
@settings(max_examples=400, deadline=None)
def test_any_text_is_a_bounded_table_or_one_toml_error(text: str) -> None:
    try:
        data = loads(text)
    except TomlError as e:
        assert "\n" not in str(e)
        return
    assert isinstance(data, dict)
    assert _depth(data) <= MAX_DEPTH
    assert all(-(1 << 63) <= n < 1 << 63 for n in _integers(data))


def _integers(value: object) -> list[int]:
    if isinstance(value, dict):
        return [n for v in value.values() for n in _integers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _integers(v)]
    return [value] if isinstance(value, int) else []


# ------------------------------------------------------------- NUL in pull-mode paths
def _index_with_tarball(repo: Path, tarball: str) -> None:
    path = repo / "index.json"
    index = json.loads(path.read_text())
    index["releases"][0]["tarball"] = tarball
    path.write_text(json.dumps(index))


@pytest.mark.parametrize(
    "tarball",
    ["unverified/fake-client/1.0.0/fake-client-1.0.0\x00.tar.gz",
     "unverified/fake-client/1.0.0/../../../../etc/passwd", "unverified//x.tar.gz",
     "unverified/fake-client/1.0.0/x.tar.gz?y", "unverified/fake\nclient/x.tar.gz",
     "./unverified/x.tar.gz", "unverified\\x.tar.gz", ""],
    ids=["nul", "dotdot", "empty-segment", "query", "newline", "dot", "backslash", "empty"],
)  # fmt: skip
def test_a_tarball_path_outside_the_grammar_is_one_unknown_line(
    tmp_path: Path, tarball: str
) -> None:
    add_release(tmp_path / "repo")
    _index_with_tarball(tmp_path / "repo", tarball)
    site = make_site(tmp_path)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 3
    assert _one_line(proc.stdout) == (
        f"PREVIEW_CLIENT UNKNOWN - tarball path {tarball!r} is not a relative path inside "
        "the repository (segments of letters, digits, '.', '_', '+', '-', '~', not starting with "
        "'.', joined by '/')"
    )
    assert not site.install_dir().exists()
    assert site.tags_text("dteam") is None


@pytest.mark.parametrize("suffix", ["\x00x", "\nx", "\x1b[2J"], ids=["nul", "newline", "esc"])
def test_a_repository_location_with_a_control_character_is_one_unknown_line(
    tmp_path: Path, suffix: str
) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(repository=str(tmp_path / "repo") + suffix)
    # as Nagios runs it in pull mode: the site file names the repository
    argv = ["--site-config", str(site.site_file), "--component", "fake-client", "--version",
            "1.0.0", "--timeout", "60"]  # fmt: skip

    proc = subprocess.run([*installed_probe(), *argv], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip

    assert proc.returncode == 3
    line = _one_line(proc.stdout)
    assert line.startswith("PREVIEW_CLIENT UNKNOWN - ")
    assert "holds a control character" in line, line
    assert "ValueError" not in line


PATH_CHARS = st.text(alphabet=string.printable + "\x00\x1b\u202e\u00e9", max_size=40)


@given(PATH_CHARS)
@settings(max_examples=500, deadline=None)
def test_every_tarball_path_accepted_stays_inside_the_repository(path: str) -> None:
    try:
        Release(component="c", version="1", stage="unverified", tarball=path, sha256="0" * 64,
                size=1, update_class="bc-client", release_type="minor")  # fmt: skip
    except BadInput as e:
        assert "\n" not in str(e)
        return
    assert re.fullmatch(r"[A-Za-z0-9_+~-][A-Za-z0-9._+~-]*(/[A-Za-z0-9_+~-][A-Za-z0-9._+~-]*)*",
                        path)  # fmt: skip
    assert os.path.normpath(path) == path and not path.startswith("/")


# ------------------------------------------------------------------ mailto feedback URL
def _create(grid: Grid, *extra: str):
    src = grid.source("tool-1.0")
    return grid.invoke("release", "create", "tool", "1.0", "--from", str(src), "--class",
                       "bc-client", "--type", "revision", *extra)  # fmt: skip


def test_a_mailto_feedback_url_is_a_mailto_link_on_the_bulletin(grid: Grid) -> None:
    created = _create(grid, "--feedback-url", "mailto:pps-feedback@example.org")
    assert created.exit_code == 0, created.output

    built = grid.invoke("bulletin", "build", "--out", str(grid.root / "out"), "--infosys", "")

    assert built.exit_code == 0, built.output
    html = (grid.root / "out/v/tool-1.0.html").read_text()  # the version's own page
    assert ('Tell us how it works for you: <a href="mailto:pps-feedback@example.org">'
            "pps-feedback@example.org</a>") in html  # fmt: skip
    version = grid.map_json(grid.root / "out")["components"]["tool"]["1.0"]
    assert version["feedback_url"] == "mailto:pps-feedback@example.org"


@pytest.mark.parametrize(
    "url",
    ["mailto:not-an-address", "mailto:a@b.org?subject=x", "mailto:a@b.org,c@d.org",
     "https://", "https://exa mple.org/", "http:/x", "ftp://example.org/", "mailto:"],
)  # fmt: skip
def test_a_url_the_bulletin_would_not_link_is_refused_at_release_create(
    grid: Grid, url: str
) -> None:
    result = _create(grid, "--feedback-url", url)

    assert result.exit_code == 2
    assert result.output == (
        f"Error: feedback URL {url!r} must be an http(s) URL with a host or mailto:local@domain\n"
    )
    assert not (grid.root / "repo/unverified/tool").exists()


@given(st.text(max_size=60) | st.from_regex(r"(mailto:|https?://)[ -~]{0,30}", fullmatch=True))
@settings(max_examples=500, deadline=None)
def test_every_link_url_is_http_with_a_host_or_one_plain_mailto(url: str) -> None:
    if not is_link_url(url):
        return
    assert url.isprintable() and not any(c.isspace() for c in url)
    scheme, _, rest = url.partition(":")
    if scheme.lower() == "mailto":
        assert re.fullmatch(r"[A-Za-z0-9_+-]+(\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9.-]+", rest)
    else:
        assert scheme.lower() in ("http", "https") and rest.startswith("//") and rest[2:3] != "/"


@given(st.one_of(st.text(max_size=30), st.builds(lambda t: "https://" + t, st.text(max_size=30))))
@settings(max_examples=500, deadline=None)
def test_every_repository_location_opened_is_printable(location: str) -> None:
    from probes._fetch import is_url, open_source

    try:
        open_source(location, signed=True)
    except BadInput as e:
        assert "\n" not in str(e)
        return
    assert location.isprintable()
    if is_url(location):
        assert all("!" <= c <= "~" for c in location)
