"""A probe's command line: options declared once, parsed with :mod:`getopt`, help made from them.

Why not argparse: the probe runs every few minutes at every site and its steady state must cost
about what ``import nagiosplugin`` does; argparse (with gettext) alone costs 3 to 6 ms of that.
getopt parses the same GNU-style options (``--name VALUE``, ``--name=VALUE``, ``-t 30``,
``-vv``); the help text is laid out from the same table, so the two cannot disagree.
"""

from __future__ import annotations

import getopt
import textwrap

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


def seconds(text: str) -> float:
    """An option's value as a positive number of seconds (ValueError naming the text)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < 1e6:
        raise ValueError(f"{text!r} must be a positive number of seconds")
    return value


def parse(options: Sequence[Option], argv: Sequence[str]) -> dict[str, Any]:
    """``{dest: value}`` for every option (defaults included); UsageError naming the problem."""
    shorts = "".join(o.short + (":" if o.takes_value else "") for o in options if o.short)
    longs = [o.name + ("=" if o.takes_value else "") for o in options]
    try:
        found, rest = getopt.gnu_getopt(list(argv), shorts, longs)
    except getopt.GetoptError as e:
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
