"""Render the ``*.jdl.j2`` templates beside this module into gLite-WMS JDL.

Templates see validated names only: component, version and VO pass the :mod:`pps.names`
grammar (a bad one is refused, naming it), free text (executable, arguments) is checked for
control characters and reaches the JDL only through the ``classad`` filter, which writes a
quoted, escaped ClassAd string.  The ``member`` filter writes the requirement on a tag.  jinja2
runs without HTML autoescaping (this is not HTML) and with strict undefined variables.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from jdl_templates.classads import check_text, classad_string, requirement
from pps.errors import BadInput, NotFound
from pps.names import PREVIEW_CAPABILITY, version_tag

TEMPLATE_DIR = Path(__file__).resolve().parent
SUFFIX = ".jdl.j2"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
    autoescape=False,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["classad"] = classad_string
_env.filters["member"] = requirement


def list_templates() -> list[str]:
    """Names of the JDL templates (``job``, ...), sorted."""
    return sorted(p.name[: -len(SUFFIX)] for p in TEMPLATE_DIR.glob(f"*{SUFFIX}"))


def render(
    template: str = "job",
    *,
    component: str,
    version: str,
    vo: str,
    executable: str = "/bin/hostname",
    arguments: str = "",
) -> str:
    """The JDL of *template* for a job of *vo* that needs *component* *version*.

    Raises BadInput naming a bad value and NotFound for an unknown template.
    """
    names = list_templates()
    if template not in names:
        raise NotFound(f"no JDL template {template!r} (templates: {', '.join(names)})")
    tag = version_tag(vo, component, version)
    check_text(executable, "executable")
    if not executable.strip():
        raise BadInput(f"executable must not be blank, got {executable!r}")
    check_text(arguments, "arguments")
    return _env.get_template(template + SUFFIX).render(
        component=component,
        version=version,
        vo=vo,
        tag=tag,
        capability=PREVIEW_CAPABILITY,
        executable=executable,
        arguments=arguments,
    )
