"""Job descriptions for VO users: gLite JDL, ARC xRSL and HTCondor submit files for previews.

The job templates of every language, the worker-node wrapper they ship and the escaping are in
:mod:`jdl_templates.jobs` (``render_job``, ``list_templates(lang)``); ``pps match`` is
:mod:`jdl_templates.matching`.  What follows is the original gLite-WMS JDL API, kept as it was.

A VO user picks a preview version with one JDL requirement on the RunTimeEnvironment tag the
site publishes; this package renders such jobs from the ``*.jdl.j2`` templates beside it and
checks JDL text with the real ClassAd engine (``classad2`` from the ``htcondor`` wheel, a test
extra, imported only when a JDL is parsed).  It only re-exports; see :mod:`jdl_templates.render`
and :mod:`jdl_templates.classads`.
"""

from __future__ import annotations

from jdl_templates.classads import (
    ClassAdUnavailable,
    classad_string,
    match,
    parse_jdl,
    requirement,
)
from jdl_templates.render import list_templates, render

__all__ = [
    "ClassAdUnavailable",
    "classad_string",
    "list_templates",
    "match",
    "parse_jdl",
    "render",
    "requirement",
]
