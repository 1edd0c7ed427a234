"""The ``pps`` command as an operator starts it: the console script's entry point.

The cyclic garbage collector is off while the command line's modules load (click, pps's own):
the objects imports make live until the exit, yet the collector would walk them again and again
as they appear.  Then what they made is frozen (:func:`gc.freeze`: never walked again) and the
collector is on for the command itself, so a command that decodes a large BDII answer does not
walk every module's objects at each collection either.  Nothing else changes:
``distributor.cli.main`` runs as it would (tests and ``python -m distributor.cli`` call it
directly).
"""

from __future__ import annotations

import gc


def pps() -> None:
    """Run the ``pps`` command line (see the module)."""
    gc.disable()
    try:
        from distributor.cli import main
    finally:
        gc.freeze()
        gc.enable()
    main()
