"""pps distributor: the release manager's and operator's side.

It builds preview tarballs into the repository, keeps the release records, carries a release to
the partner sites through a transport and runs the site-side probe there, records every site's
outcome, and hosts the ``pps`` command line.  It never imports :mod:`probes`: it *runs* it at
the site, as a program, exactly as Nagios does.
"""
