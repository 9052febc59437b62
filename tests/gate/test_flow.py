"""The gate state machine driven with the real components (engine, document reader, chip PKI, watchlist,
decision log) on generated travellers, with a fake clock."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.devices.barrier import LogBarrier
from kiosk.devices.camera import FrameListCamera
from kiosk.documents.presentation import Presentation
from kiosk.gate.assemble import Gate, open_gate
from kiosk.gate.events import Coaching, GateEvent, State, StateChanged
from kiosk.gate.flow import FlowBusyError
from kiosk.gate.verify import run_transaction
from kiosk.store import DecisionLog, KeyRing
from kiosk.texts import coaching_text

GENUINE = "genuine traveller (Collins)"
IMPOSTOR = "impostor with Hopper's passport"
WATCHLISTED = "watchlist hit (Hopper)"


@pytest.fixture
def gate_factory(demo_setup, engine, clock, tmp_path: Path):
    gates: list[Gate] = []

    def make(**policy_changes) -> tuple[Gate, list[GateEvent], LogBarrier]:
        policy = dataclasses.replace(demo_setup.config.policy, **policy_changes)
        config = dataclasses.replace(
            demo_setup.config, policy=policy, log_path=tmp_path / f"log{len(gates)}.sqlite"
        )
        barrier = LogBarrier()
        gate = open_gate(config, engine=engine, clock=clock, barrier=barrier)
        events: list[GateEvent] = []
        gate.flow.subscribe(events.append)
        gates.append(gate)
        return gate, events, barrier

    yield make
    for gate in gates:
        gate.close()


def _states(events: list[GateEvent]) -> list[str]:
    return [str(e.state) for e in events if isinstance(e, StateChanged)]


def test_genuine_traveller_passes_through_every_state(gate_factory, demo_setup) -> None:
    gate, events, barrier = gate_factory()
    decision = run_transaction(
        gate.flow, demo_setup.presentations[GENUINE], FrameListCamera(demo_setup.frames[GENUINE])
    )
    assert decision.outcome == "PASS" and decision.reason_codes == ()
    assert _states(events) == [
        "document_presented",
        "document_checked",
        "face_capture",
        "face_match",
        "watchlist_search",
        "decision",
        "gate_open",
        "idle",
    ]
    assert barrier.opened == 1 and not barrier.is_open
    assert decision.face_score is not None and decision.face_score >= decision.face_threshold
    assert decision.face_threshold == pytest.approx(
        gate.flow.engine.threshold(gate.flow.policy.fmr), abs=1e-6
    )
    assert decision.liveness["assessed"] is False
    assert decision.document_checks and all(decision.document_checks.values())
    assert decision.models["embedder"] == gate.flow.engine.model_id
    coaching = [e for e in events if isinstance(e, Coaching)]
    assert coaching and coaching_text(coaching[0].code)
    # logged, with the document number only as the keyed hash
    row = gate.decision_log.decision(decision.id)
    assert row is not None and row.outcome == "PASS"
    keys = KeyRing.load(demo_setup.config.key_file)
    number = _document_number(demo_setup.presentations[GENUINE])
    assert decision.document_number_hash == keys.hash_document_number(number, "UTO")


def _document_number(presentation: Presentation) -> str:
    from kiosk.documents.chip import read_chip

    return read_chip(presentation.chip, None).dg1.document_number


def test_document_number_never_stored_in_clear(gate_factory, demo_setup) -> None:
    gate, _, _ = gate_factory()
    run_transaction(gate.flow, demo_setup.presentations[GENUINE], FrameListCamera(demo_setup.frames[GENUINE]))
    number = _document_number(demo_setup.presentations[GENUINE]).encode()
    path = gate.decision_log.path
    gate.close()
    blobs = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert number not in blobs


def test_impostor_gets_a_second_capture_then_face_no_match(gate_factory, demo_setup) -> None:
    gate, events, barrier = gate_factory()
    decision = run_transaction(
        gate.flow, demo_setup.presentations[IMPOSTOR], FrameListCamera(demo_setup.frames[IMPOSTOR])
    )
    assert decision.outcome == "REFER" and decision.reason_codes == ("FACE_NO_MATCH",)
    assert _states(events).count("face_capture") == 2  # policy.max_match_attempts = 2
    assert any(isinstance(e, Coaching) and e.code == "RETRY" for e in events)
    assert decision.face_score < decision.face_threshold
    assert barrier.opened == 0 and _states(events)[-2:] == ["referred", "idle"]
    evidence = gate.decision_log.evidence(decision.id)  # referred: encrypted evidence for the officer
    assert "live_face" in evidence and "live_template" in evidence


def test_capture_times_out_on_the_clock(gate_factory, demo_setup, clock) -> None:
    gate, events, _ = gate_factory(capture_timeout_s=28.0, max_capture_frames=1000, result_hold_s=2.0)
    flow = gate.flow
    flow.present(demo_setup.presentations[GENUINE])
    assert flow.state is State.FACE_CAPTURE
    empty = np.full((480, 640, 3), 128, np.uint8)
    for _ in range(3):
        flow.offer_frame(empty)
        clock.advance(2.0)
        flow.tick()
    assert flow.state is State.FACE_CAPTURE  # 6 s < 28 s
    coaching = [e for e in events if isinstance(e, Coaching)]
    assert [e.code for e in coaching] == ["NO_FACE"] * 4  # capture start, then one per frame
    assert [e.seconds_left for e in coaching] == [28.0, 28.0, 26.0, 24.0]
    assert [e.frame for e in coaching] == [0, 1, 2, 3]
    clock.advance(22.5)
    flow.tick()  # no frame at all any more: the time-out still ends the capture
    assert flow.state is State.REFERRED
    assert flow.last_decision.reason_codes == ("QUALITY_TIMEOUT",)
    clock.advance(1.0)
    flow.tick()
    assert flow.state is State.REFERRED  # result shown for policy.result_hold_s
    clock.advance(1.5)
    flow.tick()
    assert flow.state is State.IDLE


def test_persisting_multiple_faces(gate_factory, demo_setup) -> None:
    gate, events, _ = gate_factory(multiple_faces_frames=3)
    a, b = demo_setup.frames[GENUINE][0], demo_setup.frames[WATCHLISTED][0]
    two = cv2.resize(np.hstack([a, b]), (640, 240))
    two = np.vstack([np.zeros((120, 640, 3), np.uint8), two, np.zeros((120, 640, 3), np.uint8)])
    decision = run_transaction(gate.flow, demo_setup.presentations[GENUINE], FrameListCamera([two] * 10))
    assert decision.reason_codes == ("MULTIPLE_FACES",)
    assert [e.code for e in events if isinstance(e, Coaching)].count("MULTIPLE_FACES") == 3


def test_bad_input_refers_and_the_gate_keeps_running(gate_factory, demo_setup, tmp_path: Path) -> None:
    gate, events, _ = gate_factory()
    corrupt_page = tmp_path / "page.png"
    corrupt_page.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    decision = run_transaction(gate.flow, Presentation.from_path(corrupt_page), FrameListCamera([]))
    # no face came either, so the traveller could not be screened against the watchlists: said so
    assert decision.outcome == "REFER" and decision.reason_codes == ("DOC_UNREADABLE", "QUALITY_TIMEOUT")
    assert gate.flow.state is State.IDLE

    broken_chip = tmp_path / "chip"
    broken_chip.mkdir()
    (broken_chip / "EF.SOD").write_bytes(b"\x77\x03abc")
    (broken_chip / "DG1").write_bytes(b"garbage")
    decision = run_transaction(gate.flow, Presentation.from_path(broken_chip), FrameListCamera([]))
    assert decision.outcome == "REFER" and decision.reason_codes
    assert decision.reason_codes[0] == "DOC_UNREADABLE"
    assert set(decision.reason_codes) <= {
        "DOC_UNREADABLE",
        "CHIP_UNREADABLE",
        "CHIP_PA_FAILED",
        "QUALITY_TIMEOUT",
    }

    decision = run_transaction(
        gate.flow,
        demo_setup.presentations[GENUINE],
        FrameListCamera([None, None, *demo_setup.frames[GENUINE]]),
    )
    assert decision.outcome == "PASS"
    assert [e.code for e in events if isinstance(e, Coaching)].count("CAPTURE_UNREADABLE") == 2

    decision = run_transaction(gate.flow, demo_setup.presentations[GENUINE], FrameListCamera([None] * 3))
    assert decision.reason_codes == ("CAPTURE_UNREADABLE",)


def test_present_while_busy_is_refused(gate_factory, demo_setup) -> None:
    gate, _, _ = gate_factory()
    gate.flow.present(demo_setup.presentations[GENUINE])
    with pytest.raises(FlowBusyError):
        gate.flow.present(demo_setup.presentations[IMPOSTOR])


def test_watchlist_categories_that_do_not_refer(gate_factory, demo_setup) -> None:
    gate, _, _ = gate_factory(refer_categories=["missing-person"])
    decision = run_transaction(
        gate.flow, demo_setup.presentations[WATCHLISTED], FrameListCamera(demo_setup.frames[WATCHLISTED])
    )
    assert decision.outcome == "PASS"
    assert [h.category for h in decision.watchlist_hits] == ["wanted"]  # recorded, not referring


def test_an_observer_that_fails_does_not_stop_the_gate(gate_factory, demo_setup) -> None:
    gate, events, _ = gate_factory()

    def broken(event: GateEvent) -> None:
        raise RuntimeError("UI crashed")

    gate.flow.subscribe(broken)
    decision = run_transaction(
        gate.flow, demo_setup.presentations[GENUINE], FrameListCamera(demo_setup.frames[GENUINE])
    )
    assert decision.outcome == "PASS" and _states(events)[-1] == "idle"


def test_the_log_is_chained_and_verifies(gate_factory, demo_setup) -> None:
    gate, _, _ = gate_factory()
    for label in (GENUINE, IMPOSTOR):
        run_transaction(gate.flow, demo_setup.presentations[label], FrameListCamera(demo_setup.frames[label]))
    path = gate.decision_log.path
    gate.close()
    with DecisionLog(path, readonly=True) as log:
        assert log.verify().ok
        assert log.head()[0] == 2


def test_expiry_is_judged_on_the_flow_clock(demo_setup, engine, clock_factory, tmp_path: Path) -> None:
    later = clock_factory(wall=datetime.now(UTC) + timedelta(days=6 * 365))
    # the demo watchlist would be six years stale by this clock: no age limit here
    config = dataclasses.replace(demo_setup.config, log_path=tmp_path / "log.sqlite", watchlist_max_age_h=0.0)
    gate = open_gate(config, engine=engine, clock=later)
    try:
        decision = run_transaction(
            gate.flow, demo_setup.presentations[GENUINE], FrameListCamera(demo_setup.frames[GENUINE])
        )
    finally:
        gate.close()
    assert decision.outcome == "REFER" and "DOC_EXPIRED" in decision.reason_codes
    assert decision.time_utc.startswith(later.now().date().isoformat())


def test_watchlist_updates_reach_the_next_traveller(demo_setup, engine, clock, tmp_path: Path) -> None:
    from matcher.watchlist import WatchlistStore
    from matcher.watchlist.store import NewEntry

    lists = tmp_path / "watchlists"
    shutil.copytree(demo_setup.config.watchlist, lists)
    config = dataclasses.replace(demo_setup.config, watchlist=lists, log_path=tmp_path / "log.sqlite")
    gate = open_gate(config, engine=engine, clock=clock)
    try:
        first = run_transaction(
            gate.flow, demo_setup.presentations[GENUINE], FrameListCamera(demo_setup.frames[GENUINE])
        )
        publisher = WatchlistStore(lists)  # e.g. the sync process, publishing a new list version
        enrol = demo_setup.frames[IMPOSTOR][0]  # Collins, another capture
        publisher.add("demo-list", [NewEntry("DEMO-0002", engine.template(enrol), category="wanted")])
        second = run_transaction(
            gate.flow, demo_setup.presentations[GENUINE], FrameListCamera(demo_setup.frames[GENUINE])
        )
    finally:
        gate.close()
    assert first.outcome == "PASS"
    assert second.reason_codes == ("WATCHLIST_HIT",)
    assert [h.entry_id for h in second.watchlist_hits] and second.watchlist_hits[0].list_id == "demo-list"


def test_one_frame_that_does_not_match_is_face_no_match_only(gate_factory, demo_setup) -> None:
    gate, events, _ = gate_factory()
    decision = run_transaction(
        gate.flow, demo_setup.presentations[IMPOSTOR], FrameListCamera(demo_setup.frames[IMPOSTOR][:1])
    )
    assert decision.reason_codes == ("FACE_NO_MATCH",)  # the retry found no frames: not a quality failure
    assert _states(events).count("face_capture") == 2


@pytest.mark.parametrize("document", ["unreadable", "expired"])
def test_failed_document_still_screens_the_face_against_the_watchlists(
    document, demo_setup, engine, clock_factory, tmp_path: Path
) -> None:
    clock = clock_factory()
    presentation = demo_setup.presentations[WATCHLISTED]  # Hopper, wanted, with her own passport
    if document == "unreadable":
        page = tmp_path / "page.png"
        page.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
        presentation, expected = Presentation.from_path(page), "DOC_UNREADABLE"
    else:
        clock = clock_factory(wall=datetime.now(UTC) + timedelta(days=6 * 365))  # past its expiry date
        expected = "DOC_EXPIRED"
    config = dataclasses.replace(demo_setup.config, log_path=tmp_path / "log.sqlite", watchlist_max_age_h=0.0)
    gate = open_gate(config, engine=engine, clock=clock)
    events: list[GateEvent] = []
    gate.flow.subscribe(events.append)
    try:
        decision = run_transaction(gate.flow, presentation, FrameListCamera(demo_setup.frames[WATCHLISTED]))
    finally:
        gate.close()
    # (six years on, the chip's signer certificate has expired too: CHIP_PA_FAILED may join)
    assert decision.reason_codes[0] == expected and decision.reason_codes[-1] == "WATCHLIST_HIT"
    assert decision.face_score is None  # no 1:1 against a document that failed
    assert "face_capture" in _states(events) and "watchlist_search" in _states(events)
    assert "document_checked" not in _states(events)
