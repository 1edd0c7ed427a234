"""What the probe does without the standard library modules it avoids at start-up: the same.

``probes/_options.py`` parses without :mod:`getopt` (which imports :mod:`gettext`, a cost at
every probe run): whatever the command line, it finds the same options and arguments as
``getopt.gnu_getopt``, or fails with the same message.  ``probes/_tree.py`` quotes for the shell
without :mod:`shlex`: whatever the text, as ``shlex.quote`` does.
"""

from __future__ import annotations

import getopt
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probes import _options
from probes._settings import OPTIONS
from probes._tree import shell_quote
from tests.probe_helpers import add_release, make_manifest, make_site, probe_args
from tests.realparts import require

SHORTS = "t:v"
LONGS = ["site-config=", "no-site-config", "component=", "cleanup", "timeout=", "verbose",
         "vo=", "version="]  # fmt: skip
WORDS = ["--", "-", "-v", "-vv", "-t", "-t5", "-vt", "-x", "-:", "--component", "--comp",
         "--co", "--c", "--v", "--vo", "--ver", "--version=1", "--cleanup", "--cleanup=yes",
         "--timeout=", "--bogus", "--=x", "--no", "extra", "1.0", "=", ""]  # fmt: skip


def answer(parse: object, args: list[str]) -> tuple[list[tuple[str, str]], list[str]] | str:
    try:
        return parse(args, SHORTS, LONGS)  # type: ignore[operator,no-any-return]
    except (getopt.GetoptError, _options.GetoptError) as e:
        return f"error: {e}"


@settings(max_examples=500)
@given(args=st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=8)), max_size=8),
       posix=st.booleans())  # fmt: skip
def test_the_parser_answers_as_gnu_getopt(args: list[str], posix: bool) -> None:
    saved = os.environ.pop("POSIXLY_CORRECT", None)
    try:
        if posix:
            os.environ["POSIXLY_CORRECT"] = "1"
        assert answer(_options.gnu_getopt, list(args)) == answer(getopt.gnu_getopt, list(args))
    finally:
        os.environ.pop("POSIXLY_CORRECT", None)
        if saved is not None:
            os.environ["POSIXLY_CORRECT"] = saved


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bogus"], "usage: option --bogus not recognized (see --help)"),
        (["--component"], "usage: option --component requires argument (see --help)"),
        (["--cleanup=yes"], "usage: option --cleanup must not have an argument (see --help)"),
        (["--ver", "1"], "usage: option --ver not a unique prefix (see --help)"),
        (["-x"], "usage: option -x not recognized (see --help)"),
        (["-t"], "usage: option -t requires argument (see --help)"),
        (["extra"], "usage: unexpected argument 'extra' (see --help)"),
    ],
)
def test_bad_usage_is_one_line_naming_the_option(argv: list[str], message: str) -> None:
    with pytest.raises(_options.UsageError) as e:
        _options.parse(OPTIONS, argv)

    assert str(e.value) == message


def test_prefixes_values_and_counts_land_where_they_belong() -> None:
    values = _options.parse(
        OPTIONS, ["--comp", "glite-UI", "--version=3.2", "-vv", "-t30", "--vo", "a", "--vo=b"]
    )

    assert (values["component"], values["version"], values["verbose"]) == ("glite-UI", "3.2", 2)
    assert (values["timeout"], values["vos"]) == (30.0, ["a", "b"])


@settings(max_examples=1000)
@given(st.text())
def test_shell_quoting_is_shlex_quote(text: str) -> None:
    assert shell_quote(text) == shlex.quote(text)


# The entry point a site runs (probes/_entry.py) ends the process without the interpreter's
# teardown.  Whatever the run's end, a site sees what a normal exit gives: the same exit code,
# the same standard output and error, its exit handlers run (logging's among them), and every
# file the probe wrote closed before the result line.

#: Put first on PYTHONPATH, as a site's sitecustomize would be: notes whether the interpreter's
#: teardown ran, keeps logging records in a buffer that only logging's exit handler flushes, and
#: (with PPS_TEST_FAULT) makes the probe's work fail in the way named.
SITECUSTOMIZE = """
import logging, logging.handlers, os, sys

class _Teardown:
    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.write = os.write
    def __del__(self):
        self.write(self.fd, b"teardown\\n")

_marker = _Teardown(os.environ["EXIT_LOG"])  # freed by the interpreter's teardown only
_buffered = logging.handlers.MemoryHandler(
    10000, flushLevel=logging.CRITICAL + 1,
    target=logging.FileHandler(os.environ["EXIT_LOG"] + ".logging"),
)
logging.getLogger().addHandler(_buffered)  # what the probe logs, written at logging.shutdown

_fault = os.environ.get("PPS_TEST_FAULT")
if _fault:
    import probes._converge

    def converge(request):
        logging.getLogger("nagiosplugin").warning("injected fault %s", _fault)
        if _fault == "internal":
            raise RuntimeError("an internal error")
        if _fault == "interrupt":
            raise KeyboardInterrupt
        raise SystemExit(_fault)

    probes._converge.converge = converge
"""
#: The two ways of starting the same check: the site's entry point, and main() left to
#: Python's normal exit.
ENTRY = "from probes._entry import check_preview_client as c; c()"
NORMAL = "from probes.check_preview_client import main; main()"


def exit_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    custom = tmp_path / "custom"
    custom.mkdir(exist_ok=True)
    (custom / "sitecustomize.py").write_text(SITECUSTOMIZE)
    root = str(Path(__file__).resolve().parent.parent)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as Nagios runs it
    return {**env, "PYTHONPATH": f"{custom}{os.pathsep}{root}",
            "EXIT_LOG": str(tmp_path / "exit.log"), **extra}  # fmt: skip


def started(
    code: str, args: list[str], env: dict[str, str], **kwargs: Any
) -> tuple[int, str, str, str, str]:
    """(exit code, stdout, stderr, what the teardown marker and logging wrote) of one run,
    durations and the entry point's own traceback frame taken out."""
    log = Path(env["EXIT_LOG"])
    for path in (log, log.with_name(log.name + ".logging")):
        path.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, text=True,
                          timeout=60, check=False, **kwargs)  # fmt: skip
    logged = log.with_name(log.name + ".logging")
    return (
        proc.returncode,
        same_run(proc.stdout or ""),
        same_run(proc.stderr or ""),
        log.read_text() if log.exists() else "",
        same_run(logged.read_text()) if logged.exists() else "",
    )


def same_run(text: str) -> str:
    """*text* without what differs from run to run (durations, temporary names, addresses) or
    from entry to entry (the frame of probes/_entry.py in a traceback that goes through it)."""
    text = re.sub(r"\d+\.\d+s\b", "N.NNs", text)
    text = re.sub(r"(install-[\w.-]+?-)\w{8}\b", r"\1XXXXXXXX", text)
    text = re.sub(r" at 0x[0-9a-f]+>", " at 0x...>", text)
    return re.sub(r'  File "[^"]*probes/_entry\.py".*\n(?:    .*\n)*', "", text)


@pytest.mark.parametrize(
    ("tests", "extra", "fault", "expected"),
    [
        ([("passes", "true")], [], "", 0),
        (None, [], "", 1),  # awaiting the site's configuration: WARNING
        ([("fails", "exit 4")], [], "", 2),
        ([("passes", "true")], ["--bogus"], "", 3),  # bad usage: UNKNOWN
        ([("passes", "true")], ["-v"], "internal", 3),  # UNKNOWN with the traceback
        ([("passes", "true")], [], "exit text", 1),  # SystemExit("exit text") escaping main
        ([("passes", "true")], [], "interrupt", -2),  # KeyboardInterrupt escaping: a traceback
    ],
    ids=["ok", "warning", "critical", "unknown", "traceback", "exit-text", "interrupt"],
)
def test_the_entry_point_ends_a_run_as_a_normal_exit_does(
    tmp_path: Path, tests: list[Any] | None, extra: list[str], fault: str, expected: int
) -> None:
    manifest = make_manifest(requires_site_config=True) if tests is None else make_manifest(tests)
    add_release(tmp_path / "repo", manifest)
    site = make_site(tmp_path)
    args = [*probe_args(site, tmp_path / "repo"), *extra]
    env = exit_env(tmp_path)
    installed = started(NORMAL, args, env, capture_output=True)[0]
    assert installed == (0 if fault else expected)
    if fault:
        env["PPS_TEST_FAULT"] = fault

    normal = started(NORMAL, args, env, capture_output=True)
    entry = started(ENTRY, args, env, capture_output=True)
    again = started(NORMAL, args, env, capture_output=True)

    assert normal == again  # the steady state is steady: what follows compares like with like
    assert normal[3].endswith("teardown\n") and "teardown" not in entry[3]
    assert entry[:3] + entry[4:] == normal[:3] + normal[4:]
    assert entry[0] == expected
    if fault:
        assert f"injected fault {fault}" in entry[4]  # logging flushed at the exit
    if fault == "internal":
        assert entry[1].startswith("PREVIEW_CLIENT UNKNOWN: RuntimeError: an internal error\n")
        assert "Traceback (most recent call last):" in entry[1]
    if fault == "interrupt":
        assert entry[2].startswith("Traceback") and entry[2].endswith("KeyboardInterrupt\n")


def test_output_that_cannot_be_written_fails_the_run_as_a_normal_exit_does(
    tmp_path: Path,
) -> None:
    add_release(tmp_path / "repo", make_manifest([("passes", "true")]))
    site = make_site(tmp_path)
    args = probe_args(site, tmp_path / "repo")
    env = exit_env(tmp_path)
    assert started(NORMAL, args, env, capture_output=True)[0] == 0  # installs

    with open("/dev/full", "w") as full:
        normal = started(NORMAL, args, env, stdout=full, stderr=subprocess.PIPE)
        entry = started(ENTRY, args, env, stdout=full, stderr=subprocess.PIPE)

    assert normal[0] == 120  # what Python does when its output cannot be flushed
    assert "No space left on device" in normal[2]
    assert entry[:3] == normal[:3]


def test_an_exit_handler_that_fails_changes_nothing_but_its_own_message(tmp_path: Path) -> None:
    code = (
        "import atexit, sys\n"
        "def fails(): raise ValueError('from a handler')\n"
        "atexit.register(lambda: print('second handler ran'))\n"
        "atexit.register(fails)\n"
        "from probes._entry import exit_now\n"
        "print('result'); exit_now(int(sys.argv[1]))\n"
    )
    normal = code.replace("from probes._entry import exit_now", "exit_now = sys.exit")

    for status in ("0", "2"):
        ours = subprocess.run([sys.executable, "-c", code, status], capture_output=True,
                              text=True, timeout=60, check=False)  # fmt: skip
        theirs = subprocess.run([sys.executable, "-c", normal, status], capture_output=True,
                                text=True, timeout=60, check=False)  # fmt: skip

        assert (ours.returncode, ours.stdout) == (int(status), "result\nsecond handler ran\n")
        assert (ours.returncode, ours.stdout, same_run(ours.stderr)) == (
            theirs.returncode, theirs.stdout, same_run(theirs.stderr)
        )  # fmt: skip
        assert "ValueError: from a handler" in ours.stderr


def test_every_file_the_probe_writes_is_closed_before_its_result_line(tmp_path: Path) -> None:
    strace = require("strace", "strace")
    add_release(tmp_path / "repo", make_manifest([("passes", "true")]))
    site = make_site(tmp_path)
    args = probe_args(site, tmp_path / "repo")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    for run in ("installs", "re-tests"):
        trace = tmp_path / f"trace-{run}"
        proc = subprocess.run(
            [strace, "-qq", "-y", "-e",
             "trace=openat,open,close,fsync,fdatasync,write,rename,renameat,renameat2",
             "-o", str(trace), sys.executable, "-c", ENTRY, *args],
            capture_output=True, text=True, timeout=60, check=False, env=env,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr

        writing: dict[str, str] = {}  # fd -> path, while open for writing
        synced, renamed, unsynced = set(), [], []
        open_at_result = None
        for line in trace.read_text().splitlines():
            call = re.match(r"(\w+)\((\d+)<([^>]*)>", line)
            opened = re.search(r'"([^"]+)", ([A-Z_|]+).*\) = (\d+)<([^>]*)>', line)
            if line.startswith(("open(", "openat(")) and opened:
                if re.search(r"\bO_(WRONLY|RDWR)\b", opened.group(2)):
                    writing[opened.group(3)] = opened.group(4)
            elif call and call.group(1) == "close":
                writing.pop(call.group(2), None)
            elif call and call.group(1) in ("fsync", "fdatasync"):
                synced.add(call.group(3))
            elif call and call.group(1) == "write" and call.group(2) == "1":
                if "PREVIEW_CLIENT OK" in line:
                    open_at_result = sorted(writing.values())
            elif line.startswith("rename"):
                names = re.findall(r'(?:(?:AT_FDCWD|\d+)<([^>]*)>, )?"([^"]+)"', line)
                src = os.path.join(names[0][0], names[0][1])
                renamed.append(src)
                if src not in synced:
                    unsynced.append(src)

        assert open_at_result == [], run  # nothing still open for writing, nothing buffered
        assert renamed, run  # the state record at least, written beside and renamed into place
        assert unsynced == [], run  # each fsync'd before it replaced the old one
