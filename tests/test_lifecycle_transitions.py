"""The lifecycle's state machine as a pure function (distributor.lifecycle.model.next_state), on
a table: every state against every step, beside the CLI's end-to-end tests of the steps."""

from __future__ import annotations

import pytest

from distributor.lifecycle.model import (
    CERTIFIED,
    CLOSED_REJECT,
    CLOSED_SUCCESS,
    CLOSED_WARNING,
    FINAL,
    REJECTED,
    ROLLING_OUT,
    STATES,
    UNVERIFIED,
    VERIFIED,
    WITHDRAWN,
    allowed_from,
    next_state,
)

LEGAL = {
    # (state, step, outcome, forced) -> the state it leads to
    (UNVERIFIED, "verify", "", False): VERIFIED,
    (UNVERIFIED, "reject", "", False): REJECTED,
    (VERIFIED, "accept", "", False): ROLLING_OUT,
    (ROLLING_OUT, "accept", "", False): ROLLING_OUT,  # a second early adopter
    (ROLLING_OUT, "report", "", False): ROLLING_OUT,
    (ROLLING_OUT, "close", "success", False): CLOSED_SUCCESS,
    (ROLLING_OUT, "close", "warning", False): CLOSED_WARNING,
    (ROLLING_OUT, "close", "reject", False): CLOSED_REJECT,
    (VERIFIED, "close", "success", True): CLOSED_SUCCESS,  # forced: no early adopter
    (ROLLING_OUT, "close", "reject", True): CLOSED_REJECT,
}
STEPS = ("verify", "reject", "accept", "report")


@pytest.mark.parametrize(("given", "expected"), sorted(LEGAL.items()), ids=str)
def test_a_legal_step_leads_to_its_state(given: tuple, expected: str) -> None:
    state, step, outcome, forced = given
    assert next_state(state, step, outcome=outcome, forced=forced) == expected


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("step", STEPS)
def test_every_other_step_is_refused(state: str, step: str) -> None:
    if (state, step, "", False) in LEGAL:
        return
    assert next_state(state, step) is None
    assert state not in allowed_from(step)


@pytest.mark.parametrize("state", STATES)
def test_close_is_refused_but_from_rolling_out_or_forced_from_verified(state: str) -> None:
    for forced in (False, True):
        legal = state == ROLLING_OUT or (forced and state == VERIFIED)
        assert (next_state(state, "close", outcome="success", forced=forced) is not None) is legal


def test_an_unknown_close_outcome_leads_nowhere() -> None:
    assert next_state(ROLLING_OUT, "close", outcome="maybe") is None


@pytest.mark.parametrize("state", STATES)
def test_remove_withdraws_what_is_not_final_and_keeps_a_final_state(state: str) -> None:
    assert next_state(state, "remove") == (state if state in FINAL else WITHDRAWN)


def test_the_first_states_are_not_final() -> None:
    assert not {CERTIFIED, UNVERIFIED, VERIFIED, ROLLING_OUT} & FINAL
