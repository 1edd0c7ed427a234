"""bulletin.collect: the version map built from an index, sites and their published LDIF."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import jdl_templates
from bulletin import MAP_FORMAT, build_map, render_json
from bulletin.collect import is_web_url, requirement, version_key
from pps.errors import BadInput
from pps.glue import (
    RTE_ATTR,
    STATE_BROKEN,
    STATE_NOT_VERIFIED,
    STATE_PENDING_REMOVAL,
    parse_ldif,
)
from tests.bulletin_helpers import GENERATED, LooseSite, index, ldif, release, site, tag

RTE = "other.GlueHostApplicationSoftwareRunTimeEnvironment"
UI8 = ("glite-UI", "3.2.8-0")
UI10 = ("glite-UI", "3.2.10-0")


def scenario() -> tuple[object, list[object], dict[str, str], dict[str, str]]:
    """Four sites: A live (one tag in upper case), B broken, C unreachable, D nothing."""
    idx = index(
        release(
            *UI8,
            notes_url="https://pps.example.org/notes/glite-UI-3.2.8-0",
            feedback_url="https://pps.example.org/feedback?release=glite-UI-3.2.8-0",
        ),
        release(*UI10, update_class="nbc-client", release_type="major", stage="unverified"),
        release("glite-SEC", "1.0.1", update_class="bc-client", embargo=True),
    )
    sites = [
        site("SITE-D", "none", ("dteam",)),
        site("SITE-A", "silver", ("dteam", "vo.neugrid.eu")),
        site("SITE-C", "gold", ("ops",)),
        site("SITE-B", "none", ("dteam",)),
    ]
    published = {
        "SITE-A": ldif(
            "SITE-A",
            tag("dteam", *UI8),
            "VO-VO.NEUGRID.EU-pps-GLITE-ui-3.2.8-0",
            (tag("dteam", *UI10), STATE_NOT_VERIFIED),
            tag("dteam", "glite-SEC", "1.0.1"),
            "VO-dteam-PPS-glite-UI-3.1.0-0",
            "VO-atlas-production-15.6.1",
            "GLITE-3_2_0",
        ),
        "SITE-B": ldif("SITE-B", (tag("dteam", *UI8), STATE_BROKEN)),
        "SITE-D": ldif("SITE-D", capability=False),
    }
    errors = {"SITE-C": "unreachable: ldap://bdii.site-c.example.org:2170 timed out after 30 s"}
    return idx, sites, published, errors


def vo_entry(vo: str, component: str, version: str, sites: list[str]) -> dict[str, object]:
    t = tag(vo, component, version)
    req = f'Member("{t}", {RTE})'
    return {"tag": t, "requirements": req, "jdl": f"Requirements = {req};", "sites": sites}


V1_VERSION_KEYS = (
    "stage", "update_class", "release_type", "sha256", "created", "notes_url", "feedback_url",
    "sites", "broken_at", "targets", "states", "vos",
)  # fmt: skip
V1_SITE_KEYS = ("partner", "vos", "preview_capable", "error", "unknown_tags")


def v1_part(got: dict[str, Any]) -> dict[str, Any]:
    """The keys format pps-map/1 had (pps-map/2 keeps them all and adds more)."""
    return {
        "format": got["format"],
        "generated": got["generated"],
        "components": {
            c: {v: {k: d[k] for k in V1_VERSION_KEYS} for v, d in vs.items()}
            for c, vs in got["components"].items()
        },
        "sites": {n: {k: d[k] for k in V1_SITE_KEYS} for n, d in got["sites"].items()},
    }


def test_map_json_says_where_each_version_is_live_broken_or_unknown() -> None:
    idx, sites, published, errors = scenario()
    vmap = build_map(idx, sites, published=published, errors=errors, generated=GENERATED)
    every = ["SITE-A", "SITE-B", "SITE-C", "SITE-D"]
    got = json.loads(render_json(vmap))
    assert got["format"] == "pps-map/2"
    assert got["components"]["glite-UI"]["3.2.8-0"]["cells"]["SITE-D"] == {
        "state": "not installed",
        "detail": "not pushed to the site yet",
        "seen": "2010-06-01T12:00:00Z",
    }
    assert v1_part(got) == {
        "format": "pps-map/2",
        "generated": "2010-06-01T12:00:00Z",
        "components": {
            "glite-UI": {
                "3.2.8-0": {
                    "stage": "staged-rollout",
                    "update_class": "bc-client",
                    "release_type": "minor",
                    "sha256": release(*UI8).sha256,
                    "created": "2010-05-20T09:30:00Z",
                    "notes_url": "https://pps.example.org/notes/glite-UI-3.2.8-0",
                    "feedback_url": "https://pps.example.org/feedback?release=glite-UI-3.2.8-0",
                    "sites": ["SITE-A"],
                    "broken_at": ["SITE-B"],
                    "targets": every,
                    "states": {
                        "SITE-A": "live",
                        "SITE-B": "broken",
                        "SITE-C": "site unreachable",
                        "SITE-D": "not installed",
                    },
                    "vos": {
                        "dteam": vo_entry("dteam", *UI8, ["SITE-A"]),
                        "ops": vo_entry("ops", *UI8, []),
                        "vo.neugrid.eu": vo_entry("vo.neugrid.eu", *UI8, ["SITE-A"]),
                    },
                },
                "3.2.10-0": {
                    "stage": "unverified",
                    "update_class": "nbc-client",
                    "release_type": "major",
                    "sha256": release(*UI10).sha256,
                    "created": "2010-05-20T09:30:00Z",
                    "notes_url": "",
                    "feedback_url": "",
                    "sites": ["SITE-A"],
                    "broken_at": [],
                    "targets": ["SITE-A"],
                    "states": {
                        "SITE-A": "installed not verified",
                        "SITE-B": "not for this site",
                        "SITE-C": "site unreachable",
                        "SITE-D": "not for this site",
                    },
                    "vos": {
                        "dteam": vo_entry("dteam", *UI10, ["SITE-A"]),
                        "ops": vo_entry("ops", *UI10, []),
                        "vo.neugrid.eu": vo_entry("vo.neugrid.eu", *UI10, []),
                    },
                },
            }
        },
        "sites": {
            "SITE-A": {
                "partner": "silver",
                "vos": ["dteam", "vo.neugrid.eu"],
                "preview_capable": True,
                "error": None,
                "unknown_tags": ["VO-dteam-PPS-glite-UI-3.1.0-0"],
            },
            "SITE-B": {
                "partner": "none",
                "vos": ["dteam"],
                "preview_capable": True,
                "error": None,
                "unknown_tags": [],
            },
            "SITE-C": {
                "partner": "gold",
                "vos": ["ops"],
                "preview_capable": False,
                "error": errors["SITE-C"],
                "unknown_tags": [],
            },
            "SITE-D": {
                "partner": "none",
                "vos": ["dteam"],
                "preview_capable": False,
                "error": None,
                "unknown_tags": [],
            },
        },
    }


def test_embargoed_release_and_its_tags_are_absent_from_every_output() -> None:
    idx, sites, published, errors = scenario()
    vmap = build_map(idx, sites, published=published, errors=errors, generated=GENERATED)
    assert [v.component for v in vmap.versions] == ["glite-UI", "glite-UI"]
    assert "glite-SEC" not in render_json(vmap)


def test_json_keys_keep_natural_version_order() -> None:
    idx = index(*(release("glite-UI", v) for v in ("3.2.9-0", "3.2.10-0", "3.2.8-0", "3.10.0")))
    vmap = build_map(idx, [], generated=GENERATED)
    assert list(json.loads(render_json(vmap))["components"]["glite-UI"]) == [
        "3.2.8-0",
        "3.2.9-0",
        "3.2.10-0",
        "3.10.0",
    ]
    assert version_key("3.2.9-0") < version_key("3.2.10-0") < version_key("10.0")
    mixed = ["1a2", "1a", "1.0", "1", "1-rc1", "01"]
    assert sorted(mixed, key=version_key) == ["01", "1", "1-rc1", "1.0", "1a", "1a2"]


def test_components_sort_case_insensitively() -> None:
    idx = index(release("lcg-CE", "1.0"), release("Amga", "2.0"), release("glite-UI", "3.0"))
    vmap = build_map(idx, [], generated=GENERATED)
    assert [c for c, _ in vmap.components()] == ["Amga", "glite-UI", "lcg-CE"]


def test_pending_removal_and_not_verified_states() -> None:
    idx = index(release(*UI8))
    published = {
        "P": ldif("P", (tag("dteam", *UI8), STATE_PENDING_REMOVAL)),
        "N": ldif("N", (tag("dteam", *UI8), STATE_NOT_VERIFIED)),
    }
    vmap = build_map(idx, [site("P"), site("N")], published=published, generated=GENERATED)
    states = vmap.to_dict()["components"]["glite-UI"]["3.2.8-0"]["states"]
    assert states == {"N": "installed not verified", "P": "pending removal"}


def test_glue13_only_publication_counts_as_live() -> None:
    idx = index(release(*UI8))
    entries = [
        e
        for e in parse_ldif(ldif("S", tag("dteam", *UI8)))
        if not e.has_class("GLUE2ApplicationEnvironment")
    ]
    assert entries[0].get(RTE_ATTR) == ["PPS-PREVIEW", tag("dteam", *UI8)]
    vmap = build_map(idx, [site("S")], published={"S": entries}, generated=GENERATED)
    assert vmap.versions[0].sites == ("S",)
    assert vmap.sites[0].preview_capable is True


def test_a_vo_seen_only_in_published_tags_is_listed() -> None:
    idx = index(release(*UI8))
    published = {"S": ldif("S", tag("atlas", *UI8))}
    vmap = build_map(idx, [site("S", vos=("dteam",))], published=published, generated=GENERATED)
    assert [(u.vo, u.sites) for u in vmap.versions[0].vos] == [("atlas", ("S",)), ("dteam", ())]


def test_invalid_ldif_marks_only_that_site_unreachable() -> None:
    idx = index(release(*UI8))
    published = {"BAD": "dn: x\nthis is not ldif\n", "OK": ldif("OK", tag("dteam", *UI8))}
    vmap = build_map(idx, [site("BAD"), site("OK")], published=published, generated=GENERATED)
    bad, ok = vmap.sites
    assert bad.error is not None and bad.error.startswith("LDIF published by site BAD line 2:")
    assert ok.error is None
    assert vmap.to_dict()["components"]["glite-UI"]["3.2.8-0"]["states"] == {
        "BAD": "site unreachable",
        "OK": "live",
    }


def test_site_without_information_is_unreachable_and_error_wins_over_ldif() -> None:
    idx = index(release(*UI8))
    vmap = build_map(
        idx,
        [site("SILENT"), site("BOTH")],
        published={"BOTH": ldif("BOTH", tag("dteam", *UI8))},
        errors={"BOTH": "connection refused"},
        generated=GENERATED,
    )
    assert [(s.name, s.error) for s in vmap.sites] == [
        ("BOTH", "connection refused"),
        ("SILENT", "no information was collected"),
    ]
    assert vmap.versions[0].sites == ()


def test_loose_site_objects_are_accepted() -> None:
    idx = index(release(*UI8, update_class="nbc-client"))
    sites = [LooseSite("S1", "silver", ("dteam",)), LooseSite("S2", "none", ("dteam",))]
    vmap = build_map(idx, sites, published={"S1": ldif("S1")}, errors={}, generated=GENERATED)
    assert vmap.versions[0].targets == ("S1",)


@pytest.mark.parametrize(
    ("sites", "published", "errors", "message"),
    [
        ([site("A"), site("A")], {}, {}, "site 'A' is listed twice"),
        ([site("A")], {"Z": ""}, {}, "published information is given for site 'Z', which is not"),
        ([site("A")], {}, {"Z": "down"}, "an error is given for site 'Z', which is not"),
        ([LooseSite("A", "bronze", ("dteam",))], {}, {}, "site 'A': partner class 'bronze'"),
        ([LooseSite("A", "none", ("Bad VO",))], {}, {}, "site 'A': VO name 'Bad VO'"),
    ],
    ids=["duplicate", "stray-published", "stray-error", "partner", "vo"],
)
def test_bad_site_input_is_refused_naming_it(
    sites: list[object], published: dict[str, str], errors: dict[str, str], message: str
) -> None:
    with pytest.raises(BadInput, match=message):
        build_map(index(), sites, published=published, errors=errors, generated=GENERATED)


def test_generated_must_be_timezone_aware_and_is_written_in_utc() -> None:
    with pytest.raises(BadInput, match="must be timezone-aware"):
        build_map(index(), [], generated=datetime(2010, 6, 1, 12, 0))
    cest = timezone(timedelta(hours=2))
    vmap = build_map(index(), [], generated=datetime(2010, 6, 1, 14, 0, 5, tzinfo=cest))
    assert vmap.to_dict() == {
        "format": MAP_FORMAT,
        "generated": "2010-06-01T12:00:05Z",
        "source": "",
        "records_source": "",
        "components": {},
        "sites": {},
    }


def test_default_generated_is_now() -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    vmap = build_map(index(), [])
    assert before <= vmap.generated <= datetime.now(timezone.utc)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://pps.example.org/notes", True),
        ("http://example.org", True),
        ("HTTPS://EXAMPLE.ORG/x", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("data:text/html,<script>", False),
        ("//example.org/x", False),
        ("https:///nohost", False),
        ("https://exa mple.org", False),
        (" https://example.org", False),
        ("https://example.org/\n", False),
        ("", False),
        (None, False),
    ],
)
def test_only_http_urls_with_a_host_are_web_urls(url: object, ok: bool) -> None:
    assert is_web_url(url) is ok


def test_non_web_urls_are_dropped_from_the_map() -> None:
    idx = index(release(*UI8, notes_url="javascript:alert(1)", feedback_url="file:///etc/passwd"))
    v = build_map(idx, [], generated=GENERATED).versions[0]
    assert (v.notes_url, v.feedback_url) == ("", "")


def test_requirement_is_the_same_text_jdl_templates_writes() -> None:
    t = tag("vo.neugrid.eu", *UI8)
    assert requirement(t) == jdl_templates.requirement(t)


def test_the_jdl_line_of_the_map_matches_exactly_the_live_sites() -> None:
    idx, sites, published, errors = scenario()
    vmap = build_map(idx, sites, published=published, errors=errors, generated=GENERATED)
    use = {u.vo: u for u in vmap.versions[0].vos}["vo.neugrid.eu"]
    job = jdl_templates.parse_jdl(f'Executable = "/bin/hostname";\n{use.jdl}\n')
    for name, text in published.items():
        rte = [v for e in parse_ldif(text) for v in e.get(RTE_ATTR)]
        assert jdl_templates.match(job, {RTE_ATTR: rte}) is (name in use.sites), name
