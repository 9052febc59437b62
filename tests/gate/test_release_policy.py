"""Travellers only an officer admits (policy.minor_age, policy.release_nationalities): the face is still
compared, the decision refers, the barrier stays shut; on the scripted fake gate."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from fake_gate import FakeDecisionLog, FakeEngine, face_frame, read_document

from kiosk.devices.barrier import LogBarrier
from kiosk.documents.presentation import Presentation
from kiosk.errors import ConfigError
from kiosk.gate.flow import GateFlow
from kiosk.policy import RELEASE_REASONS, Policy
from kiosk.texts import reason_text


def _run(clock, name: str, **policy: object):
    log, barrier = FakeDecisionLog(), LogBarrier()
    flow = GateFlow(
        FakeEngine(),
        read_document,
        policy=dataclasses.replace(Policy(), **policy),
        kiosk_id="TEST",
        decision_log=log,
        barrier=barrier,
        clock=clock,
    )
    flow.present(Presentation(name))
    flow.offer_frame(face_frame(1))
    return log.appended[-1], barrier


def test_a_minor_is_referred_with_the_face_compared(clock) -> None:
    decision, barrier = _run(clock, "minor")
    assert decision.outcome == "REFER" and decision.reason_codes == ("MINOR",)
    assert decision.face_score == 1.0 and barrier.opened == 0  # compared and matched, yet not admitted
    adult, barrier = _run(clock, "genuine")
    assert adult.outcome == "PASS" and barrier.opened == 1
    younger_limit, _ = _run(clock, "minor", minor_age=8)  # an agency admitting from 8: born 2015, admitted
    assert younger_limit.outcome == "PASS"


def test_configured_nationalities_need_an_officer(clock) -> None:
    decision, barrier = _run(clock, "genuine", release_nationalities=("UT?",))
    assert decision.reason_codes == ("NATIONALITY_RELEASE",) and barrier.opened == 0


def test_release_reasons_by_age_and_texts() -> None:
    policy = Policy()
    today = date(2026, 12, 1)

    class Mrz:
        nationality = "UTO"
        date_of_birth: date | None = date(2008, 12, 2)  # 18 tomorrow

    assert policy.release_reasons(Mrz(), today) == ["MINOR"]
    Mrz.date_of_birth = date(2008, 12, 1)  # 18 today
    assert policy.release_reasons(Mrz(), today) == []
    Mrz.date_of_birth = None
    assert policy.release_reasons(Mrz(), today) == ["AGE_UNKNOWN"]
    Mrz.nationality = ""  # printed "<<<" (Macau resident cards): never admitted unattended
    assert policy.release_reasons(Mrz(), today) == ["AGE_UNKNOWN", "NATIONALITY_UNKNOWN"]
    for code in RELEASE_REASONS:
        assert reason_text(code) != code
    with pytest.raises(ConfigError, match="minor_age"):
        Policy(minor_age=40)
