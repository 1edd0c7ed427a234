"""Running a manifest's local tests in the preview environment of an installed tree.

Each test is ``bash -c '. <tree>/pps-env.sh || exit 125; <command>'`` run in the tree, with the
probe's own environment underneath (so the site's production profile.d and then the preview
decide what the command sees), its own time limit and its own process group.  When the probe
runs as root the tests run as the site's ``test_user`` (default ``nobody``), without
supplementary groups; either way with a scratch ``HOME`` (and ``TMPDIR``) of their own that is
removed afterwards.  The tests come from the signed tarball, but they are the release's code: they
get no more rights than a grid job would.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from pps.errors import BadInput, PPSError
from pps.manifest import Manifest
from probes._process import TAIL_CHARS, Finished, run_bounded
from probes._records import LocalTestResult
from probes._site import remove_tree
from probes._tree import ENV_SCRIPT, shell_quote

_log = logging.getLogger("nagiosplugin." + __name__)


#: Exit code of a test whose preview environment could not be set up (bash's "cannot execute").
ENV_FAILED = 125


def local_test_argv(tree: Path, command: str) -> list[str]:
    """The argv that runs *command* in the preview environment of *tree*.

    The environment is set up first and the command follows on its own lines, so a command of
    several lines runs whole, and only when the environment could be sourced.
    """
    env = shell_quote(str(tree / ENV_SCRIPT))
    setup = f". {env} || {{ echo 'pps: cannot source {ENV_SCRIPT}' >&2; exit {ENV_FAILED}; }}"
    return ["bash", "-c", f"{setup}\n{command}"]


class Unreachable(PPSError):
    """The account the tests run as cannot reach the tree (nor could a grid job)."""


def check_reachable(tree: Path, account: tuple[str, int, int]) -> None:
    """Every directory from ``/`` down to *tree* must be searchable by *account*: the tests
    run as it, and jobs of pool accounts need the same to use the preview."""
    name, uid, gid = account
    path = Path("/")
    for part in tree.parts[1:]:
        path = path / part
        st = os.stat(path)
        bit = 0o100 if st.st_uid == uid else 0o010 if st.st_gid == gid else 0o001
        if not st.st_mode & bit:
            raise Unreachable(
                f"the tests run as {name}, who cannot reach {path} (mode "
                f"{st.st_mode & 0o7777:04o}); grid jobs could not either: make the preview "
                "root and its parents searchable by all (chmod o+x)"
            )


def test_account(name: str) -> tuple[str, int, int] | None:
    """``(name, uid, gid)`` the tests run as: *name* when the probe is root, else ``None`` (the
    probe's own account)."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        raise BadInput(f"test_user {name!r} does not exist at this site") from None
    return pw.pw_name, pw.pw_uid, pw.pw_gid


def _ended(done: Finished) -> str:
    if done.timed_out:
        return "was killed at its timeout"
    if done.exit_code is not None and done.exit_code < 0:
        return f"was killed by signal {-done.exit_code}"
    return f"exited with {done.exit_code}"


def _stopped(name: str, timeout: float, cut: Finished, why: BaseException) -> LocalTestResult:
    """The result of a test the probe stopped (its own --timeout, a signal) while it ran."""
    import nagiosplugin  # loaded already: the probe is a nagiosplugin check

    reason = f"the probe's --timeout of {why}" if isinstance(why, nagiosplugin.Timeout) else ""
    reason = reason or str(why) or type(why).__name__
    tail = cut.output_tail
    tail += ("\n" if tail and not tail.endswith("\n") else "") + "pps: stopped after "
    tail += f"{cut.seconds:g}s: {reason}\n"
    return LocalTestResult(name=name, ok=False, exit_code=None, seconds=cut.seconds,
                           output_tail=tail[-TAIL_CHARS:], timed_out=True, timeout=timeout,
                           stopped=reason)  # fmt: skip


def run_local_tests(
    manifest: Manifest,
    tree: Path,
    *,
    scratch_dir: Path,
    account: tuple[str, int, int] | None = None,
    running_dir: Path | None = None,
    label: str = "",
    results: list[LocalTestResult] | None = None,
) -> tuple[LocalTestResult, ...]:
    """Run every test of *manifest* in *tree*, in manifest order, as *account* if given.

    Each result is appended to *results* (if given) as it comes, so that a caller whose run is
    stopped meanwhile (the probe's --timeout, a signal) still has them: the test that was
    running is there too, ``stopped``, with its output so far.
    """
    if not manifest.tests:
        return ()
    if account is not None:
        check_reachable(tree, account)
    home = Path(tempfile.mkdtemp(prefix="home-", dir=scratch_dir))
    try:
        env = dict(os.environ, HOME=str(home), TMPDIR=str(home))
        user = None
        if account is not None:
            name, uid, gid = account
            os.chown(home, uid, gid)
            env.update(USER=name, LOGNAME=name)
            user = (uid, gid)
        results = [] if results is None else results
        for test in manifest.tests:
            _log.info("running test %s: %s", test.name, test.command)
            stopped: list[Finished] = []
            try:
                done = run_bounded(
                    local_test_argv(tree, test.command),
                    cwd=tree,
                    env=env,
                    timeout=test.timeout,
                    scratch_dir=scratch_dir,
                    user=user,
                    running_dir=running_dir,
                    label=label,
                    stopped=stopped,
                )
            except BaseException as e:
                for cut in stopped:
                    results.append(_stopped(test.name, test.timeout, cut, e))
                raise
            tail = done.output_tail
            if done.left_behind:
                tail += f"\npps: killed what the test left running: {', '.join(done.left_behind)}"
            if done.exit_code != 0 and not tail.strip():
                tail = f"pps: the test printed nothing (stdout and stderr) and {_ended(done)}\n"
            result = LocalTestResult(
                name=test.name,
                ok=done.exit_code == 0,
                exit_code=done.exit_code,
                seconds=done.seconds,
                output_tail=tail,
                timed_out=done.timed_out,
                timeout=test.timeout,
            )
            _log.info("test %s %s in %.2fs", test.name, result.verdict, done.seconds)
            results.append(result)
        return tuple(results)
    finally:
        remove_tree(home)
