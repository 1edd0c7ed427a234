"""pps core: the shared domain of the preview rollout, standard library only.

Every part of pps (probes at the sites, the operator's distributor, the bulletin, the JDL
templates) speaks through the formats defined here: the component/version/tag grammar, update and
partner classes, the tarball manifest, the repository index, the site inventory and GLUE LDIF.
This package imports nothing outside the standard library (``tomli`` on Python < 3.11 is the
backport of ``tomllib`` and is loaded only by :mod:`pps.tomlfile`) and must keep running on the
Python 3.9 of an older site.
"""

__version__ = "0.1.0"
