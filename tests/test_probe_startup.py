"""What the probe does without the standard library modules it avoids at start-up: the same.

``probes/_options.py`` parses without :mod:`getopt` (which imports :mod:`gettext`, a cost at
every probe run): whatever the command line, it finds the same options and arguments as
``getopt.gnu_getopt``, or fails with the same message.  ``probes/_tree.py`` quotes for the shell
without :mod:`shlex`: whatever the text, as ``shlex.quote`` does.
"""

from __future__ import annotations

import getopt
import os
import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probes import _options
from probes._settings import OPTIONS
from probes._tree import shell_quote

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
