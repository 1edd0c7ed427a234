"""The ARC publisher: a verified preview as an A-REX RunTimeEnvironment, enabled with arcctl.

For ``glite-UI 3.2.8-0`` the probe writes the RTE script ``<runtimedir>/ENV/PPS/GLITE-UI-3.2.8-0``
(the name is :func:`pps.rte.rte_name`, the grammar the job templates use) and enables it with the
site's own ``arcctl -c <arc.conf> rte enable ENV/PPS/GLITE-UI-3.2.8-0``, which links it as
``<controldir>/rte/enabled/ENV/PPS/GLITE-UI-3.2.8-0``; A-REX's information provider then
publishes it as a GLUE 2.0 ApplicationEnvironment (AppName ``ENV/PPS/GLITE-UI``, AppVersion
``3.2.8-0``) and an xRSL ``(runtimeenvironment="ENV/PPS/GLITE-UI-3.2.8-0")`` gets it.  A
withdrawal disables it (``arcctl rte disable``; also ``undefault`` should the site have made
pps's RTE a default one: pps itself never does); a retirement also removes the script.

The script, at stage 1 (inside the job script on the worker node, before the job's executable:
ARC's ``submit_common.sh``), exports the names the job wrapper reads (:mod:`pps.rte`) and
sources the tree's ``pps-env.sh``, which sources the site's production ``profile.d`` first and
puts the preview in front of it.  Stage 0 runs on the CE front end at submission, where an
environment would not reach the job, so the script does nothing there.

What ``arc.conf`` gives: ``[arex] controldir`` (ARC's default ``/var/spool/arc/jobstatus``) and
``[arex] runtimedir`` (the first one, or the site file's ``arc_runtimedir``, which must be one of
them), read with ARC's own line grammar; a value using ARC's ``$VAR{}``/``$EXEC{}``/``$EVAL{}``
substitutions is asked of ``arcctl config get``.

Safety, as for the tags file: the runtime directory and the control directory are walked one
level at a time without following links; the script is replaced atomically (owner and mode
kept) only if pps wrote it (its second line says so); an RTE of that name pps did not write,
and an enabled link pointing anywhere but at pps's script, are left alone; every change happens
under the lock ``<controldir>/rte/.pps-rte.lock`` (outside what arcctl and A-REX list), so two
runs at once cannot interleave their ``arcctl`` calls.  The steady state (script as it should
be, link in place) reads two files and runs nothing.  A kill at any point leaves either no
link, or a link to a whole script (written before it is linked), and the temporary files a
killed run left are removed by the next one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import time
from pathlib import Path

from pps.errors import BadInput
from pps.rte import (
    PREVIEW_ROOT_VAR,
    RTE_PREFIX,
    check_preview_root,
    parse_rte_name,
    rte_name,
)
from probes._publish_base import Published, PublishError, remove_stale_tmp
from probes._safefs import (
    UnsafePath,
    locked_at,
    open_base,
    read_regular,
    replace_regular,
    walk_subdirs,
)
from probes._tree import ENV_SCRIPT, shell_quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

#: ARC's default ``[arex] controldir`` (``/usr/share/arc/arc.parser.defaults``).
DEFAULT_CONTROLDIR = "/var/spool/arc/jobstatus"
#: The lock every change holds, in ``<controldir>/rte/`` (arcctl lists only its subdirectories).
LOCK_NAME = ".pps-rte.lock"
#: The second line of every script pps writes (with the component and version after it).
MARKER = "# Written by pps check_preview_client (pps-rte/1 "
MAX_SCRIPT_BYTES = 64 << 10
MAX_ARC_CONF_BYTES = 4 << 20
#: Seconds one arcctl call may take (it takes about 0.2 s).
ARCCTL_TIMEOUT = 30.0
#: Where ARC's commands live, for the environment arcctl runs with.
_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
_PREFIX_PARTS = tuple(p for p in RTE_PREFIX.split("/") if p)  # ("ENV", "PPS")
_MARKER_RE = re.compile(r"# Written by pps check_preview_client \(pps-rte/1 (\S+) (\S+)\)")
# arc.conf's line grammar (arc/utils/config.py of ARC 6): comments and blank lines, blocks,
# options ("option=value", "option = value").
_SKIP_RE = re.compile(r"(?:#.*|\s*)\Z")
_BLOCK_RE = re.compile(r"\s*\[(?P<block>[^:\[\]]+(?::[^\[\]]+)?)\]\s*\Z")
_OPTION_RE = re.compile(r"\s*(?P<option>[^=\[\]\n\s]+)\s*(?:=|(?=\s*\Z))\s*(?P<value>.*?)\s*\Z")


class ArcConf:
    """What the publisher needs from ``arc.conf``."""

    def __init__(self, path: str, controldir: str, runtimedirs: Sequence[str]) -> None:
        self.path = path
        self.controldir = controldir
        self.runtimedirs = tuple(runtimedirs)


def parse_arc_conf(text: str) -> dict[str, list[str]]:
    """``[arex]`` options of *text* (``{"controldir": [...], "runtimedir": [...]}``), every
    value in order, as ARC 6's own parser reads the file."""
    block = None
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if _SKIP_RE.match(line):
            continue
        m = _BLOCK_RE.match(line)
        if m:
            block = m.group("block")  # ARC's block ID: "[arex]" exactly ("[arex/ws]" is another)
            if block == "arex":
                found = {}  # a repeated block replaces the earlier one, as in ARC's parser
            continue
        m = _OPTION_RE.match(line)
        if m and block == "arex" and m.group("option") in ("controldir", "runtimedir"):
            found.setdefault(m.group("option"), []).append(m.group("value"))
    return found


def arc_name(rtedir: str, name: str) -> str:
    """The name arcctl 6 gives the RTE file ``<rtedir>/<name>``: it strips the directory with
    ``path.lstrip(rtedir + '/')`` (``RTEControl.get_dir_rtes``), a character-set strip that
    also eats the name's first letters when they occur in the directory's path."""
    parent, _, leaf = name.rpartition("/")
    walked = os.path.join(rtedir, parent) if parent else rtedir
    base = walked.lstrip(rtedir + "/")
    return base + "/" + leaf if base else leaf


def rte_script(component: str, version: str, preview_root: str) -> str:
    """The text of the RTE script of *component* *version* (its tree under *preview_root*)."""
    name = rte_name(component, version)
    root = check_preview_root(preview_root)
    env = shell_quote(str(Path(root, component, version, ENV_SCRIPT)))
    return "\n".join(
        [
            f"# description: pps preview {component} {version}, verified at this site",
            f"{MARKER}{component} {version}): the ARC RunTimeEnvironment {name}.",
            "# Do not edit: pps rewrites it, and disables it when the version is withdrawn.",
            'if [ "x$1" = "x1" ]; then',
            "    # on the worker node, before the job: the site's production environment, then",
            "    # the preview in front of it (pps-env.sh sources the production profile.d first)",
            f"    {PREVIEW_ROOT_VAR}={shell_quote(root)}",
            f"    PPS_RTE_COMPONENT={component}",
            f"    PPS_RTE_VERSION={version}",
            f"    export {PREVIEW_ROOT_VAR} PPS_RTE_COMPONENT PPS_RTE_VERSION",
            f"    if [ ! -r {env} ]; then",
            f'        echo "pps: {component} {version} is not here: no {env}" 1>&2',
            "        return 1",
            "    fi",
            f"    . {env}",
            "fi",
            "true",
            "",
        ]
    )


def script_release(data: bytes) -> tuple[str, str] | None:
    """(component, version) of a script pps wrote, from its marker line; None otherwise."""
    lines = data.split(b"\n", 2)
    if len(lines) < 2:
        return None
    m = _MARKER_RE.match(lines[1].decode("ascii", "replace"))
    return (m.group(1), m.group(2)) if m else None


def _open_dirs(
    base: str, parts: Sequence[str], *, create: bool, base_must_exist: bool = False
) -> int | None:
    """A descriptor of ``base/parts...``, walked without following a link (None: missing).
    With *create* the missing directories are made (mode 0755), *base* too unless
    *base_must_exist*."""
    try:
        fd = open_base(base, create=create and not base_must_exist)
    except FileNotFoundError:
        return None
    return walk_subdirs(fd, base, parts, create=create)


def _link_at(base: str, parts: Sequence[str], leaf: str) -> tuple[str, str]:
    """What is at ``base/parts.../leaf``: ("missing", ""), ("link", target) or ("other", kind)."""
    fd = _open_dirs(base, parts, create=False)
    if fd is None:
        return "missing", ""
    try:
        try:
            st = os.stat(leaf, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return "missing", ""
        if stat.S_ISLNK(st.st_mode):
            return "link", os.readlink(leaf, dir_fd=fd)
        return "other", "a directory" if stat.S_ISDIR(st.st_mode) else "not a link"
    finally:
        os.close(fd)


def _arc_message(tail: str) -> str:
    """The last thing arcctl said (``[date] [ARCCTL...] [ERROR] [pid] [text]``: the text)."""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    for line in reversed(lines):
        m = re.search(r"\[(?:ERROR|CRITICAL)\] \[\d+\] \[(.*)\]\s*\Z", line)
        if m:
            return m.group(1)
    return lines[-1] if lines else "no output"


class ArcRtePublisher:
    """Verified previews as ARC RunTimeEnvironments (see the module's description)."""

    kind = "arc-rte"
    #: One RTE serves every VO of the CE: a withdrawal for some VOs only leaves it enabled.
    per_vo = False

    def __init__(
        self,
        arc_conf: str,
        preview_root: str | os.PathLike[str],
        *,
        arcctl: str = "/usr/sbin/arcctl",
        runtimedir: str = "",
        deadline: float = float("inf"),
    ) -> None:
        self.arc_conf = arc_conf
        self.preview_root = os.fspath(preview_root)
        self.arcctl = arcctl
        self.wanted_runtimedir = runtimedir
        self.deadline = deadline
        self.said: list[str] = []
        self._conf: ArcConf | None = None

    # -- arc.conf
    def conf(self) -> ArcConf:
        """The site's arc.conf, read once per run."""
        if self._conf is None:
            self._conf = self._read_conf()
        return self._conf

    def _read_conf(self) -> ArcConf:
        path = self.arc_conf
        fd = _open_dirs(os.path.dirname(path) or "/", (), create=False)
        if fd is None:
            raise PublishError(f"arc.conf {path} does not exist (the site file's 'arc_conf')")
        try:
            found = read_regular(fd, os.path.basename(path), path, MAX_ARC_CONF_BYTES)
        finally:
            os.close(fd)
        if found is None:
            raise PublishError(f"arc.conf {path} does not exist (the site file's 'arc_conf')")
        values = parse_arc_conf(found[0].decode("utf-8", "replace"))
        controldirs = values.get("controldir") or [DEFAULT_CONTROLDIR]
        controldir = self._resolved(controldirs[-1], "controldir")
        runtimedirs = [self._resolved(v, "runtimedir") for v in values.get("runtimedir", [])]
        if not runtimedirs:
            raise PublishError(
                f"arc.conf {path} has no [arex] runtimedir: A-REX has no place for the RTE "
                "scripts (add runtimedir=/etc/arc/rte, for example)"
            )
        if self.wanted_runtimedir:
            if self.wanted_runtimedir not in runtimedirs:
                raise PublishError(
                    f"arc_runtimedir {self.wanted_runtimedir} is not an [arex] runtimedir of "
                    f"{path} ({', '.join(runtimedirs)}): arcctl would not find the RTE there"
                )
            runtimedirs.remove(self.wanted_runtimedir)
            runtimedirs.insert(0, self.wanted_runtimedir)
        for what, value in (("controldir", controldir), *(("runtimedir", r) for r in runtimedirs)):
            if not value.startswith("/"):
                raise PublishError(f"arc.conf {path}: [arex] {what} {value!r} is not absolute")
        return ArcConf(path, controldir, runtimedirs)

    def _resolved(self, value: str, option: str) -> str:
        if "$" not in value:
            return value
        done = self._run_arcctl(["config", "get", "arex", option])
        if done.exit_code != 0:
            raise PublishError(
                f"arcctl config get arex {option} failed: {_arc_message(done.output_tail)}"
            )
        return done.output_tail.strip().splitlines()[-1].strip()

    # -- paths
    def _names(self, component: str, version: str) -> tuple[str, str]:
        """(RTE name, script file name) of *component* *version*."""
        try:
            name = rte_name(component, version)
        except BadInput as e:
            raise PublishError(f"{component} {version} is not enabled as an ARC RTE: {e}") from None
        return name, name.rpartition("/")[2]

    def _script_path(self, conf: ArcConf, name: str) -> str:
        return os.path.join(conf.runtimedirs[0], *name.split("/"))

    def _check_names(self, conf: ArcConf, name: str) -> None:
        enabled = conf.controldir.rstrip("/") + "/rte/enabled"
        for what, rtedir in (("runtimedir", conf.runtimedirs[0]), ("controldir", enabled)):
            seen = arc_name(rtedir, name)
            if seen != name:
                raise PublishError(
                    f"arcctl would call the RTE {name} under the {what} {rtedir} {seen!r} (ARC 6 "
                    "strips the letters of the directory's path from RTE names, and "
                    f"{name[0]!r} is one of them): give A-REX a {what} without {name[0]!r}"
                )
        for other in conf.runtimedirs[1:]:
            if _link_at(other, _PREFIX_PARTS, name.rpartition("/")[2])[0] != "missing":
                raise PublishError(
                    f"{os.path.join(other, name)} exists too: arcctl would enable that one, "
                    "not pps's; left alone"
                )

    @contextlib.contextmanager
    def _locked(self, conf: ArcConf) -> Iterator[None]:
        """Hold ``<controldir>/rte/.pps-rte.lock`` (made with ``rte/`` if missing)."""
        rte = _open_dirs(conf.controldir, ("rte",), create=True, base_must_exist=True)
        if rte is None:
            raise PublishError(f"the [arex] controldir {conf.controldir} does not exist")
        try:
            where = os.path.join(conf.controldir, "rte", LOCK_NAME)
            with locked_at(rte, LOCK_NAME, where):
                yield
        finally:
            os.close(rte)

    # -- arcctl
    def _run_arcctl(self, args: list[str]) -> Finished:
        from probes._process import run_bounded

        if not os.access(self.arcctl, os.X_OK):
            raise PublishError(
                f"arcctl ({self.arcctl}) is not installed: install nordugrid-arc-arcctl, or "
                "take 'arc-rte' out of the site file's publish"
            )
        left = self.deadline - time.monotonic()
        env = {"PATH": _PATH, "LANG": "C", "LC_ALL": "C"}
        return run_bounded(
            [self.arcctl, "-c", self.arc_conf, *args],
            cwd=Path("/"),
            env=env,
            timeout=max(1.0, min(ARCCTL_TIMEOUT, left)),
        )

    def _arcctl_rte(self, action: str, name: str) -> str:
        """Run ``arcctl rte <action> <name>``; "" on success, else what arcctl said."""
        try:
            done = self._run_arcctl(["rte", action, name])
        except PublishError as e:  # not installed
            return str(e)
        if done.timed_out:
            return f"arcctl rte {action} {name} did not finish in time"
        if done.exit_code != 0:
            return f"arcctl rte {action} {name} failed: {_arc_message(done.output_tail)}"
        return ""

    # -- the script
    def _read_script(self, conf: ArcConf, leaf: str) -> tuple[bytes, os.stat_result] | None:
        fd = _open_dirs(conf.runtimedirs[0], _PREFIX_PARTS, create=False)
        if fd is None:
            return None
        try:
            where = os.path.join(conf.runtimedirs[0], *_PREFIX_PARTS, leaf)
            return read_regular(fd, leaf, where, MAX_SCRIPT_BYTES)
        finally:
            os.close(fd)

    def _write_script(self, conf: ArcConf, name: str, leaf: str, text: bytes) -> bool:
        where = self._script_path(conf, name)
        fd = _open_dirs(conf.runtimedirs[0], _PREFIX_PARTS, create=True)
        if fd is None:  # pragma: no cover - create=True makes every directory
            raise PublishError(f"cannot make {os.path.dirname(where)}")
        try:
            remove_stale_tmp(fd)
            found = read_regular(fd, leaf, where, MAX_SCRIPT_BYTES)
            if found is not None:
                if script_release(found[0]) is None:
                    raise UnsafePath(f"{where} was not written by pps: not changing it")
                if found[0] == text:
                    return False
            replace_regular(fd, leaf, text, where, like=found[1] if found else None)
            return True
        finally:
            os.close(fd)

    def _remove_script(self, conf: ArcConf, leaf: str, where: str) -> bool:
        fd = _open_dirs(conf.runtimedirs[0], _PREFIX_PARTS, create=False)
        if fd is None:
            return False
        try:
            remove_stale_tmp(fd)
            found = read_regular(fd, leaf, where, MAX_SCRIPT_BYTES)
            if found is None or script_release(found[0]) is None:
                return False
            os.unlink(leaf, dir_fd=fd)
            return True
        finally:
            os.close(fd)

    # -- the interface
    def publish(self, component: str, version: str, vos: Sequence[str] = ()) -> bool:
        """Write the RTE script of a verified version and enable it.  A version whose name
        has no RTE form (:func:`pps.rte.rte_name`) is not an RTE: said, and skipped."""
        try:
            name, leaf = self._names(component, version)
        except PublishError as e:
            self.said.append(str(e))
            return False
        conf = self.conf()
        self._check_names(conf, name)
        text = rte_script(component, version, self.preview_root).encode()
        ours = self._script_path(conf, name)
        with self._locked(conf):
            changed = self._write_script(conf, name, leaf, text)
            kind, target = self._link(conf, "enabled", name)
            if kind == "link" and _same_path(target, ours):
                return changed
            if kind != "missing":
                what = f"a link to {target}" if kind == "link" else target
                raise UnsafePath(
                    f"{self._link_path(conf, 'enabled', name)} is {what}, not pps's RTE "
                    f"{ours}: left alone"
                )
            failed = self._arcctl_rte("enable", name)
            kind, target = self._link(conf, "enabled", name)
            if kind != "link" or not _same_path(target, ours):
                raise PublishError(failed or f"arcctl rte enable {name} did not enable {ours}")
            return True

    def withdraw(self, component: str, version: str, vos: Sequence[str] = ()) -> bool:
        """Disable the RTE of *component* *version* if it is pps's (the script stays)."""
        return self._withdraw(component, version, remove=False)

    def retire(self, component: str, version: str, vos: Sequence[str] = ()) -> bool:
        """Disable the RTE of *component* *version* if it is pps's, and remove its script."""
        return self._withdraw(component, version, remove=True)

    def _withdraw(self, component: str, version: str, *, remove: bool) -> bool:
        try:
            name, leaf = self._names(component, version)
        except PublishError:
            return False  # no RTE name: pps never published one
        conf = self.conf()
        ours = self._script_path(conf, name)
        changed = False
        with self._locked(conf):
            found = self._read_script(conf, leaf)
            if found is not None and script_release(found[0]) is None:
                return False  # an RTE of the site's own, under pps's name: left alone
            for kind, action in (("enabled", "disable"), ("default", "undefault")):
                what, target = self._link(conf, kind, name)
                if what != "link" or not _same_path(target, ours):
                    continue  # nothing, or not pps's: left alone
                failed = self._arcctl_rte(action, name)
                what, target = self._link(conf, kind, name)
                if what == "link" and _same_path(target, ours):
                    # arcctl could not: the link is pps's own, so pps removes it itself
                    self._unlink(conf, kind, name)
                    self.said.append(f"{failed or f'arcctl rte {action} {name} left it'}; "
                                     "pps removed its link itself")  # fmt: skip
                changed = True
            if remove:
                changed = self._remove_script(conf, leaf, ours) or changed
        return changed

    def owned(self) -> list[Published]:
        """The RTE scripts pps wrote in the runtime directory."""
        conf = self.conf()
        fd = _open_dirs(conf.runtimedirs[0], _PREFIX_PARTS, create=False)
        if fd is None:
            return []
        out = []
        try:
            for leaf in sorted(os.listdir(fd)):
                if leaf.startswith("."):
                    continue
                where = os.path.join(conf.runtimedirs[0], *_PREFIX_PARTS, leaf)
                try:
                    found = read_regular(fd, leaf, where, MAX_SCRIPT_BYTES)
                except UnsafePath:
                    continue
                release = script_release(found[0]) if found else None
                name = RTE_PREFIX + leaf
                if release is not None and parse_rte_name(name) is not None:
                    out.append(Published(self.kind, *release, name, where))
        finally:
            os.close(fd)
        return out

    def enabled(self) -> list[str]:
        """The RTE names A-REX publishes now, as its information provider finds them."""
        return enabled_rtes(self.conf().controldir)

    # -- links
    def _link_path(self, conf: ArcConf, kind: str, name: str) -> str:
        return os.path.join(conf.controldir, "rte", kind, *name.split("/"))

    def _link(self, conf: ArcConf, kind: str, name: str) -> tuple[str, str]:
        parent, _, leaf = name.rpartition("/")
        return _link_at(conf.controldir, ("rte", kind, *parent.split("/")), leaf)

    def _unlink(self, conf: ArcConf, kind: str, name: str) -> None:
        parent, _, leaf = name.rpartition("/")
        fd = _open_dirs(conf.controldir, ("rte", kind, *parent.split("/")), create=False)
        if fd is None:
            return
        try:
            if stat.S_ISLNK(os.stat(leaf, dir_fd=fd, follow_symlinks=False).st_mode):
                os.unlink(leaf, dir_fd=fd)
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)


def _same_path(target: str, path: str) -> bool:
    return target.startswith("/") and os.path.normpath(target) == os.path.normpath(path)


def enabled_rtes(controldir: str) -> list[str]:
    """The RTE names enabled under *controldir*, as A-REX's provider (``RTEInfo.pm``) lists them:
    every entry below ``rte/enabled`` that is not a directory, whose target exists, and whose
    name neither starts with ``.`` nor ends with ``~``."""
    base = os.path.join(controldir, "rte", "enabled")
    names = []
    for path, dirs, files in os.walk(base):
        rel = os.path.relpath(path, base)
        for leaf in files + [d for d in dirs if os.path.islink(os.path.join(path, d))]:
            if leaf.startswith(".") or leaf.endswith("~"):
                continue
            full = os.path.join(path, leaf)
            if os.path.isdir(full) and not os.path.islink(full):
                continue
            try:
                os.stat(full)
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                    continue
                raise
            names.append(leaf if rel == "." else f"{rel}/{leaf}")
    return sorted(names)


if TYPE_CHECKING:
    from probes._process import Finished


def app_environment_records(
    *,
    site: str,
    subcluster: str,
    names: Sequence[str],
    manager_id: str,
    created: str,
    validity: int,
    parent: str,
) -> list[str]:
    """GLUE 2.0 ApplicationEnvironment LDIF records for the pps RTEs among *names* (enabled RTEs),
    as A-REX's provider publishes them: AppName and AppVersion cut at the first ``-`` followed by
    a digit, state ``installednotverified`` (what A-REX says of every enabled RTE), and
    ``PPSSite=`` so that a reader knows the site.  What ``pps-gip-provider`` prints for a site
    whose site file publishes ``arc-rte``: the operator's embedded default reads the ARC site's
    RTEs through it, no BDII needed.  Other RTEs (the site's own) are not printed."""
    from pps.glue import APPENV_CLASSES, STATE_NOT_VERIFIED, app_env_id, escape_dn_value, ldif_entry
    from pps.rte import split_rte_name

    out = []
    for name in sorted(names):
        if parse_rte_name(name) is None:
            continue
        app_name, app_version = split_rte_name(name)
        app_id = app_env_id(subcluster, name)
        attrs = [("objectClass", c) for c in APPENV_CLASSES]
        attrs += [
            ("GLUE2EntityCreationTime", created),
            ("GLUE2EntityValidity", str(validity)),
            ("GLUE2EntityOtherInfo", f"PPSSite={site}"),
            ("GLUE2EntityOtherInfo", "InfoProviderName=pps-gip-provider (ARC RTE)"),
            ("GLUE2ApplicationEnvironmentID", app_id),
            ("GLUE2ApplicationEnvironmentAppName", app_name),
            ("GLUE2ApplicationEnvironmentAppVersion", app_version),
            ("GLUE2ApplicationEnvironmentState", STATE_NOT_VERIFIED),
            ("GLUE2ApplicationEnvironmentComputingManagerForeignKey", manager_id),
        ]
        out.append(
            ldif_entry(f"GLUE2ApplicationEnvironmentID={escape_dn_value(app_id)},{parent}", attrs)
        )
    return out
