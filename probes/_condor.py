"""The HTCondor publisher: verified previews as the ``PPS_RTE`` attribute of the machine ad.

An HTCondor pool announces software as machine attributes that a job's ``requirements`` tests.
The probe writes one snippet in the execute node's ``config.d`` (the site file's
``condor_config``, by default ``/etc/condor/config.d/55-pps-rte.conf``), whose text is
:func:`pps.rte.condor_config`: ``PPS_RTE`` holds the comma list of the GLUE 1.3 tags the tags
file would hold (``VO-<vo>-PPS-<component>-<version>`` of every verified version and VO, and
``PPS-PREVIEW``), ``PPS_PREVIEW_ROOT`` the preview root, and ``STARTD_ATTRS`` gains both, so a
job asks with ``stringListIMember("VO-dteam-PPS-glite-UI-3.2.8-0", TARGET.PPS_RTE)``.

The tag edits are those of the tags file: a publication adds the version's tag for each VO and
``PPS-PREVIEW``; a withdrawal removes the version's tags (case-insensitively, as GLUE compares
them) and leaves the rest.  The file is pps's alone: one whose first line is not pps's is never
changed; a symbolic link, a hard link or a special file at its path is refused.  It is replaced
atomically (a temporary ``.55-pps-rte.conf.pps-PID.tmp`` that HTCondor's default
``LOCAL_CONFIG_DIR_EXCLUDE_REGEXP`` skips, renamed over it), keeping its owner, group and mode,
under the lock ``.55-pps-rte.conf.lock`` beside it; when nothing changes nothing is written.

After a change the pool is asked to reconfigure with the site's ``condor_reconfig`` (the site
file's ``condor_reconfig``; ``""``: never).  Where that command is not installed, or fails, the
status line says so and the run goes on: the machine ad changes at the next reconfiguration.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from pps.errors import BadInput
from pps.names import PREVIEW_CAPABILITY, parse_version_tag, version_tag
from pps.rte import CONDOR_ATTRIBUTE, CONDOR_CONFIG_NAME, condor_config, parse_condor_value
from probes._publish_base import Published, PublishError, remove_stale_tmp
from probes._safefs import UnsafePath, locked_at, open_base, read_regular, replace_regular

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_CONFIG = "/etc/condor/config.d/" + CONDOR_CONFIG_NAME
DEFAULT_RECONFIG = "/usr/sbin/condor_reconfig"
MAX_SNIPPET_BYTES = 1 << 20
RECONFIG_TIMEOUT = 30.0
#: The first line of every snippet pps writes.
HEADER = condor_config([]).split("\n", 1)[0]
_VALUE_RE = re.compile(rf'{CONDOR_ATTRIBUTE} = "([^"\n]*)"\Z')
_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def snippet_tags(data: bytes) -> list[str] | None:
    """The tags in a snippet pps wrote; ``None`` if pps did not write *data*."""
    text = data.decode("utf-8", "replace")
    lines = text.split("\n")
    if lines[0] != HEADER:
        return None
    for line in lines[1:]:
        m = _VALUE_RE.match(line)
        if m:
            return parse_condor_value(m.group(1))
    return None


def _keys(tags: Sequence[str]) -> set[str]:
    return {t.casefold() for t in tags}


class CondorPublisher:
    """Verified previews in the HTCondor machine ad (see the module's description)."""

    kind = "condor"

    def __init__(
        self,
        config_file: str,
        preview_root: str | os.PathLike[str],
        *,
        reconfig: str = DEFAULT_RECONFIG,
        deadline: float = float("inf"),
    ) -> None:
        self.config_file = config_file or DEFAULT_CONFIG
        self.preview_root = os.fspath(preview_root)
        self.reconfig = reconfig
        self.deadline = deadline
        self.said: list[str] = []

    # -- the file
    def _dir(self) -> int:
        directory = os.path.dirname(self.config_file)
        try:
            return open_base(directory)
        except FileNotFoundError:
            raise PublishError(
                f"HTCondor's configuration directory {directory} does not exist (the site "
                "file's condor_config): is this an HTCondor execute node?"
            ) from None

    def _edit(self, add: Sequence[str], remove: Sequence[str]) -> bool:
        """Apply the edit under the lock; True if the snippet changed."""
        name = os.path.basename(self.config_file)
        fd = self._dir()
        try:
            found = read_regular(fd, name, self.config_file, MAX_SNIPPET_BYTES)
            if found is None and not add:
                return False
            if found is not None and snippet_tags(found[0]) is None:
                if not add:
                    return False  # not pps's file: nothing of pps's to withdraw there
                raise UnsafePath(f"{self.config_file} was not written by pps: not changing it")
            lock = f".{name}.lock"
            with locked_at(fd, lock, os.path.join(os.path.dirname(self.config_file), lock)):
                remove_stale_tmp(fd, f".{name}.")
                found = read_regular(fd, name, self.config_file, MAX_SNIPPET_BYTES)
                old = snippet_tags(found[0]) if found else []
                if old is None:
                    raise UnsafePath(f"{self.config_file} was not written by pps: not changing it")
                drop = _keys(remove)
                tags = [t for t in old if t.casefold() not in drop]
                have = _keys(tags)
                for tag in add:
                    if tag.casefold() not in have:
                        tags.append(tag)
                        have.add(tag.casefold())
                try:
                    text = condor_config(tags, self.preview_root).encode()
                except BadInput as e:
                    raise PublishError(f"cannot write {self.config_file}: {e}") from None
                if found is not None and found[0] == text:
                    return False
                replace_regular(fd, name, text, self.config_file, like=found[1] if found else None)
        finally:
            os.close(fd)
        self._reconfigure()
        return True

    def _reconfigure(self) -> None:
        if not self.reconfig:
            return
        if not os.access(self.reconfig, os.X_OK):
            self.said.append(
                f"{self.reconfig} is not installed here: the pool advertises the new "
                f"{CONDOR_ATTRIBUTE} at its next reconfiguration"
            )
            return
        from probes._process import run_bounded

        left = self.deadline - time.monotonic()
        done = run_bounded(
            [self.reconfig],
            cwd=Path("/"),
            env={"PATH": _PATH, "LANG": "C", "LC_ALL": "C"},
            timeout=max(1.0, min(RECONFIG_TIMEOUT, left)),
        )
        if done.exit_code != 0:
            how = "did not finish in time" if done.timed_out else f"failed (exit {done.exit_code})"
            tail = " ".join(done.output_tail.split())[-200:]
            self.said.append(
                f"{self.reconfig} {how}{': ' + tail if tail else ''}; the pool advertises the "
                f"new {CONDOR_ATTRIBUTE} at its next reconfiguration"
            )

    # -- the interface
    def publish(self, component: str, version: str, vos: Sequence[str]) -> bool:
        tags = [version_tag(vo, component, version) for vo in vos]
        return self._edit([*tags, PREVIEW_CAPABILITY], [])

    def withdraw(self, component: str, version: str, vos: Sequence[str]) -> bool:
        tags = []
        for vo in dict.fromkeys(vos):
            try:
                tags.append(version_tag(vo, component, version))
            except BadInput:
                continue  # a hand-edited record: never let it stop a withdrawal
        return self._edit([], tags) if tags else False

    retire = withdraw

    def owned(self) -> list[Published]:
        out = []
        for tag in self.advertised():
            parsed = parse_version_tag(tag)
            if parsed is not None:
                out.append(
                    Published(self.kind, parsed.component, parsed.version, tag, self.config_file)
                )
        return out

    def advertised(self) -> list[str]:
        """Every tag the snippet advertises now (``PPS-PREVIEW`` included)."""
        fd = self._dir()
        try:
            name = os.path.basename(self.config_file)
            found = read_regular(fd, name, self.config_file, MAX_SNIPPET_BYTES)
        finally:
            os.close(fd)
        return (snippet_tags(found[0]) or []) if found else []

    def remove(self) -> bool:
        """Remove the snippet (``--uninstall``) if pps wrote it; True if it went."""
        name = os.path.basename(self.config_file)
        fd = self._dir()
        try:
            lock = f".{name}.lock"
            with locked_at(fd, lock, os.path.join(os.path.dirname(self.config_file), lock)):
                found = read_regular(fd, name, self.config_file, MAX_SNIPPET_BYTES)
                if found is None or snippet_tags(found[0]) is None:
                    return False
                os.unlink(name, dir_fd=fd)
            try:
                os.unlink(lock, dir_fd=fd)
            except FileNotFoundError:
                pass
        finally:
            os.close(fd)
        self._reconfigure()
        return True
