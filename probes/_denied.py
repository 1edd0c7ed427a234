"""What a permission the probe's account lacks means to the site admin: one line.

Every line says which account the probe runs as, which path it may not use (the first
directory on the way that it may not enter, when that is the cause), and what to do: run the
probe as root, or the command that gives the account what it needs (``chmod o+r``, ``chmod
o+x``, ``chown -R USER:GROUP`` of the preview root or the subcluster's tags directory).  Every
line begins ``permission denied: the probe runs as USER (uid N), who may not ...``.

Imported only when a permission was denied: never on a run's start-up path.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from probes._run import Request

PREFIX = "permission denied: "


def account() -> tuple[str, str, int]:
    """``(user, group, uid)`` of the probe's effective account (numbers for unnamed ones)."""
    import grp
    import pwd

    uid, gid = os.geteuid(), os.getegid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = str(gid)
    return user, group, uid


def _line(what: str, fix: str, why_root: str = "") -> str:
    user, _, uid = account()
    head = f"{PREFIX}the probe runs as {user} (uid {uid}), who may not {what}: "
    if uid == 0:  # root refused: a network file system that maps root to another account
        return head + fix + " (a network file system that does not trust root?)"
    return head + f"run the probe as root{why_root}, or " + fix


def unsearchable(path: str) -> str | None:
    """The first directory on the way to *path* (an absolute path) that the account may not
    enter, or ``None``."""
    here = "/"
    for part in path.strip("/").split("/")[:-1]:
        here = os.path.join(here, part)
        if os.path.isdir(here) and not os.access(here, os.X_OK):
            return here
    return None


def read_line(path: str, what: str) -> str:
    """The line for *what* (``the site file``) at *path* that the account may not read."""
    user = account()[0]
    blocked = unsearchable(path)
    if blocked is not None:
        return _line(
            f"enter {blocked} (on the way to {what} {path})",
            f"let {user} enter it (chmod o+x {blocked})",
        )
    return _line(f"read {what} {path}", f"let {user} read it (chmod o+r {path})")


def run_line(path: str) -> str:
    """The line for a program at *path* (the configuration hook) the account may not run."""
    user, _, uid = account()
    blocked = unsearchable(path)
    if blocked is not None:
        return read_line(path, "the configuration hook")
    if uid == 0:
        return f"{path} is not executable (chmod +x {path})"
    return _line(f"run {path}", f"let {user} run it (chmod a+rx {path})")


def write_line(path: str, req: Request) -> str:
    """The line for *path* (under the preview root or the info dir, or elsewhere) that the
    account may not write, create or make files in."""
    user, group, _ = account()
    owner = f"{user}:{group}"
    info, root = str(req.info_dir), str(req.preview_root)
    ours = (info, root)
    blocked = unsearchable(path)
    if blocked is not None and not any(_inside(blocked, r) for r in ours):
        return _line(f"enter {blocked} (on the way to {path})",
                     f"let {user} enter it (chmod o+x {blocked})")  # fmt: skip
    parent, name = os.path.split(path)
    try:
        st = os.lstat(path)
    except OSError:
        st = None
    if st is not None:
        what = f"write {path}"
        if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
            what += f" (it belongs to uid {st.st_uid}, gid {st.st_gid})"
    elif name.startswith(".") and name.endswith(".tmp"):  # a file written by rename
        what = f"create files in {parent}"
    else:
        what = f"create {path}"
    if _inside(path, info) or _inside(info, path):
        cell = os.path.join(info, req.subcluster)
        target = cell if _inside(path, cell) and os.path.isdir(cell) else info
        return _line(
            what,
            f"let {user} write {target} (chown -R {owner} {target})",
            f" (it writes the tags files under {info})",
        )
    if _inside(path, root) or _inside(root, path):
        make = "" if os.path.lexists(root) else f"mkdir -p {root} && "
        where = f" in {req.site_file}" if req.site_file else " (--preview-root)"
        return _line(
            what,
            f"give {user} a preview root of its own ({make}chown -R {owner} {root}), or set "
            f"preview_root{where} to a directory {user} owns",
        )
    return _line(what, f"let {user} use {path}")


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")
