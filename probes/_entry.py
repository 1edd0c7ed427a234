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
  exit handlers (:mod:`atexit`: logging's flush, and any a site's ``sitecustomize`` adds) and
  the flush of standard output and error (a failed flush exits 120, as Python does).  Every
  file the probe writes is closed (and fsync'd) before its result is printed, and it runs no
  thread; should a thread be running, or the interpreter lack the exit handlers' hook, it exits
  the normal way.
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
    if run_exit_handlers is None or (threading is not None and threading.active_count() > 1):
        sys.exit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # as Python does: the message on standard error, status 1
        sys.stderr.write(f"{code}\n")
        status = 1
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            status = 120
    os._exit(status & 0xFF)
