"""The mixed demo grid (issue 16, "Done when"): the embedded default gains an ARC-CE (HALO-ARC,
the real ``arcctl``) and an HTCondor node (IRIS-CONDOR), no server needed, and the demo shows all
three kinds live, then retired."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pps.rte import parse_condor_value
from tests.arc_helpers import ARCCTL
from tests.realparts import require

UI_RTE = "ENV/PPS/GLITE-UI-3.2.8-0"


def test_the_demo_grid_has_each_kind_of_site_live_then_retired(tmp_path: Path) -> None:
    require(ARCCTL, "nordugrid-arc-arcctl")
    out = tmp_path / "demo-output"

    run = subprocess.run(
        [sys.executable, "-m", "distributor.cli", "demo", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert any(line.startswith("  8 local sites: ") and line.endswith(
        "HALO-ARC (gold, arc), IRIS-CONDOR (gold, condor)") for line in lines)  # fmt: skip
    pushed = {line.split()[0]: line for line in lines if line.startswith("  ") and " OK " in line}
    assert pushed["HALO-ARC"].endswith(f"2/2 tests passed, enabled as ARC RTE {UI_RTE}")
    assert pushed["IRIS-CONDOR"].endswith("2/2 tests passed, advertised in HTCondor's PPS_RTE")
    assert (
        "  glite-UI 3.2.8-0: AURORA-LCG2, BOREAL-T2, CORAL-GRID, DELTA-HEP, EMBER-CLOUD, "
        "HALO-ARC, IRIS-CONDOR (as expected)"
    ) in lines
    assert "    told 8/8 site(s) to retire it" in lines
    # retired: A-REX has no pps RTE enabled any more, its script is gone, the pool says none
    arc = out / "sites/HALO-ARC"
    listing = subprocess.run(
        [ARCCTL, "-c", str(arc / "etc/arc.conf"), "rte", "list", "-e"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listing.returncode == 0 and listing.stdout.split() == []
    assert not (arc / "etc/arc/rte" / UI_RTE).exists()
    snippet = (out / "sites/IRIS-CONDOR/etc/condor/config.d/55-pps-rte.conf").read_text()
    value = next(v for v in snippet.splitlines() if v.startswith("PPS_RTE = "))
    assert parse_condor_value(value.split("=", 1)[1].strip().strip('"')) == ["PPS-PREVIEW"]
    assert "EXPECTED" not in run.stdout and "NOT as expected" not in run.stdout
