from __future__ import annotations

import pytest

from pps.errors import BadInput
from pps.names import (
    PREVIEW_CAPABILITY,
    check_component,
    check_version,
    check_vo,
    parse_version_tag,
    same_tag,
    version_tag,
)


def test_version_tag_follows_the_lcg_managevotag_convention():
    assert version_tag("dteam", "glite-UI", "3.2.8-0") == "VO-dteam-PPS-glite-UI-3.2.8-0"
    assert (
        version_tag("vo.neugrid.eu", "arc_client", "6.1") == "VO-vo.neugrid.eu-PPS-arc_client-6.1"
    )


def test_capability_tag_is_pps_preview():
    assert PREVIEW_CAPABILITY == "PPS-PREVIEW"


@pytest.mark.parametrize(
    "bad",
    ['glite"UI', "glite UI", "glite/UI", "../UI", "-UI", "UI\n", "ui)", "", "é", "a" * 101],
    ids=["quote", "space", "slash", "dotdot", "leading-dash", "newline", "paren", "empty",
         "non-ascii", "too-long"],
)  # fmt: skip
def test_component_outside_the_grammar_is_refused_naming_it(bad):
    with pytest.raises(BadInput, match="component"):
        check_component(bad)


def test_version_error_names_the_value():
    with pytest.raises(BadInput, match=r"version '3\.2;rm' is not valid"):
        check_version("3.2;rm")


@pytest.mark.parametrize("vo", ["dteam", "vo.neugrid.eu", "atlas", "vo.sbg.in2p3.fr"])
def test_voms_style_vo_names_are_accepted(vo):
    assert check_vo(vo) == vo


@pytest.mark.parametrize("vo", ["DTeam", "vo name", "vo-", ".vo", 'vo"'])
def test_vo_names_voms_would_refuse_are_refused(vo):
    with pytest.raises(BadInput, match="VO name"):
        check_vo(vo)


def test_parse_version_tag_splits_component_with_dashes_from_version():
    parsed = parse_version_tag("VO-dteam-PPS-glite-UI-3.2.8-0")
    assert parsed is not None
    assert (parsed.vo, parsed.component, parsed.version) == ("dteam", "glite-UI", "3.2.8-0")


def test_parse_version_tag_ignores_foreign_tags():
    assert parse_version_tag("VO-atlas-offline-17.2.0") is None
    assert parse_version_tag(PREVIEW_CAPABILITY) is None


def test_tags_compare_case_insensitively_like_glue_rte_values():
    assert same_tag("VO-dteam-PPS-glite-UI-3.2.8-0", "vo-DTEAM-pps-GLITE-ui-3.2.8-0")
    assert not same_tag("VO-dteam-PPS-glite-UI-3.2.8-0", "VO-dteam-PPS-glite-UI-3.2.8-1")
