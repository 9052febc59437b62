"""The traveller presenter without Qt: gate events and touches in, the page and its text codes out."""

from __future__ import annotations

from kiosk.gate.events import Coaching, Ended, State, StateChanged, TimeWarning
from kiosk.ui.traveller.presenter import Page, TravellerPresenter


def changed(state: State, previous: State = State.IDLE, **fields) -> StateChanged:
    return StateChanged(state, previous, 1.0, "t1", **fields)


def test_local_pages_then_a_transaction_to_the_open_gate() -> None:
    p = TravellerPresenter()
    assert p.screen.page is Page.WELCOME and not p.screen.can_cancel
    assert p.start(0.0).page is Page.ELIGIBILITY
    assert p.eligible(0.0).page is Page.DOCUMENT
    s = p.on_event(changed(State.DOCUMENT_PRESENTED))
    assert (s.page, s.instruction, s.step, s.in_transaction) == (
        Page.READING,
        "screen.document_presented",
        2,
        True,
    )
    s = p.on_event(changed(State.FACE_CAPTURE, attempt=1, max_attempts=3, timeout_s=15.0))
    assert (s.page, s.attempt, s.max_attempts, s.step, s.can_cancel) == (Page.CAMERA, 1, 3, 3, True)
    s = p.on_event(Coaching("FACE_TOO_SMALL", State.FACE_CAPTURE, 2.0, "t1"))
    assert s.coaching == "coach.FACE_TOO_SMALL"
    s = p.on_event(Coaching("MULTIPLE_FACES", State.FACE_CAPTURE, 2.1, "t1"))
    assert s.coaching == "coach.MULTIPLE_FACES"  # one message at a time: the newest replaces the last
    assert p.on_event(changed(State.FACE_MATCH)).page is Page.PROCESSING
    s = p.on_event(changed(State.GATE_OPEN))
    assert (s.page, s.step, s.can_cancel, s.can_call_officer) == (Page.GATE_OPEN, 4, False, False)
    assert p.on_event(changed(State.IDLE)).page is Page.WELCOME


def test_referral_is_one_neutral_page_whatever_the_reasons() -> None:
    p = TravellerPresenter()
    p.on_event(changed(State.DECISION))
    s = p.on_event(changed(State.REFERRED))
    assert (s.page, s.instruction, s.coaching) == (Page.OFFICER, "screen.referred", None)


def test_time_warning_covers_the_page_and_more_time_restores_it() -> None:
    p = TravellerPresenter()
    p.on_event(changed(State.FACE_CAPTURE, attempt=1, max_attempts=3))
    s = p.on_event(TimeWarning(State.FACE_CAPTURE, 5.0, "t1", seconds_left=20.0, extensions_left=10))
    assert (s.page, s.countdown_s, s.extensions_left, s.step) == (Page.TIME_WARNING, 20.0, 10, 3)
    p.on_event(Coaching("BLURRY", State.FACE_CAPTURE, 5.1, "t1"))
    assert p.screen.page is Page.TIME_WARNING  # the warning stays up
    s = p.on_event(changed(State.FACE_CAPTURE, State.FACE_CAPTURE, extended=True, extensions_left=9))
    assert (s.page, s.coaching) == (Page.CAMERA, "coach.BLURRY")


def test_cancel_returns_to_welcome_and_document_retry_asks_again() -> None:
    p = TravellerPresenter()
    p.on_event(changed(State.DOCUMENT_PRESENTED))
    s = p.on_event(changed(State.DOCUMENT_RETRY, State.DOCUMENT_PRESENTED, attempt=2, max_attempts=3))
    assert (s.page, s.attempt, s.can_cancel) == (Page.DOCUMENT, 2, True)
    s = p.on_event(StateChanged(State.IDLE, State.DOCUMENT_RETRY, 3.0, "t1", ended=Ended.CANCELLED))
    assert (s.page, s.instruction, s.can_cancel) == (Page.CANCELLED, "screen.cancelled", False)
    assert p.tick(100.0).page is Page.CANCELLED  # "take your document" stays a moment
    assert p.tick(102.9).page is Page.CANCELLED
    assert p.tick(103.0).page is Page.WELCOME


def test_idle_local_pages_return_to_welcome() -> None:
    p = TravellerPresenter(idle_s=30.0)
    p.start(100.0)
    p.eligible(110.0)
    assert p.tick(139.0).page is Page.DOCUMENT
    assert p.tick(140.0).page is Page.WELCOME
    p.on_event(changed(State.FACE_CAPTURE))
    assert p.tick(1000.0).page is Page.CAMERA  # a transaction's time-outs are the flow's


def test_out_of_service_holds_whatever_the_gate_says() -> None:
    p = TravellerPresenter()
    assert p.out_of_service().page is Page.OUT_OF_SERVICE
    assert p.on_event(changed(State.IDLE)).page is Page.OUT_OF_SERVICE
    assert p.start(0.0).page is Page.OUT_OF_SERVICE
