"""ARC's own xRSL (and ADL) parser, run through Debian's python3 (``python3-nordugrid-arc``).

ARC's Python bindings are built for the distribution's interpreter, not for a venv of another
one, so the parse runs as a subprocess of ``/usr/bin/python3`` (``PPS_ARC_PYTHON`` names
another): ``arc.JobDescription.Parse(text, jobs, "nordugrid:xrsl", "")``.  :func:`parse_xrsl`
returns what pps needs from the job as plain data (executable, arguments, the runtime
environments it asks for, files, and the resources a match compares).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from typing import Any

from pps.errors import BadInput, PPSError

#: The interpreter that has ARC's bindings (``import arc``).
DEFAULT_PYTHON = "/usr/bin/python3"

_SCRIPT = r"""
import json, sys
try:
    import arc
except ImportError as e:
    json.dump({"unavailable": str(e)}, sys.stdout)
    sys.exit(0)
request = json.load(sys.stdin)
text = request["text"]
jobs = arc.JobDescriptionList()
ok = arc.JobDescription.Parse(text, jobs, request["dialect"], "")
if not ok or jobs.size() != 1:
    json.dump({"error": "ARC's parser refuses it"}, sys.stdout)
    sys.exit(0)
j = jobs.front()
res = j.Resources
rte = res.RunTimeEnvironment
def rng(r):
    return [r.min, r.max]
out = {
    "executable": j.Application.Executable.Path,
    "arguments": list(j.Application.Executable.Argument),
    "jobname": j.Identification.JobName,
    "stdout": j.Application.Output,
    "stderr": j.Application.Error,
    "runtimeenvironments": [str(s) for s in rte.getSoftwareList()],
    "inputfiles": [f.Name for f in j.DataStaging.InputFiles],
    "outputfiles": [f.Name for f in j.DataStaging.OutputFiles],
    "memory": res.IndividualPhysicalMemory.max,
    "cputime": res.TotalCPUTime.range.max,
    "walltime": res.TotalWallTime.range.max,
    "os": [str(s) for s in res.OperatingSystem.getSoftwareList()],
    "architecture": res.Platform,
    "queue": res.QueueName,
    "satisfied": [
        bool(rte.isSatisfied([arc.Software(n) for n in names])) if not rte.empty() else True
        for names in request["resources"]
    ],
}
json.dump(out, sys.stdout)
"""


class ArcUnavailable(PPSError):
    """ARC's xRSL parser (Debian's ``python3-nordugrid-arc``) is not installed."""


def arc_python() -> str:
    return os.environ.get("PPS_ARC_PYTHON") or DEFAULT_PYTHON


#: ARC's names of the two job languages pps writes for ARC-CEs.
DIALECTS = {"xrsl": "nordugrid:xrsl", "adl": "emies:adl"}


def parse_xrsl(
    text: str,
    source: str = "the job",
    resources: Sequence[Sequence[str]] = (),
    lang: str = "xrsl",
) -> dict[str, Any]:
    """Parse *text* with ARC's parser; BadInput naming *source* when ARC refuses it.

    With *resources* (each a list of the RunTimeEnvironment names a CE offers), the answer's
    ``satisfied`` says for each whether ARC's own ``SoftwareRequirement.isSatisfied`` accepts
    it (ARC compares names exactly: pps names are upper case, :func:`pps.rte.rte_name`).
    *lang* ``adl`` parses ADL (``emies:adl``) instead.
    """
    if not isinstance(text, str) or not text.strip():
        raise BadInput(f"{source} is empty")
    python = arc_python()
    try:
        done = subprocess.run(
            [python, "-I", "-c", _SCRIPT],
            input=json.dumps(
                {
                    "text": text,
                    "resources": [list(r) for r in resources],
                    "dialect": DIALECTS[lang],
                }
            ),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError as e:
        raise ArcUnavailable(
            f"cannot run {python} for ARC's xRSL parser ({e.strerror}): install Debian's "
            "python3-nordugrid-arc, or set PPS_ARC_PYTHON"
        ) from None
    except subprocess.TimeoutExpired:
        raise PPSError(f"ARC's xRSL parser did not answer within 60 s for {source}") from None
    try:
        data = json.loads(done.stdout)
    except ValueError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise PPSError(f"ARC's xRSL parser failed on {source}: {last}") from None
    if "unavailable" in data:
        raise ArcUnavailable(
            f"{python} cannot import ARC ({data['unavailable']}): install Debian's "
            "python3-nordugrid-arc, or set PPS_ARC_PYTHON"
        )
    if "error" in data:
        what = "ADL" if lang == "adl" else "xRSL"
        raise BadInput(f"{source} is not valid {what}: {data['error']}")
    return dict(data)
