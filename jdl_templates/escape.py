"""Writing values into the three job languages, or refusing them in one line.

Every value a job template puts into a job description goes through one function here:

- gLite JDL: :func:`jdl_templates.classads.classad_string` (ClassAd string literal), and for the
  ``Arguments`` string :func:`shell_words` first (the CE splits it with a shell, so every
  argument is single-quoted and reaches the program as it was given);
- ARC xRSL: :func:`xrsl_string` (double quotes, a quote inside doubled, as ARC's RSL parser
  reads it); ARC ADL (XML): :func:`xml_text`;
- HTCondor submit description: :func:`submit_value` (a line value: no newline, no leading or
  trailing blank, no trailing backslash, nothing a macro expansion would touch)
  and :func:`condor_arguments` (the "new syntax" of ``arguments``: double-quoted, each argument
  single-quoted, quotes doubled).  HTCondor expands ``$(...)``, ``$NAME(...)`` and ``$$``
  (match-time) in every value, and ``$(DOLLAR)`` itself is re-expanded next to another ``$``, so
  no escape is reliable: text holding them is refused (a lone ``$``, as in ``$HOME``, is kept).

Control characters (newlines, tabs, NUL, bidi overrides...) are refused everywhere: a job
description value is one line of printable text.  Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from jdl_templates.classads import check_text
from pps.errors import BadInput

# What HTCondor's macro expansion acts on: $(X), $ENV(X), $RANDOM_CHOICE(...), $$(X), $$([e]).
_MACRO = re.compile(r"\$(?:\$|[A-Za-z0-9_]*\()")


def check_no_macro(text: str, what: str) -> str:
    """Return *text* unless HTCondor would expand part of it as a macro."""
    m = _MACRO.search(text)
    if m:
        raise BadInput(
            f"{what} {text!r} holds {m.group()!r}, which a submit file expands as an HTCondor "
            "macro: it cannot be written there"
        )
    return text


def shell_words(args: Sequence[str], what: str = "argument") -> str:
    """*args* as one POSIX shell command-line fragment, each argument single-quoted.

    >>> print(shell_words(["a b", "it's", "$(x)"]))
    'a b' 'it'"'"'s' '$(x)'
    """
    return " ".join("'" + check_text(a, what).replace("'", "'\"'\"'") + "'" for a in args)


def xrsl_string(value: object, what: str = "value") -> str:
    """*value* as an xRSL string literal, quotes included.

    >>> print(xrsl_string('say "hi" (now)'))
    "say ""hi"" (now)"
    """
    text = check_text(value, what)
    if "(*" in text:
        # ARC's parser opens a comment at "(*" even inside a quoted string, and no quoting
        # keeps it: the job would be refused, or mean something else
        raise BadInput(f"{what} {text!r} holds '(*', which xRSL reads as a comment: not allowed")
    return '"' + text.replace('"', '""') + '"'


def xml_text(value: object, what: str = "value") -> str:
    """*value* as XML character data or an attribute value (ADL): ``& < > " '`` as entities.

    >>> print(xml_text('a <b> & "c"'))
    a &lt;b&gt; &amp; &quot;c&quot;
    """
    text = check_text(value, what)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )


def submit_value(value: object, what: str = "value") -> str:
    """*value* as the right-hand side of a submit-description line (``key = value``).

    >>> print(submit_value("/opt/my $HOME/run"))
    /opt/my $HOME/run
    """
    text = check_no_macro(check_text(value, what), what)
    if text != text.strip():
        raise BadInput(
            f"{what} {text!r} starts or ends with a blank: a submit file drops it, so it "
            "cannot be written there"
        )
    if text.endswith("\\"):
        raise BadInput(
            f"{what} {text!r} ends with a backslash: a submit file takes it for a line continuation"
        )
    return text


def condor_arguments(args: Sequence[str], what: str = "argument") -> str:
    """*args* in the "new syntax" of the submit command ``arguments`` (no macro in them).

    >>> print(condor_arguments(["a b", "it's", 'say "x"']))
    "'a b' 'it''s' 'say ""x""'"
    """
    words = []
    for a in args:
        check_no_macro(check_text(a, what), what)
        words.append("'" + a.replace("'", "''").replace('"', '""') + "'")
    return '"' + " ".join(words) + '"'
