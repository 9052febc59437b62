"""GateDriver.step() on the scripted fake gate: one poll, the newest frame, one tick; no sleeping."""

from __future__ import annotations

import dataclasses

from fake_gate import FakeDecisionLog, FakeEngine, FakeReader, blank_frame, face_frame, read_document

from kiosk.documents.presentation import Presentation
from kiosk.gate.driver import GateDriver
from kiosk.gate.events import State
from kiosk.gate.flow import GateFlow
from kiosk.policy import Policy


def _driver(clock, reader: FakeReader, **policy: object) -> tuple[GateDriver, FakeDecisionLog]:
    log = FakeDecisionLog()
    flow = GateFlow(
        FakeEngine(),
        read_document,
        policy=dataclasses.replace(Policy(), **policy),
        kiosk_id="TEST",
        decision_log=log,
        clock=clock,
    )
    return GateDriver(flow, reader), log


def test_one_step_polls_once_and_uses_only_the_newest_frame(clock) -> None:
    reader = FakeReader([Presentation("genuine")])
    driver, log = _driver(clock, reader)
    driver.offer(face_frame(1))  # offered while idle: stale by the time a capture starts
    assert driver.step() is True and reader.polls == 1
    assert driver.flow.state is State.FACE_CAPTURE
    assert driver.step() is False  # the idle-time frame was dropped: nothing to do
    driver.offer(face_frame(1))
    driver.offer(blank_frame())  # the newest wins
    assert driver.step() is True
    assert driver.flow.state is State.FACE_CAPTURE and not log.appended
    driver.offer(face_frame(2))
    driver.offer(face_frame(1))
    driver.step()
    assert log.appended[-1].outcome == "PASS"
    assert reader.handed_back == ["genuine"]  # marked done in the step that decided
    assert driver.served == 0
    clock.advance(3.0)  # policy.result_hold_s
    assert driver.step() is True and driver.flow.state is State.IDLE and driver.served == 1
    assert reader.polls == 1  # the step that ended the display did not poll too
    assert driver.step() is False and reader.polls == 2


def test_a_cancelled_transaction_hands_the_document_back(clock) -> None:
    reader = FakeReader([Presentation("genuine")])
    driver, log = _driver(clock, reader)
    driver.step()
    assert driver.flow.cancel()
    assert reader.handed_back == ["genuine"] and driver.served == 1 and not log.appended


def test_an_unreadable_document_presented_again(clock) -> None:
    reader = FakeReader([Presentation("unreadable")])
    driver, log = _driver(clock, reader, max_document_attempts=3)
    driver.step()
    assert driver.flow.state is State.DOCUMENT_RETRY
    assert driver.step() is False  # not presented again yet
    reader.queue.append(Presentation("genuine"))
    driver.step()
    assert driver.flow.state is State.FACE_CAPTURE and reader.handed_back == ["unreadable"]
    driver.offer(face_frame(1))
    driver.step()
    assert log.appended[-1].outcome == "PASS" and reader.handed_back == ["unreadable", "genuine"]
