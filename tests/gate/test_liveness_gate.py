"""Presentation-attack detection in the gate flow, run on the real flow (engine with the MiniFASNet models,
document reader, chip PKI, decision log) with generated travellers: the passive score aggregated over the
capture, the frame-to-frame consistency check, the PAD sensor signal, the alarm's evidence, and what the
traveller never sees."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.devices.barrier import LogBarrier
from kiosk.devices.camera import FrameListCamera
from kiosk.errors import ConfigError
from kiosk.gate.assemble import Gate, open_gate
from kiosk.gate.events import Coaching, Decided, GateEvent
from kiosk.gate.verify import run_transaction
from kiosk.lab.demo import camera_frames, portrait_crop, public_domain_faces
from kiosk.liveness import LivenessConfig
from kiosk.store.evidence import unpack_frames
from kiosk.texts import coaching_text
from matcher.lab.pad_eval import simulate_attack
from matcher.quality import FaceGuide

GENUINE = "genuine traveller (Collins)"


@pytest.fixture(scope="module")
def collins(live_engine) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    image = public_domain_faces()["collins"]
    return image, live_engine.select_face(live_engine.detect(image), image.shape).box


@pytest.fixture
def live_frames(collins) -> list[np.ndarray]:
    """Eight usable camera frames of the genuine traveller (the demo's own frame generator)."""
    image, box = collins
    return camera_frames(image, box, np.random.default_rng(7), 8, usable=True)


@pytest.fixture
def pad_gate(demo_setup, live_engine, clock, tmp_path: Path):
    gates: list[Gate] = []

    def make(guide: FaceGuide | None = None, **liveness_changes) -> tuple[Gate, list[GateEvent], LogBarrier]:
        policy = dataclasses.replace(demo_setup.config.policy, liveness_required=True, max_capture_frames=10)
        policy = dataclasses.replace(policy, face_guide=guide or policy.face_guide)
        config = dataclasses.replace(
            demo_setup.config,
            policy=policy,
            liveness=LivenessConfig(**liveness_changes),
            log_path=tmp_path / f"log{len(gates)}.sqlite",
        )
        barrier = LogBarrier()
        gate = open_gate(config, engine=live_engine, clock=clock, barrier=barrier)
        events: list[GateEvent] = []
        gate.flow.subscribe(events.append)
        gates.append(gate)
        return gate, events, barrier

    yield make
    for gate in gates:
        gate.close()


def _run(gate: Gate, demo_setup, frames: list[np.ndarray]):
    return run_transaction(gate.flow, demo_setup.presentations[GENUINE], FrameListCamera(frames))


def test_genuine_traveller_passes_with_liveness_assessed_over_several_frames(
    pad_gate, demo_setup, live_frames, live_engine
) -> None:
    gate, events, barrier = pad_gate()
    decision = _run(gate, demo_setup, live_frames)
    assert decision.outcome == "PASS" and decision.reason_codes == () and barrier.opened == 1
    live = decision.liveness
    assert live["assessed"] is True and live["passed"] is True and live["required"] is True
    assert live["frames"] == 5 and live["models"] == live_engine.model_versions["pad"]
    passive = live["signals"]["passive"]
    assert passive["aggregate"] == "median" and passive["frames"] == 5 and passive["threshold"] == 0.2
    assert passive["score"] == pytest.approx(float(np.median(passive["frame_scores"])), abs=1e-4)
    assert passive["score"] >= passive["threshold"]
    consistency = live["signals"]["consistency"]
    assert consistency["passed"] is True and consistency["repeated_frames"] == 0
    assert "sensor" not in live["signals"]  # none configured
    assert decision.face_score is not None and decision.face_score >= decision.face_threshold
    # the traveller is asked to keep looking while the window fills, and never sees a liveness result
    assert [e.code for e in events if isinstance(e, Coaching)].count("HOLD_STILL") == 4
    _assert_no_liveness_shown(events)


def _assert_no_liveness_shown(events: list[GateEvent]) -> None:
    """State and coaching events (what the traveller's screen shows) never mention liveness, and no event's
    details carry a liveness score (the decision event names the reason code and the officer's text only)."""
    for event in events:
        if isinstance(event, Decided):  # the record is the officer's; the event's own fields name codes only
            detail = str((event.reason_codes, event.presentation, event.error, event.document_lists))
        else:
            text = coaching_text(event.code) if isinstance(event, Coaching) else ""
            assert "liveness" not in f"{event} {text}".lower()
            detail = str(event)
        assert "score" not in detail and "signals" not in detail


def test_screen_replay_refers_with_liveness_failed_and_keeps_every_frame(
    pad_gate, demo_setup, collins, live_engine
) -> None:
    image, box = collins
    rng = np.random.default_rng(3)
    frames = [simulate_attack(portrait_crop(image, box), "screen_replay", rng) for _ in range(7)]
    gate, events, barrier = pad_gate()
    decision = _run(gate, demo_setup, frames)
    assert decision.outcome == "REFER" and "LIVENESS_FAILED" in decision.reason_codes
    assert barrier.opened == 0
    passive = decision.liveness["signals"]["passive"]
    assert decision.liveness["assessed"] is True and decision.liveness["passed"] is False
    assert passive["passed"] is False and passive["score"] < passive["threshold"]
    # every frame the camera delivered in the capture, sealed for the officer, in order
    evidence = gate.decision_log.evidence(decision.id)
    kept = unpack_frames(evidence["capture_frames"])
    assert len(kept) == decision.quality["frames"] >= 5
    first = cv2.imdecode(np.frombuffer(kept[0], np.uint8), cv2.IMREAD_COLOR)
    assert first.shape == frames[0].shape and np.abs(first.astype(int) - frames[0]).mean() < 4
    assert "live_face" in evidence and "live_template" in evidence
    # the officer's text names the alarm; the traveller's events carry no score
    decided = next(e for e in events if isinstance(e, Decided))
    assert "LIVENESS_FAILED" in decided.reason_codes
    _assert_no_liveness_shown(events)


def test_a_genuine_referral_keeps_no_capture_frames(pad_gate, demo_setup, live_frames) -> None:
    gate, _, _ = pad_gate(sensor="simulated", simulated_sensor_score=1.0)
    impostor = run_transaction(
        gate.flow,
        demo_setup.presentations["impostor with Hopper's passport"],
        FrameListCamera(live_frames + live_frames[:3]),
    )
    assert "FACE_NO_MATCH" in impostor.reason_codes and "LIVENESS_FAILED" not in impostor.reason_codes
    evidence = gate.decision_log.evidence(impostor.id)
    assert "live_face" in evidence and "capture_frames" not in evidence


def test_frozen_frames_raise_the_consistency_alarm(pad_gate, demo_setup, live_frames) -> None:
    gate, _, _ = pad_gate()
    decision = _run(gate, demo_setup, [live_frames[0]] * 6)
    consistency = decision.liveness["signals"]["consistency"]
    assert decision.reason_codes == ("LIVENESS_FAILED", "CAMERA_FROZEN")  # the camera stream signal too
    assert consistency["passed"] is False and consistency["repeated_frames"] == 4
    assert decision.liveness["signals"]["passive"]["passed"] is True  # the passive signal alone passed


def test_a_face_jumping_between_frames_raises_the_consistency_alarm(
    pad_gate, demo_setup, live_frames
) -> None:
    jumping = [np.roll(f, 320 if i % 2 else 0, axis=1) for i, f in enumerate(live_frames)]
    # the face guide alone turns such frames away (MOVE_LEFT / MOVE_RIGHT): widen it to reach the alarm
    gate, _, _ = pad_gate(guide=FaceGuide(max_offset=2.0))
    decision = _run(gate, demo_setup, jumping)
    consistency = decision.liveness["signals"]["consistency"]
    assert "LIVENESS_FAILED" in decision.reason_codes
    assert consistency["passed"] is False and consistency["score"] > consistency["threshold"]
    # the same frames unshifted pass the check
    gate, _, _ = pad_gate()
    assert _run(gate, demo_setup, live_frames).liveness["signals"]["consistency"]["passed"] is True


def test_too_few_usable_frames_is_not_assessed_but_the_face_is_compared(
    pad_gate, demo_setup, live_frames
) -> None:
    gate, _, _ = pad_gate()
    decision = _run(gate, demo_setup, live_frames[:3])
    assert decision.reason_codes == ("LIVENESS_NOT_ASSESSED",)
    assert decision.liveness["assessed"] is False and decision.liveness["frames"] == 3
    assert "3 usable frame(s) scored, 5 needed" in decision.liveness["note"]
    assert decision.face_score is not None and decision.face_score >= decision.face_threshold


def test_the_pad_sensor_is_another_signal(pad_gate, demo_setup, live_frames) -> None:
    gate, _, _ = pad_gate(sensor="simulated", simulated_sensor_score=0.9)
    passed = _run(gate, demo_setup, live_frames)
    sensor = passed.liveness["signals"]["sensor"]
    assert passed.outcome == "PASS" and sensor["passed"] is True and sensor["frames"] == 5
    assert sensor["score"] == 0.9 and sensor["device"] == "simulated"

    gate, _, _ = pad_gate(sensor="simulated", simulated_sensor_score=0.1, sensor_threshold=0.5)
    alarm = _run(gate, demo_setup, live_frames)
    assert alarm.reason_codes == ("LIVENESS_FAILED",)
    assert alarm.liveness["signals"]["sensor"]["passed"] is False
    assert alarm.liveness["signals"]["passive"]["passed"] is True


def test_a_failing_pad_sensor_is_never_a_pass(pad_gate, demo_setup, live_frames) -> None:
    from kiosk.devices.pad_sensor import SimulatedPadSensor

    gate, _, _ = pad_gate(sensor="simulated")
    gate.flow._pad_sensor = SimulatedPadSensor(fail=True)
    decision = _run(gate, demo_setup, live_frames)
    assert decision.reason_codes == ("LIVENESS_NOT_ASSESSED",)
    assert "PAD sensor failed" in decision.liveness["note"]


def test_liveness_required_without_the_models_stops_the_gate(demo_setup, engine, tmp_path: Path) -> None:
    policy = dataclasses.replace(demo_setup.config.policy, liveness_required=True)
    config = dataclasses.replace(demo_setup.config, policy=policy, log_path=tmp_path / "log.sqlite")
    with pytest.raises(ConfigError, match="liveness_required needs the liveness models"):
        open_gate(config, engine=engine)


def test_not_required_is_recorded_as_not_assessed(demo_setup, live_engine, clock, tmp_path: Path) -> None:
    config = dataclasses.replace(demo_setup.config, log_path=tmp_path / "log.sqlite")
    gate = open_gate(config, engine=live_engine, clock=clock)
    try:
        decision = _run(gate, demo_setup, demo_setup.frames[GENUINE])
    finally:
        gate.close()
    assert decision.outcome == "PASS"
    assert decision.liveness == {
        "assessed": False,
        "required": False,
        "note": "policy.liveness_required is false",
    }


def _turned(frame: np.ndarray, engine, amount: float) -> np.ndarray:
    """``frame`` with the nose region pushed sideways (``amount`` eye distances at the nose tip, fading out
    with a Gaussian): to the landmarks a head turned by about 26 degrees at 1.0, positive towards the image
    right. A simulation of a turn, not a real one."""
    face = engine.select_face(engine.detect(frame), frame.shape)
    landmarks = np.asarray(face.landmarks).reshape(5, 2)
    ied = float(np.linalg.norm(landmarks[1] - landmarks[0]))
    ys, xs = np.mgrid[: frame.shape[0], : frame.shape[1]].astype(np.float32)
    nx, ny = landmarks[2]
    shift = amount * ied * np.exp(-((xs - nx) ** 2 + (ys - ny) ** 2) / (2 * (0.6 * ied) ** 2))
    return cv2.remap(frame, xs - shift, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _challenge_run(gate: Gate, events: list[GateEvent], demo_setup, frames, engine, *, obey: bool):
    """Drive the flow like a traveller who reads the screen: frontal frames until asked to turn, then frames
    turning (``obey``: the side asked; otherwise the other side) until the gate decides."""
    flow = gate.flow
    flow.present(demo_setup.presentations[GENUINE])
    asked = ""
    for i, frame in enumerate(frames * 3):
        if flow.state.value != "face_capture":
            break
        codes = [e.code for e in events if isinstance(e, Coaching)]
        asked = next((c for c in reversed(codes) if c.startswith("TURN_")), "")
        if asked:
            sign = 1.0 if (asked == "TURN_LEFT") == obey else -1.0
            frame = _turned(frame, engine, sign * min(1.0, 0.35 * (i % 8 + 1)))
        flow.offer_frame(frame)
    decision = flow.last_decision
    flow.finish()
    return decision, asked


@pytest.mark.parametrize("obey", [True, False])
def test_active_challenge_head_turn(pad_gate, demo_setup, live_frames, live_engine, obey: bool) -> None:
    gate, events, _ = pad_gate(challenge=True)
    decision, asked = _challenge_run(gate, events, demo_setup, live_frames, live_engine, obey=obey)
    assert asked in ("TURN_LEFT", "TURN_RIGHT")
    challenge = decision.liveness["signals"]["challenge"]
    assert challenge["direction"] == {"TURN_LEFT": "left", "TURN_RIGHT": "right"}[asked]
    assert challenge["threshold"] == 15.0 and challenge["frames"] >= 1
    if obey:
        assert decision.outcome == "PASS" and challenge["passed"] is True and challenge["score"] >= 15.0
        assert decision.liveness["signals"]["consistency"]["passed"] is True  # the turning frames too
    else:
        assert decision.reason_codes == ("LIVENESS_FAILED",) and challenge["passed"] is False
        assert challenge["score"] < 0  # turned, but the other way
    assert decision.liveness["frames"] == 5  # only the frontal frames are scored by the passive model
    _assert_no_liveness_shown(events)


def test_a_photo_held_still_fails_the_challenge_when_its_frames_run_out(
    pad_gate, demo_setup, collins
) -> None:
    gate, events, _ = pad_gate(challenge=True, challenge_frames=4)
    frames = camera_frames(*collins, np.random.default_rng(7), 16, usable=True)  # none repeats another
    decision = _run(gate, demo_setup, frames)
    challenge = decision.liveness["signals"]["challenge"]
    assert decision.reason_codes == ("LIVENESS_FAILED",) and challenge["passed"] is False
    assert challenge["frames"] == 4 and abs(challenge["score"]) < 15.0
    codes = [e.code for e in events if isinstance(e, Coaching)]
    assert codes.count(codes[-1]) == 4 and codes[-1].startswith("TURN_")  # asked, then every frame


def test_the_side_asked_for_is_drawn_at_random(live_engine) -> None:
    from kiosk.liveness import LivenessCheck

    sides = {LivenessCheck(live_engine, LivenessConfig(challenge=True)).start_challenge(1) for _ in range(64)}
    assert sides == {"TURN_LEFT", "TURN_RIGHT"}


def test_liveness_bench_on_genuine_demo_windows(live_engine) -> None:
    from click.testing import CliRunner

    from kiosk.cli import cli
    from kiosk.lab.liveness_bench import liveness_bench

    result = liveness_bench(live_engine, windows=3, frames=5)
    assert result["windows"] == 6 and result["frame_ms"]["frames"] == 30
    assert result["referred_at_most"] == 0 and result["passive_median_lowest"] >= 0.2  # the default threshold
    strict = liveness_bench(live_engine, LivenessConfig(passive_threshold=0.99), windows=3, frames=5)
    assert strict["alarms"]["passive"] == 6  # the same windows against a threshold no genuine one reaches
    out = CliRunner().invoke(cli, ["bench-liveness", "--windows", "1"])
    assert out.exit_code == 0, out.output
    assert "genuine demo windows: 2 of 5 frames; referred at most 0" in out.output
    assert "liveness per scored frame: median" in out.output
