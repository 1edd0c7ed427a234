"""``python -m distributor.cli``: the ``pps`` command."""

from distributor.cli import main

main()
