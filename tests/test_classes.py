from __future__ import annotations

import pytest

from distributor.lifecycle.model import parse_effort
from pps.classes import (
    ChangeSize,
    PartnerClass,
    ReleaseType,
    UpdateClass,
    server_update_size,
    targets,
)
from pps.errors import BadInput


@pytest.mark.parametrize("partner", list(PartnerClass), ids=str)
def test_every_preview_site_takes_backward_compatible_clients(partner):
    assert targets(UpdateClass.BC_CLIENT, partner)


@pytest.mark.parametrize(
    ("update", "partner"),
    [("nbc-client", "silver"), ("bc-server", "gold"), ("nbc-server", "platinum")],
)
def test_other_classes_go_to_their_partner_class_only(update, partner):
    u = UpdateClass.parse(update)
    assert [p.value for p in PartnerClass if targets(u, p)] == [partner]


def test_unknown_update_class_names_value_and_choices():
    with pytest.raises(BadInput, match=r"update class 'client' is not one of: bc-client, nbc-"):
        UpdateClass.parse("client")


def test_release_type_timelines_are_the_egi_totals():
    assert {t.value: t.total_days for t in ReleaseType} == {
        "emergency": 1,
        "revision": 9,
        "minor": 11,
        "major": 22,
    }


def _change(**kw):
    base = dict(
        new_config_parameters=False,
        major_bug_fixes=1,
        normal_bug_fixes=4,
        person_days=2,
        significant_operational_change=False,
    )
    return ChangeSize(**{**base, **kw})


def test_server_update_is_minor_only_when_every_condition_holds():
    assert server_update_size(_change()) == "minor"


@pytest.mark.parametrize(
    "kw",
    [
        {"new_config_parameters": True},
        {"major_bug_fixes": 2},
        {"normal_bug_fixes": 5},
        {"person_days": 2.5},
        {"significant_operational_change": True},
    ],
    ids=["config", "2-major", "5-normal", "effort", "operational"],
)
def test_any_broken_minor_condition_makes_it_major(kw):
    assert server_update_size(_change(**kw)) == "major"


@pytest.mark.parametrize(
    ("text", "hours"),
    [("1PH", 1.0), ("3 PD", 24.0), ("2pw", 80.0), ("0.5 PM", 80.0), (" 1.5PD ", 12.0),
     ("0PH", 0.0)],
)  # fmt: skip
def test_an_effort_is_read_in_person_hours(text: str, hours: float) -> None:
    assert parse_effort(text) == hours


@pytest.mark.parametrize("text", ["", "PD", "3", "3 PY", "-1 PD", "1,5 PD", "3 P D", "1e3 PH",
                                  "3 PD extra", "½ PD"])  # fmt: skip
def test_an_effort_that_is_not_a_number_and_a_unit_is_refused_naming_it(text: str) -> None:
    with pytest.raises(BadInput) as e:
        parse_effort(text)
    assert repr(text) in str(e.value)
