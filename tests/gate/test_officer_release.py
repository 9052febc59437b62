"""A referred traveller held at the closed exit until an officer resolves the case (awaiting_officer): the
real GateFlow on the scripted fake engine and fake time, its decisions and the officer's resolutions in a
real decision log."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from fake_gate import FakeEngine, face_frame, read_document

from kiosk.decision import Decision
from kiosk.devices.barrier import LogBarrier
from kiosk.documents.presentation import Presentation
from kiosk.errors import ConfigError
from kiosk.gate.events import Decided, Ended, GateEvent, State, StateChanged
from kiosk.gate.flow import ADMITTED, RETRY, RETRY_DOCUMENT_REASONS, GateFlow
from kiosk.gate.report import event_json
from kiosk.officer.cases import ACTIONS, REASON_CODES
from kiosk.policy import Policy
from kiosk.store import DecisionLog
from kiosk.store.errors import RecordInvalidError
from kiosk.store.records import EXIT_OPENED, FINAL_RESOLUTIONS, RESOLUTIONS

MINOR = Presentation("minor")


class FailingBarrier(LogBarrier):
    def open(self, transaction_id: str) -> None:
        raise OSError("relay board does not answer")


@pytest.fixture
def held(clock, tmp_path: Path):
    """A gate whose decisions go to a real log that is also where it watches for resolutions."""
    logs: list[DecisionLog] = []

    def make(barrier: LogBarrier | None = None, **policy: object):
        log = DecisionLog(tmp_path / f"decisions{len(logs)}.sqlite")
        logs.append(log)
        barrier = barrier if barrier is not None else LogBarrier()
        flow = GateFlow(
            FakeEngine(),
            read_document,
            policy=dataclasses.replace(Policy(result_hold_s=2.0), **policy),
            kiosk_id="TEST",
            decision_log=log,
            barrier=barrier,
            clock=clock,
            releases=log,
        )
        events: list[GateEvent] = []
        flow.subscribe(events.append)
        return flow, events, log, barrier

    yield make
    for log in logs:
        log.close()


def _referred(flow: GateFlow, presentation: Presentation = MINOR) -> str:
    flow.present(presentation)
    flow.offer_frame(face_frame(1))
    assert flow.state is State.AWAITING_OFFICER
    assert flow.last_decision is not None
    return flow.last_decision.id


def _tick(flow: GateFlow, clock, seconds: float = 0.3) -> None:
    clock.advance(seconds)
    flow.tick()


def test_an_admit_opens_the_barrier_exactly_once_and_chains_it(held, clock) -> None:
    flow, events, log, barrier = held()
    case = _referred(flow)
    decided = [e for e in events if isinstance(e, Decided)]
    assert [d.outcome for d in decided] == ["REFER"] and "MINOR" in decided[0].reason_codes
    for _ in range(5):  # nobody has resolved it: the exit stays shut however long the gate looks
        _tick(flow, clock)
    assert flow.state is State.AWAITING_OFFICER and barrier.opened == 0
    assert flow.call_officer() and flow.state is State.AWAITING_OFFICER  # asked again: nothing new logged
    log.resolve(case, "off-1", "ADMITTED", reason_code="MINOR_RELEASED")
    _tick(flow, clock)
    assert flow.state is State.GATE_OPEN and barrier.opened == 1 and barrier.is_open
    opened = [e for e in events if isinstance(e, StateChanged) and e.state is State.GATE_OPEN]
    assert [e.resolution for e in opened] == ["ADMITTED"] and opened[0].transaction_id == case
    assert event_json(opened[0])["resolution"] == "ADMITTED"  # kiosk run --json says why the gate opened
    for _ in range(20):  # the result display ends; the barrier locks; no second opening
        _tick(flow, clock)
    assert flow.state is State.IDLE and barrier.opened == 1 and not barrier.is_open
    rows = [(r.resolution, r.officer) for r in log.resolutions(case)]
    assert rows == [("ADMITTED", "off-1"), (EXIT_OPENED, "off-1")]
    assert log.verify().ok
    assert len([e for e in events if isinstance(e, Decided)]) == 1  # one decision, no second record


@pytest.mark.parametrize("resolution", ["REFUSED", "ESCALATED"])
def test_a_refusal_or_the_second_line_keeps_the_exit_shut(held, clock, resolution: str) -> None:
    flow, events, log, barrier = held()
    case = _referred(flow)
    log.resolve(case, "off-1", resolution, reason_code="MANUAL_BOOTH")
    _tick(flow, clock)
    assert flow.state is State.REFERRED and barrier.opened == 0
    changed = [e for e in events if isinstance(e, StateChanged)]
    assert changed[-1].resolution == resolution
    for _ in range(20):
        _tick(flow, clock)
    assert flow.state is State.IDLE and barrier.opened == 0
    assert [r.resolution for r in log.resolutions(case)] == [resolution]  # no exit row


def test_the_wait_times_out_with_the_exit_shut_and_the_case_open(held, clock) -> None:
    flow, events, log, barrier = held(officer_wait_s=30.0)
    case = _referred(flow)
    _tick(flow, clock, 29.0)
    assert flow.state is State.AWAITING_OFFICER
    _tick(flow, clock, 1.5)
    assert flow.state is State.IDLE and barrier.opened == 0
    last = [e for e in events if isinstance(e, StateChanged)][-1]
    assert last.ended is Ended.OFFICER_TIMEOUT and last.transaction_id == case
    assert [c.id for c in log.open_cases()] == [case]
    log.resolve(case, "off-1", "ADMITTED", reason_code="MINOR_RELEASED")  # too late: nobody waits
    _tick(flow, clock)
    assert flow.state is State.IDLE and barrier.opened == 0


def test_a_barrier_that_fails_on_the_admit_is_a_fault(held, clock) -> None:
    flow, events, log, _ = held(barrier=FailingBarrier())
    case = _referred(flow)
    log.resolve(case, "off-1", "ADMITTED", reason_code="MINOR_RELEASED")
    _tick(flow, clock)
    assert flow.state is State.REFERRED
    last = [e for e in events if isinstance(e, StateChanged)][-1]
    assert last.barrier_failed and last.resolution == "ADMITTED"  # the bridge takes the gate out of service
    assert [r.resolution for r in log.resolutions(case)] == ["ADMITTED"]  # no exit row: it did not open


def test_a_retry_starts_a_new_capture_in_a_new_transaction(held, clock) -> None:
    flow, events, log, barrier = held()
    case = _referred(flow)
    log.resolve(case, "off-1", "RETRY", reason_code="CAPTURE_QUALITY")
    _tick(flow, clock)
    assert flow.state is State.FACE_CAPTURE
    capture = [e for e in events if isinstance(e, StateChanged)][-1]
    assert capture.transaction_id not in (None, case)
    flow.offer_frame(face_frame(1))  # the minor again: a second referral, a second decision logged
    assert flow.state is State.AWAITING_OFFICER and barrier.opened == 0
    decisions = [e.decision_id for e in events if isinstance(e, Decided)]
    assert decisions == [case, capture.transaction_id]
    assert [c.id for c in log.open_cases()] == [capture.transaction_id]


def test_a_retry_with_the_document_goes_back_to_the_reader(held, clock) -> None:
    flow, events, log, _ = held()
    case = _referred(flow)
    log.resolve(case, "off-1", "RETRY", reason_code=RETRY_DOCUMENT_REASONS[0])
    _tick(flow, clock)
    assert flow.state is State.IDLE
    assert [e for e in events if isinstance(e, StateChanged)][-1].ended is Ended.OFFICER_RETRY
    flow.present(Presentation("genuine"))  # placed again: a new transaction from the document
    assert flow.state is State.FACE_CAPTURE


def test_the_traveller_may_leave_while_waiting(held, clock) -> None:
    flow, events, log, barrier = held()
    case = _referred(flow)
    assert flow.cancel() and flow.state is State.IDLE and barrier.opened == 0
    assert [e for e in events if isinstance(e, StateChanged)][-1].ended is Ended.CANCELLED
    assert [c.id for c in log.open_cases()] == [case]


def test_which_referrals_wait(held, clock) -> None:
    flow, *_ = held()  # default "held": an expired adult's passport sends them to the officer at once
    flow.present(Presentation("expired"))
    assert flow.state is State.REFERRED
    flow, *_ = held(officer_release="all")
    flow.present(Presentation("expired"))
    assert flow.state is State.AWAITING_OFFICER
    flow, *_ = held(officer_release="none")
    flow.present(MINOR)
    flow.offer_frame(face_frame(1))
    assert flow.state is State.REFERRED
    with pytest.raises(ConfigError, match="officer_release"):
        Policy(officer_release="some")
    with pytest.raises(ConfigError, match="officer_wait_s"):
        Policy(officer_wait_s=0)


def test_the_gate_knows_the_officers_resolutions() -> None:
    """The flow's names of resolutions and retry reasons are the store's and the console's."""
    assert ADMITTED in FINAL_RESOLUTIONS and RETRY in FINAL_RESOLUTIONS
    assert set(ACTIONS.values()) == set(RESOLUTIONS)
    assert set(RETRY_DOCUMENT_REASONS) <= set(REASON_CODES["retry"])


def test_the_log_chains_an_exit_only_on_that_officers_admit(tmp_path: Path) -> None:
    with DecisionLog(tmp_path / "exit.sqlite") as log:
        case = log.append(Decision(kiosk_id="TEST", outcome="REFER", reason_codes=("MINOR",)))
        with pytest.raises(RecordInvalidError, match="not admitted"):
            log.log_exit_opened(case, "off-1")
        log.resolve(case, "off-2", "REFUSED", reason_code="MANUAL_BOOTH")
        with pytest.raises(RecordInvalidError, match="not admitted"):
            log.log_exit_opened(case, "off-2")
        other = log.append(Decision(kiosk_id="TEST", outcome="REFER", reason_codes=("MINOR",)))
        log.resolve(other, "off-2", "ADMITTED", reason_code="MINOR_RELEASED")
        with pytest.raises(RecordInvalidError, match="not admitted by off-1"):
            log.log_exit_opened(other, "off-1")
        log.log_exit_opened(other, "off-2")
        assert [r.resolution for r in log.resolutions(other)] == ["ADMITTED", EXIT_OPENED]
        assert log.verify().ok
