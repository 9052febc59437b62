"""The flow's state machine and the API a traveller's screen uses (cancel, more time, call an officer,
bounded retries), on the scripted fake gate and fake time: milliseconds per test."""

from __future__ import annotations

import dataclasses

import pytest
from fake_gate import FakeDecisionLog, FakeEngine, blank_frame, face_frame, read_document

from kiosk.devices.barrier import LogBarrier
from kiosk.documents.presentation import Presentation
from kiosk.gate.events import Coaching, Decided, Ended, GateEvent, State, StateChanged, TimeWarning
from kiosk.gate.flow import GateFlow
from kiosk.policy import Policy

GENUINE = Presentation("genuine")


@pytest.fixture
def gate(clock):
    def make(**policy: object) -> tuple[GateFlow, list[GateEvent], FakeDecisionLog, LogBarrier]:
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
        events: list[GateEvent] = []
        flow.subscribe(events.append)
        return flow, events, log, barrier

    return make


def _states(events: list[GateEvent]) -> list[str]:
    return [str(e.state) for e in events if isinstance(e, StateChanged) and not e.extended]


def test_genuine_traveller_on_the_fake_engine(gate) -> None:
    flow, events, log, barrier = gate()
    flow.present(GENUINE)
    assert flow.state is State.FACE_CAPTURE
    flow.offer_frame(face_frame(1))
    assert flow.state is State.GATE_OPEN and barrier.opened == 1
    assert _states(events) == [
        "document_presented",
        "document_checked",
        "face_capture",
        "face_match",
        "decision",
        "gate_open",
    ]
    decided = [e for e in events if isinstance(e, Decided)]
    assert [d.outcome for d in decided] == ["PASS"] and log.appended == [decided[0].decision]
    capture = next(e for e in events if isinstance(e, StateChanged) and e.state is State.FACE_CAPTURE)
    assert (capture.timeout_s, capture.seconds_left, capture.attempt, capture.max_attempts) == (
        30.0,
        30.0,
        1,
        2,
    )
    quality = decided[0].decision.quality
    assert quality["attempts"] == {
        "document": 1,
        "document_max": 1,
        "capture": 1,
        "capture_max": 1,
        "match": 1,
        "match_max": 2,
        "extensions": 0,
        "extensions_max": 10,
    }
    assert quality["timeouts_s"] == {"document": 60.0, "capture": 30.0, "time_warning": 20.0}


def test_cancel_hands_the_document_back_and_keeps_nothing(gate) -> None:
    flow, events, log, barrier = gate()
    assert flow.cancel() is False  # nothing to cancel in idle
    flow.present(GENUINE)
    flow.offer_frame(blank_frame())
    txn = flow._txn
    assert flow.cancel() is True
    assert flow.state is State.IDLE and flow._txn is None and flow.last_decision is None
    last = events[-1]
    assert isinstance(last, StateChanged) and last.ended is Ended.CANCELLED
    assert last.previous is State.FACE_CAPTURE and last.transaction_id == txn.id
    assert log.appended == [] and barrier.opened == 0
    assert not any(isinstance(e, Decided) for e in events)
    flow.present(GENUINE)  # the next traveller is served
    flow.offer_frame(face_frame(1))
    assert flow.state is State.GATE_OPEN
    assert flow.cancel() is False  # decided: too late to cancel


def test_more_time_after_a_warning_extends_the_deadline_at_most_max_extensions_times(gate, clock) -> None:
    flow, events, _log, _ = gate(capture_timeout_s=30.0, max_capture_frames=10_000)
    flow.present(GENUINE)
    assert flow.more_time() is False  # no warning yet
    clock.advance(9.0)
    flow.tick()
    assert not any(isinstance(e, TimeWarning) for e in events)
    clock.advance(1.0)
    flow.tick()
    warnings = [e for e in events if isinstance(e, TimeWarning)]
    assert [(w.state, w.seconds_left, w.extensions_left) for w in warnings] == [
        (State.FACE_CAPTURE, 20.0, 10)
    ]
    flow.tick()
    assert len([e for e in events if isinstance(e, TimeWarning)]) == 1  # once per deadline
    for granted in range(10):
        assert flow.more_time() is True
        extended = events[-1]
        assert (
            isinstance(extended, StateChanged) and extended.extended and extended.state is State.FACE_CAPTURE
        )
        assert extended.seconds_left == 50.0 and extended.extensions_left == 9 - granted
        assert flow.more_time() is False  # the next extension needs the next warning
        clock.advance(30.0)
        flow.tick()  # 20 s left: warned again
        assert flow.state is State.FACE_CAPTURE
    assert isinstance(events[-1], TimeWarning) and events[-1].extensions_left == 0
    assert flow.more_time() is False  # no extension left: the normal time-out applies
    clock.advance(20.0)
    flow.tick()
    assert flow.state is State.REFERRED
    assert flow.last_decision.reason_codes == ("QUALITY_TIMEOUT",)
    assert flow.last_decision.quality["attempts"]["extensions"] == 10


def test_a_time_out_too_short_to_warn_is_refused() -> None:
    """WCAG 2.2.1: the warning comes at least 20 s before a waiting state ends, so a shorter wait (which
    would warn the moment it begins) is refused with the reason."""
    from kiosk.errors import ConfigError

    for name in ("capture_timeout_s", "document_timeout_s"):
        for seconds in (10.0, 20.0):
            with pytest.raises(ConfigError, match=rf"policy.{name} \({seconds:g} s\) must be longer than"):
                Policy(**{name: seconds})
    with pytest.raises(ConfigError, match=r"capture_timeout_s .* must be longer than policy.time_warning_s"):
        Policy(capture_timeout_s=40.0, time_warning_s=45.0)
    assert Policy(capture_timeout_s=20.5).capture_timeout_s == 20.5


def test_the_warning_comes_time_warning_s_before_the_time_out(gate, clock) -> None:
    flow, events, _, _ = gate()  # capture_timeout_s 30, time_warning_s 20
    flow.present(GENUINE)
    assert not any(isinstance(e, TimeWarning) for e in events)
    clock.advance(9.9)
    flow.tick()
    assert not any(isinstance(e, TimeWarning) for e in events)
    clock.advance(0.1)
    flow.tick()
    warning = next(e for e in events if isinstance(e, TimeWarning))
    assert warning.seconds_left == 20.0


def test_call_officer_refers_without_a_face(gate) -> None:
    flow, events, log, barrier = gate()
    assert flow.call_officer() is True  # from the welcome screen: no document either
    assert flow.state is State.REFERRED and barrier.opened == 0
    decision = log.appended[-1]
    assert decision.outcome == "REFER" and decision.reason_codes == ("TRAVELLER_ASKED_OFFICER",)
    assert decision.face_score is None and decision.document_number_hash is None
    assert [e.presentation for e in events if isinstance(e, Decided)] == [""]
    assert flow.call_officer() is False  # decided already
    flow.finish()
    flow.present(GENUINE)  # mid-capture
    flow.offer_frame(blank_frame())
    assert flow.call_officer() is True
    assert log.appended[-1].reason_codes == ("TRAVELLER_ASKED_OFFICER",)
    assert log.appended[-1].issuing_state == "UTO"


def test_an_unreadable_document_is_asked_for_again_then_referred(gate, clock) -> None:
    flow, events, log, _ = gate(max_document_attempts=3)
    flow.present(Presentation("unreadable"))
    assert flow.state is State.DOCUMENT_RETRY
    retry = events[-1]
    assert isinstance(retry, StateChanged) and (retry.attempt, retry.max_attempts, retry.timeout_s) == (
        2,
        3,
        60.0,
    )
    flow.present(Presentation("unreadable"))
    assert flow.state is State.DOCUMENT_RETRY
    flow.present(Presentation("unreadable"))
    assert flow.state is State.REFERRED  # no watchlists: no face to screen
    assert log.appended[-1].reason_codes == ("DOC_UNREADABLE",)
    assert log.appended[-1].quality["attempts"]["document"] == 3
    assert _states(events).count("document_retry") == 2
    flow.finish()
    flow.present(Presentation("unreadable"))  # presented again in time, and readable this time
    flow.present(GENUINE)
    assert flow.state is State.FACE_CAPTURE
    flow.offer_frame(face_frame(1))
    assert flow.last_decision.outcome == "PASS"
    flow.finish()
    flow.present(Presentation("unreadable"))  # not presented again: the time-out refers
    clock.advance(60.0)
    flow.tick()
    assert flow.state is State.REFERRED and flow.last_decision.reason_codes == ("DOC_UNREADABLE",)


def test_a_document_read_and_failing_a_check_is_not_asked_for_again(gate) -> None:
    flow, events, log, _ = gate(max_document_attempts=3)
    flow.present(Presentation("expired"))
    assert flow.state is State.REFERRED
    assert log.appended[-1].reason_codes == ("DOC_EXPIRED",)
    assert "document_retry" not in _states(events)


def test_a_failed_capture_is_started_again_up_to_max_capture_attempts(gate, clock) -> None:
    flow, events, log, _ = gate(max_capture_attempts=3, capture_timeout_s=25.0)
    flow.present(GENUINE)
    for _ in range(3):
        assert flow.state is State.FACE_CAPTURE
        flow.offer_frame(blank_frame())
        clock.advance(25.0)
        flow.tick()
    assert flow.state is State.REFERRED
    assert log.appended[-1].reason_codes == ("QUALITY_TIMEOUT",)
    assert log.appended[-1].quality["attempts"]["capture"] == 3
    captures = [e for e in events if isinstance(e, StateChanged) and e.state is State.FACE_CAPTURE]
    assert [(c.attempt, c.max_attempts) for c in captures] == [(1, 4), (2, 4), (3, 4)]
    assert [e.code for e in events if isinstance(e, Coaching)][:2] == ["NO_FACE", "NO_FACE"]
    assert "RETRY" in [e.code for e in events if isinstance(e, Coaching)]


def test_a_second_capture_attempt_can_pass(gate, clock) -> None:
    flow, _, log, _ = gate(max_capture_attempts=3, capture_timeout_s=25.0)
    flow.present(GENUINE)
    clock.advance(25.0)
    flow.tick()
    flow.offer_frame(face_frame(1))
    assert log.appended[-1].outcome == "PASS"
    assert log.appended[-1].quality["attempts"]["capture"] == 2


def test_the_retry_and_extension_floors_are_enforced() -> None:
    from kiosk.errors import ConfigError

    with pytest.raises(ConfigError, match="time_warning_s must be at least 20"):
        Policy(time_warning_s=10.0)
    with pytest.raises(ConfigError, match="max_extensions must be at least 10"):
        Policy(max_extensions=3)
    with pytest.raises(ConfigError, match="max_capture_attempts must be at least 1"):
        Policy(max_capture_attempts=0)
