"""A probe's command line: options declared once, parsed as GNU getopt does, help made from them.

Why not argparse: the probe runs every few minutes at every site and its steady state must cost
about what ``import nagiosplugin`` does; argparse (with gettext) alone costs 3 to 6 ms of that.
Why not :mod:`getopt` either: it imports :mod:`gettext` (and compiles its plural-forms regular
expression), some 0.8 ms a run.  :func:`gnu_getopt` is the standard library's ``gnu_getopt``
(``--name VALUE``, ``--name=VALUE``, unique prefixes of long names, ``-t 30``, ``-t30``,
``-vv``, arguments anywhere, ``--`` ending the options), with its very messages, in a few lines
(``tests/test_probe_startup.py`` holds the two to the same answers).  The help text is laid out
from the same table, so the two cannot disagree.  ``textwrap`` is imported only for ``--help``.

The start both Nagios plugins share (check_preview_client, check_preview_publication) is here
too, beside the options it parses: SIGTERM and SIGINT raise :class:`Interrupted`, ``--help``
prints the help, the command line is parsed or its problem kept for the UNKNOWN line
(:func:`start`), and perfdata is reported unjudged (:class:`PerfdataContext`).  It lives in this
module, which both load anyway, because a new module would cost the probe's steady state.
"""

from __future__ import annotations

import math
import os
import signal
import sys
from types import SimpleNamespace as Namespace

import nagiosplugin

from pps.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any


class UsageError(Exception):
    """Bad usage: the probe reports it as UNKNOWN (Nagios' convention), one line."""


class Option(Record):
    """One option: ``--name`` (and ``-s``), what it takes, where it goes."""

    name: str
    help: str
    #: ``value`` (one value, the last one wins), ``append`` (a list), ``flag`` or ``count``.
    kind: str = "value"
    metavar: str = ""
    short: str = ""
    #: Turns the text into the value; raises ValueError with a message naming the problem.
    convert: Callable[[str], Any] | None = None
    default: Any = None
    #: Where the value goes (default: the name, dashes as underscores).
    into: str = ""

    @property
    def dest(self) -> str:
        return self.into or self.name.replace("-", "_")

    @property
    def takes_value(self) -> bool:
        return self.kind in ("value", "append")


def timeout_option(help: str, default: float) -> Option:
    """The ``-t``/``--timeout SECONDS`` option every plugin has (its help its own)."""
    return Option("timeout", help, metavar="SECONDS", short="t", convert=seconds, default=default)


def verbose_option(help: str) -> Option:
    """The ``-v``/``--verbose`` option (a count) every plugin has."""
    return Option("verbose", help, kind="count", short="v", default=0)


def seconds(text: str) -> float:
    """An option's value as a positive number of seconds (ValueError naming the text)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < 1e6:
        raise ValueError(f"{text!r} must be a positive number of seconds")
    return value


class GetoptError(Exception):
    """What :func:`getopt.gnu_getopt` would raise, with its message."""


def _long(name: str, longs: Sequence[str]) -> tuple[bool, str]:
    possibilities = [o for o in longs if o.startswith(name)]
    if not possibilities:
        raise GetoptError(f"option --{name} not recognized")
    if name in possibilities:
        return False, name
    if name + "=" in possibilities:
        return True, name
    if len(possibilities) > 1:
        raise GetoptError(f"option --{name} not a unique prefix")
    match = possibilities[0]
    has_arg = match.endswith("=")
    return has_arg, match[:-1] if has_arg else match


def gnu_getopt(
    args: Sequence[str], shortopts: str, longopts: Sequence[str]
) -> tuple[list[tuple[str, str]], list[str]]:
    """:func:`getopt.gnu_getopt`: the same options found, arguments left and errors."""
    opts: list[tuple[str, str]] = []
    rest: list[str] = []
    args = list(args)
    posix = shortopts.startswith("+") or bool(os.environ.get("POSIXLY_CORRECT"))
    shortopts = shortopts.lstrip("+")
    while args:
        arg = args.pop(0)
        if arg == "--":
            rest += args
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            has_arg, name = _long(name, longopts)
            if has_arg and not eq:
                if not args:
                    raise GetoptError(f"option --{name} requires argument")
                value = args.pop(0)
            elif eq and not has_arg:
                raise GetoptError(f"option --{name} must not have an argument")
            opts.append(("--" + name, value))
        elif arg.startswith("-") and arg != "-":
            letters = arg[1:]
            while letters:
                letter, letters = letters[0], letters[1:]
                at = shortopts.find(letter) if letter != ":" else -1
                if at < 0:
                    raise GetoptError(f"option -{letter} not recognized")
                value = ""
                if shortopts.startswith(":", at + 1):
                    if not letters:
                        if not args:
                            raise GetoptError(f"option -{letter} requires argument")
                        letters = args.pop(0)
                    value, letters = letters, ""
                opts.append(("-" + letter, value))
        elif posix:
            rest += [arg, *args]
            break
        else:
            rest.append(arg)
    return opts, rest


def parse(options: Sequence[Option], argv: Sequence[str]) -> dict[str, Any]:
    """``{dest: value}`` for every option (defaults included); UsageError naming the problem."""
    shorts = "".join(o.short + (":" if o.takes_value else "") for o in options if o.short)
    longs = [o.name + ("=" if o.takes_value else "") for o in options]
    try:
        found, rest = gnu_getopt(list(argv), shorts, longs)
    except GetoptError as e:
        raise UsageError(f"usage: {e} (see --help)") from None
    if rest:
        raise UsageError(f"usage: unexpected argument {rest[0]!r} (see --help)")
    by_flag = {f"--{o.name}": o for o in options}
    by_flag.update({f"-{o.short}": o for o in options if o.short})
    values: dict[str, Any] = {o.dest: ([] if o.kind == "append" else o.default) for o in options}
    for flag, text in found:
        option = by_flag[flag]
        if option.kind == "flag":
            values[option.dest] = True
        elif option.kind == "count":
            values[option.dest] = (values[option.dest] or 0) + 1
        else:
            value: Any = text
            if option.convert is not None:
                try:
                    value = option.convert(text)
                except ValueError as e:
                    raise UsageError(f"usage: --{option.name}: {e} (see --help)") from None
            if option.kind == "append":
                values[option.dest].append(value)
            else:
                values[option.dest] = value
    for option in options:
        if option.kind == "append" and not values[option.dest]:
            values[option.dest] = None
    return values


def _spelling(option: Option) -> str:
    names = ([f"-{option.short}"] if option.short else []) + [f"--{option.name}"]
    return ", ".join(n + (f" {option.metavar}" if option.takes_value else "") for n in names)


def help_text(prog: str, description: str, options: Sequence[Option], epilog: str = "") -> str:
    """An argparse-like help: the usage line, the description, every option, the epilog."""
    import textwrap

    width = 79
    parts = []
    for o in options:
        flag = f"-{o.short}" if o.short else f"--{o.name}"
        parts.append(f"[{flag}{' ' + o.metavar if o.takes_value else ''}]")
    usage_lines = [f"usage: {prog}"]
    for part in ["[-h]", *parts]:  # an option and its value stay on one line
        if len(usage_lines[-1]) + 1 + len(part) > width:
            usage_lines.append(" " * (len(prog) + 7))
        usage_lines[-1] += " " + part
    usage = "\n".join(usage_lines)
    lines = [usage, "", description.strip(), "", "options:"]
    column = 24
    rows = [("-h, --help", "Show this help and exit.")] + [(_spelling(o), o.help) for o in options]
    for spelling, text in rows:
        head = f"  {spelling}"
        body = textwrap.wrap(text, width - column, break_on_hyphens=False)
        if len(head) + 2 <= column:
            lines.append(head.ljust(column) + (body[0] if body else ""))
            body = body[1:]
        else:
            lines.append(head)
        lines += [" " * column + line for line in body]
    if epilog:
        lines += ["", textwrap.fill(epilog, width)]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ the plugins' shared start
class Interrupted(Exception):
    """SIGTERM or SIGINT arrived: stop (a probe kills its tests, releases the lock), say
    UNKNOWN."""


def _interrupt(signum: int, _frame: Any) -> None:
    raise Interrupted(f"interrupted by {signal.Signals(signum).name}")


class Start(Record):
    """A plugin's command line, parsed: *args* (None when it could not be), the usage
    *problem* to report as UNKNOWN, and the verbosity and timeout the check runs with."""

    args: Any
    problem: str
    verbose: int
    timeout: int


def start(
    argv: Sequence[str] | None,
    options: Sequence[Option],
    help_text: Callable[[], str],
    default_timeout: int,
) -> Start:
    """Begin a plugin's run: signals raise :class:`Interrupted`; ``-h``/``--help`` prints
    *help_text()* and exits 0; otherwise the command line (*argv*, else ``sys.argv``) parsed."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _interrupt)
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        sys.stdout.write(help_text())
        sys.exit(0)
    try:
        args = Namespace(**parse(options, argv))
    except UsageError as e:
        return Start(None, str(e), 0, default_timeout)
    return Start(args, "", args.verbose, max(1, math.ceil(args.timeout)))


class PerfdataContext(nagiosplugin.Context):
    """Numbers reported as performance data, never judged."""

    def performance(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Performance:
        return nagiosplugin.Performance(metric.name, metric.value, metric.uom, min=metric.min)
