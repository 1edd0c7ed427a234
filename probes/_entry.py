"""The probe as a site starts it: the console script's entry point, and the one-file probe's.

Nagios starts ``check_preview_client`` every few minutes at every site, and a steady-state run
must cost about what ``python3 -c "import nagiosplugin"`` does.  Two costs of a short Python
process are not the probe's work, and this entry point, the only one a site runs, cuts them
(``main()`` itself, which tests and ``python -m`` call, is left as it is):

* **the cyclic garbage collector while the modules load**: the thousands of objects imports
  make live until the exit, yet the collector walks them again and again as they appear (some
  3 ms a run).  It is off while the probe's modules load; then what they made is frozen
  (:func:`gc.freeze`: never walked again) and the collector is on for the run itself.
* **the interpreter's teardown**: once the check has printed its result, Python would free every
  module and object one by one (5 to 9 ms a run) for a process that is about to end.  So the
  process ends with :func:`os._exit`, after what a normal exit does that anyone could see: the
  exit handlers (:mod:`atexit`: logging's flush and close of every handler, any a site's
  ``sitecustomize`` adds, :func:`weakref.finalize` callbacks marked for the exit) and the flush
  of standard output and error (should it fail, the process goes on to Python's own exit, which
  says why and exits 120).  What is skipped is the freeing itself, so the finaliser of an object
  still alive at the end does not run (a file left open, flushed only when it is freed): the
  probe leaves none, as every file it writes is closed before its result line (its records
  fsync'd before they replace the old ones), and it runs no thread.  Should a thread be running,
  or the interpreter lack the exit handlers' hook, it exits the normal way.
  ``tests/test_probe_startup.py`` holds the exit code and output to a normal exit's for every
  state, a traceback, an escaping exception and a failed flush.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn


def check_preview_client() -> NoReturn:
    """Run ``probes.check_preview_client.main`` as a site runs it (see the module)."""
    gc.disable()
    try:
        from probes.check_preview_client import main
    finally:
        gc.freeze()
        gc.enable()
    try:
        main()
    except SystemExit as e:
        exit_now(e.code)
    exit_now(0)


def exit_now(code: str | int | None) -> NoReturn:
    """End the process as ``sys.exit(code)`` would, without the interpreter's teardown."""
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    threading = sys.modules.get("threading")
    if code is None:
        status = 0
    elif isinstance(code, int) and -(2**31) <= code < 2**31:
        status = code
    elif isinstance(code, int) or sys.stderr is None:
        sys.exit(code)  # what Python makes of these, the normal way
    else:  # as Python does: the message on standard error, status 1
        sys.stderr.write(f"{code}\n")
        status = 1
    if run_exit_handlers is None or (threading is not None and threading.active_count() > 1):
        sys.exit(status)
    try:
        run_exit_handlers()
    except BaseException:  # Python 3.9/3.10 raise the last handler's error again, after
        pass  # showing each: Python's own exit, too, shows them and goes on
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            # Python's own exit flushes again, says why it cannot ("Exception ignored in...")
            # and exits 120; the exit handlers, already run, are not run twice.
            sys.exit(status)
    os._exit(status & 0xFF)
