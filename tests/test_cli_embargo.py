"""An embargoed (security) release is pushed and tested like any other, and appears in no
public output (bulletin index.html, map.json, feed.atom, mail to lists) until
'pps release unembargo'."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import smtp_helpers
from tests.grid import Grid
from tests.smtp_helpers import SMTPServer, notify_section

smtp_server = smtp_helpers.smtp_server

PASSING = "[[tests]]\nname = 'tool-runs'\ncommand = 'tool | grep -q 1.0'\ntimeout = 20\n"
SECRET = ("secfix", "9.9.9-1")


def _create(grid: Grid, component: str, version: str, *extra: str) -> None:
    src = grid.source(f"{component}-{version}", tests=PASSING)
    grid.ok("release", "create", component, version, "--from", str(src), "--class",
        "bc-client", "--type", "emergency", *extra)  # fmt: skip


def _public_outputs(grid: Grid, out: Path, server: SMTPServer) -> dict[str, str]:
    """Every public output, as text: the bulletin's three files and the mail sent to lists."""
    grid.ok("bulletin", "build", "--out", str(out))
    texts = {name: (out / name).read_text() for name in ("index.html", "map.json", "feed.atom")}
    texts["mail to lists"] = "\n".join(
        str(r.message) for r in server.received if r.recipients != ["alice@example.org"]
    )
    return texts


def test_an_embargoed_release_is_tested_at_the_sites_and_in_no_public_output(
    grid: Grid, smtp_server: SMTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PPS_NOW", "2026-03-02T09:00:00Z")
    grid.config.write_text(grid.config.read_text() + notify_section(smtp_server.port))
    component, version = SECRET
    _create(grid, "public", "1.0")
    _create(grid, component, version, "--embargo", "--bug", "CVE-2026-1=root exploit "
            "<alice@example.org>")  # fmt: skip
    sha256 = json.loads(grid.ok("release", "show", component, version, "--json"))[
        "release"]["sha256"]  # fmt: skip
    assert grid.invoke("push", "public", "1.0").exit_code == 0
    pushed = grid.invoke("push", component, version)
    tagged = grid.tags("ALPHA", "dteam")  # tested at the sites (the close retires it)
    verified = grid.ok("release", "verify", component, version)
    grid.ok("release", "accept", component, version, "--site", "ALPHA")
    grid.ok("release", "report", component, version, "--site", "ALPHA", "--outcome",
        "success", "--effort", "2PH")  # fmt: skip
    closed = grid.ok("release", "close", component, version, "--outcome", "success",
                 "--summary", "fixed")  # fmt: skip

    hidden = _public_outputs(grid, tmp_path / "before", smtp_server)
    queue = json.loads(grid.ok("notify", "queue", "--json"))
    lifted = grid.ok("release", "unembargo", component, version, "--why", "advisory out")
    shown = _public_outputs(grid, tmp_path / "after", smtp_server)

    assert pushed.exit_code == 0, pushed.output
    assert f"VO-dteam-PPS-{component}-{version}" in tagged
    assert verified.splitlines()[1:] == [
        "mail: sent 1 (personal to alice@example.org)",
        "mail: 1 to lists held while the release is embargoed ('pps release unembargo' sends them)",
    ]
    assert (
        "mail: 1 to lists held while the release is embargoed ('pps release unembargo' sends them)"
    ) in closed.splitlines()
    for name, text in hidden.items():
        assert "public" in text or name == "mail to lists", name
        for secret in (component, sha256):
            assert secret not in text, f"{secret} is in {name}"
    assert [(m["kind"], m["status"]) for m in queue] == [("broadcast", "held"),
                                                         ("announce", "held")]  # fmt: skip
    assert lifted.splitlines() == [  # closed meanwhile: "is in preview" is no longer true
        f"{component} {version}: embargo lifted",
        "mail: sent 1 (announce to site-admins@example.org)",
        f"mail: 1 held mail(s) dropped: {component} {version} is no longer in preview, so what "
        "they say is no longer true",
    ]
    assert component in shown["map.json"] and component in shown["index.html"]
    assert component in shown["feed.atom"] and component in shown["mail to lists"]
    history = json.loads(grid.ok("release", "show", component, version, "--json"))["events"]
    assert (history[-1]["kind"], history[-1]["why"]) == ("unembargo", "advisory out")


def test_unembargo_of_a_release_that_is_not_embargoed_is_refused(grid: Grid) -> None:
    _create(grid, "public", "1.0")

    result = grid.invoke("release", "unembargo", "public", "1.0")

    assert result.exit_code == 2
    assert result.output == "Error: public 1.0 is not embargoed\n"
