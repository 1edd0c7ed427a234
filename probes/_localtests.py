"""Running a manifest's local tests in the preview environment of an installed tree.

Each test is ``bash -c '. <tree>/pps-env.sh || exit 125; <command>'`` run in the tree, with the
probe's own environment underneath (so the site's production profile.d and then the preview
decide what the command sees), its own time limit and its own process group.
"""

from __future__ import annotations

import logging
import os
import shlex
from pathlib import Path

from pps.manifest import Manifest
from probes._process import run_bounded
from probes._state import LocalTestResult
from probes._tree import ENV_SCRIPT

_log = logging.getLogger("nagiosplugin." + __name__)


#: Exit code of a test whose preview environment could not be set up (bash's "cannot execute").
ENV_FAILED = 125


def local_test_argv(tree: Path, command: str) -> list[str]:
    """The argv that runs *command* in the preview environment of *tree*.

    The environment is set up first and the command follows on its own lines, so a command of
    several lines runs whole, and only when the environment could be sourced.
    """
    env = shlex.quote(str(tree / ENV_SCRIPT))
    setup = f". {env} || {{ echo 'pps: cannot source {ENV_SCRIPT}' >&2; exit {ENV_FAILED}; }}"
    return ["bash", "-c", f"{setup}\n{command}"]


def run_local_tests(
    manifest: Manifest, tree: Path, *, scratch_dir: Path | None = None
) -> tuple[LocalTestResult, ...]:
    """Run every test of *manifest* in *tree*, in manifest order."""
    results = []
    for test in manifest.tests:
        _log.info("running test %s: %s", test.name, test.command)
        done = run_bounded(
            local_test_argv(tree, test.command),
            cwd=tree,
            env=os.environ,
            timeout=test.timeout,
            scratch_dir=scratch_dir,
        )
        result = LocalTestResult(
            name=test.name,
            ok=done.exit_code == 0,
            exit_code=done.exit_code,
            seconds=done.seconds,
            output_tail=done.output_tail,
            timed_out=done.timed_out,
            timeout=test.timeout,
        )
        _log.info("test %s %s in %.2fs", test.name, result.verdict, done.seconds)
        results.append(result)
    return tuple(results)
