"""JDL templates for VO users: a gLite-WMS job that asks for one preview version.

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
