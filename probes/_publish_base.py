"""What the publishers share (:mod:`probes._publish` is their interface): the error a
publisher raises, what it reports it announces, and the tidying of a killed run's temporary
files.  A module of its own so that the publishers and the interface that loads them do not
import each other."""

from __future__ import annotations

import os
import re

from pps.errors import PPSError
from pps.record import Record


class PublishError(PPSError):
    """A publisher could not do what the decision asked (one line naming what and where)."""


class Published(Record):
    """One thing a publisher announces: a version, as it spells it, and where."""

    kind: str
    component: str
    version: str
    #: The RTE name, the tag, ...
    name: str
    where: str


#: The temporary file :func:`probes._safefs.replace_regular` writes: ``.NAME.pps-PID.tmp``.
_TMP_RE = re.compile(r"\.[A-Za-z0-9._-]+\.pps-([0-9]+)\.tmp\Z")


def remove_stale_tmp(dirfd: int, prefix: str = ".") -> None:
    """Remove the temporary files (names starting with *prefix*) that a killed run left in the
    directory *dirfd*: those whose process is gone.  ``arcctl rte list`` would show them."""
    for leaf in os.listdir(dirfd):
        m = _TMP_RE.match(leaf)
        if m and leaf.startswith(prefix) and not _alive(int(m.group(1))):
            try:
                os.unlink(leaf, dir_fd=dirfd)
            except FileNotFoundError:
                pass


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process writes one file at a time: a leftover is from before
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
