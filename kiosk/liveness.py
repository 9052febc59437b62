"""Presentation-attack detection at the gate: the signals of one transaction's capture and their verdict.

``LivenessCheck`` watches the frames of a transaction (``keep`` every frame the camera delivered, ``observe``
each frame with a usable face) and ``assess`` turns them into named signals, each with its score, threshold
and frame count:

- ``passive``: the matcher's MiniFASNet live probability per frame, aggregated as the **median** over the
  frames scored (single frames flip; ``min_frames`` of them are needed before anything is assessed);
- ``consistency``: the face does not jump between frames (centre moved by more than ``max_jump`` face widths,
  or its size changed by more than ``max_scale_change`` times, per frame) and no frame repeats an earlier one
  (a frozen or looped stream: a real sensor's noise never gives two identical face regions);
- ``sensor``: a hardware PAD sensor's live probability (``kiosk.devices.pad_sensor``), median over the frames,
  when one is configured;
- ``challenge`` (``challenge = true``): once the frontal frames are in, the traveller is asked to turn the
  head to a side drawn at random (a coaching code, TURN_LEFT or TURN_RIGHT); the head yaw from the detector's
  landmarks must reach ``challenge_yaw_deg`` that way within ``challenge_frames`` frames. The turning frames
  join the consistency check (one face, moving continuously). Left is the traveller's own left: the nose moves
  towards the image's right in an unmirrored camera image (positive yaw of ``matcher.quality``).

Any alarm refers the traveller with LIVENESS_FAILED. The scores go to the decision record (the officer's),
never to the traveller's screen."""

from __future__ import annotations

import hashlib
import itertools
import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from kiosk.devices.frame_integrity import FrameIntegrity
from kiosk.devices.pad_sensor import PAD_SENSOR_KINDS, PadSensor, PadSensorError
from kiosk.errors import ConfigError
from matcher.quality import estimate_pose
from matcher.types import Face

CHALLENGES = {"left": ("TURN_LEFT", 1.0), "right": ("TURN_RIGHT", -1.0)}  # coaching code, sign of the yaw


@dataclass(frozen=True)
class LivenessConfig:
    """The ``[liveness]`` table: thresholds of each signal (used when ``policy.liveness_required``)."""

    passive_threshold: float = 0.2  # median live probability below this is an alarm (see the README)
    min_frames: int = 5  # usable frames scored before liveness is assessed (the capture waits for them)
    max_jump: float = 1.0  # face centre move between consecutive frames, in face widths per frame
    max_scale_change: float = 1.5  # face width ratio between consecutive frames
    frozen_difference: float = 0.25  # mean absolute pixel difference of the face region at or below which
    # two consecutive frames count as frozen (a live sensor's noise alone gives about 1 grey level or more)
    sensor: str = "none"  # hardware PAD: "none" or "simulated" (kiosk.devices.pad_sensor)
    sensor_threshold: float = 0.5  # median sensor live probability below this is an alarm
    simulated_sensor_score: float = 1.0  # what the simulated sensor reports for every frame
    challenge: bool = False  # active challenge: a head turn to a random side after the frontal frames
    challenge_yaw_deg: float = 15.0  # yaw the turn must reach, towards the instructed side
    challenge_frames: int = 30  # frames the traveller has for the turn

    def __post_init__(self) -> None:
        for name in ("passive_threshold", "sensor_threshold", "simulated_sensor_score"):
            if not (0.0 <= getattr(self, name) <= 1.0):
                raise ConfigError(f"liveness.{name} must be between 0 and 1")
        if not (0.0 < self.challenge_yaw_deg < 60.0) or self.challenge_frames < 1:
            raise ConfigError("liveness.challenge_yaw_deg must be in (0, 60) and challenge_frames at least 1")
        if self.min_frames < 2:
            raise ConfigError("liveness.min_frames must be at least 2 (one frame is not a capture window)")
        if not (self.max_jump > 0 and self.max_scale_change > 1 and self.frozen_difference >= 0):
            raise ConfigError("liveness: max_jump > 0, max_scale_change > 1 and frozen_difference >= 0")
        if self.sensor not in PAD_SENSOR_KINDS:
            kinds = ", ".join(PAD_SENSOR_KINDS)
            raise ConfigError(f"liveness.sensor must be one of {kinds}, got {self.sensor!r}")


class LivenessScorer(Protocol):
    """What the check uses of the face engine (``matcher.FaceEngine``)."""

    @property
    def model_versions(self) -> Mapping[str, str]: ...

    def liveness(self, image_bgr: np.ndarray, face: Face) -> float:
        """The passive live probability of ``face`` in the frame."""
        ...


@dataclass
class _Observation:
    index: int  # frame number in the transaction
    box: tuple[float, float, float, float]
    passive: float | None  # None: a challenge frame (turned head), not scored
    sensor: float | None
    frame: np.ndarray
    digest: bytes  # of the face region's pixels: a frame repeating an earlier one


@dataclass
class Assessment:
    """The verdict of a transaction: ``assessed`` False when too few frames were scored (or the sensor
    failed); ``alarms`` names the signals that fired; ``record`` is the decision record's ``liveness``."""

    assessed: bool
    alarms: tuple[str, ...]
    record: dict[str, Any]


@dataclass
class LivenessCheck:
    """The PAD state of one transaction (all capture attempts)."""

    engine: LivenessScorer
    config: LivenessConfig
    sensor: PadSensor | None = None
    stream: FrameIntegrity | None = None  # the camera stream's integrity: signal "camera"
    frames: list[np.ndarray] = field(default_factory=list)  # every frame delivered: evidence on an alarm
    observations: list[_Observation] = field(default_factory=list)
    sensor_error: str = ""
    cost_ms: float = 0.0
    challenge: str = ""  # the side asked for, once asked
    challenge_started: int = 0  # frame number of the instruction
    challenge_yaw: float | None = None  # largest yaw towards the asked side so far (degrees)
    challenge_done: bool = False

    def keep(self, frame: np.ndarray | None, timestamp_ms: float | None = None) -> None:
        """A frame the camera delivered (kept for the officer should an alarm fire)."""
        if self.stream is not None:
            self.stream.observe(frame, timestamp_ms)
        if isinstance(frame, np.ndarray) and frame.size:
            self.frames.append(frame)

    def observe(self, index: int, frame: np.ndarray, face: Face) -> None:
        """Score one frame with a usable face."""
        t0 = time.perf_counter()
        passive = float(self.engine.liveness(frame, face))
        sensor = None
        if self.sensor is not None and not self.sensor_error:
            try:
                sensor = float(self.sensor.measure(frame, face.box))
            except PadSensorError as exc:
                self.sensor_error = str(exc)
        digest = hashlib.blake2b(_region(frame, face.box).tobytes()).digest()
        self.observations.append(_Observation(index, face.box, passive, sensor, frame, digest))
        self.cost_ms += (time.perf_counter() - t0) * 1000.0

    @property
    def wants_challenge(self) -> bool:
        return self.config.challenge and not self.challenge

    @property
    def challenge_running(self) -> bool:
        return bool(self.challenge) and not self.challenge_done

    def start_challenge(self, index: int) -> str:
        """Draw the side (unpredictable: ``secrets``) and return the coaching code that asks for it."""
        self.challenge = secrets.choice(sorted(CHALLENGES))
        self.challenge_started = index
        return self.challenge_code

    @property
    def challenge_code(self) -> str:
        return CHALLENGES[self.challenge][0]

    def challenge_frame(self, index: int, frame: np.ndarray | None, face: Face | None) -> bool:
        """One frame during the challenge (``face`` None: none found). True when the challenge is over:
        the turn reached, or its frames used up."""
        if frame is not None and face is not None:
            yaw = estimate_pose(np.asarray(face.landmarks)).yaw * CHALLENGES[self.challenge][1]
            self.challenge_yaw = yaw if self.challenge_yaw is None else max(self.challenge_yaw, yaw)
            digest = hashlib.blake2b(_region(frame, face.box).tobytes()).digest()
            self.observations.append(_Observation(index, face.box, None, None, frame, digest))
        reached = self.challenge_yaw is not None and self.challenge_yaw >= self.config.challenge_yaw_deg
        self.challenge_done = reached or index - self.challenge_started >= self.config.challenge_frames
        return self.challenge_done

    @property
    def ready(self) -> bool:
        """Enough frames scored to assess."""
        return self._scored() >= self.config.min_frames

    def _scored(self) -> int:
        return sum(o.passive is not None for o in self.observations)

    def assess(self) -> Assessment:
        cfg = self.config
        signals: dict[str, dict[str, Any]] = {
            "passive": self._passive(),
            "consistency": self._consistency(),
        }
        if self.sensor is not None:
            signals["sensor"] = self._sensor()
        if self.stream is not None:
            signals["camera"] = self.stream.assess()
        if cfg.challenge:
            signals["challenge"] = self._challenge()
        assessed = self.ready and not self.sensor_error
        alarms = tuple(name for name, s in signals.items() if s["passed"] is False) if assessed else ()
        record: dict[str, Any] = {
            "assessed": assessed,
            "passed": (not alarms) if assessed else None,
            "frames": self._scored(),
            "min_frames": cfg.min_frames,
            "signals": signals,
            "models": dict(self.engine.model_versions).get("pad", ""),
        }
        if not self.ready:
            record["note"] = f"{self._scored()} usable frame(s) scored, {cfg.min_frames} needed"
        if self.sensor_error:
            record["note"] = f"PAD sensor failed: {self.sensor_error}"
        return Assessment(assessed, alarms, record)

    def _passive(self) -> dict[str, Any]:
        scores = [o.passive for o in self.observations if o.passive is not None]
        median = float(np.median(scores)) if scores else None
        return {
            "score": _round(median),
            "threshold": self.config.passive_threshold,
            "aggregate": "median",
            "frames": len(scores),
            "frame_scores": [_round(s) for s in scores],
            "passed": None if median is None else median >= self.config.passive_threshold,
        }

    def _consistency(self) -> dict[str, Any]:
        """Worst per-frame move (face widths per frame) and scale change between consecutive usable frames;
        repeated face regions (identical to any earlier one, or within ``frozen_difference`` of the last)."""
        cfg, obs = self.config, self.observations
        jump, scale, repeats = 0.0, 1.0, 0
        seen: set[bytes] = set()
        for prev, cur in itertools.pairwise(obs):
            gap = max(1, cur.index - prev.index)
            pw, cw = _width(prev.box), _width(cur.box)
            jump = max(jump, math.dist(_centre(prev.box), _centre(cur.box)) / pw / gap)
            scale = max(scale, max(pw, cw) / min(pw, cw))
            a, b = (_region(o.frame, cur.box).astype(np.float32) for o in (prev, cur))
            repeats += float(np.mean(np.abs(a - b))) <= cfg.frozen_difference or cur.digest in seen
            seen.add(prev.digest)
        passed = None
        if len(obs) >= 2:
            passed = jump <= cfg.max_jump and scale <= cfg.max_scale_change and repeats == 0
        return {
            "score": round(jump, 4),
            "threshold": cfg.max_jump,
            "scale_change": round(scale, 4),
            "scale_threshold": cfg.max_scale_change,
            "repeated_frames": repeats,
            "frames": len(obs),
            "passed": passed,
        }

    def _challenge(self) -> dict[str, Any]:
        passed = None
        if self.challenge_done:
            passed = self.challenge_yaw is not None and self.challenge_yaw >= self.config.challenge_yaw_deg
        elif self.challenge:  # asked, and the capture ended before the turn or its frames ran out
            passed = False
        return {
            "score": None if self.challenge_yaw is None else round(self.challenge_yaw, 2),
            "threshold": self.config.challenge_yaw_deg,
            "direction": self.challenge,
            "frames": sum(o.passive is None for o in self.observations),
            "passed": passed,
        }

    def _sensor(self) -> dict[str, Any]:
        scores = [o.sensor for o in self.observations if o.sensor is not None]
        median = float(np.median(scores)) if scores and not self.sensor_error else None
        return {
            "score": _round(median),
            "threshold": self.config.sensor_threshold,
            "aggregate": "median",
            "frames": len(scores),
            "device": getattr(self.sensor, "device_id", type(self.sensor).__name__),
            "passed": None if median is None else median >= self.config.sensor_threshold,
        }


def _region(frame: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The face box's pixels at full resolution (sensor noise is what tells two live frames apart)."""
    h, w = frame.shape[:2]
    x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
    x2, y2 = min(w, math.ceil(box[2])), min(h, math.ceil(box[3]))
    return frame[y1:y2, x1:x2] if x2 > x1 and y2 > y1 else frame


def _centre(box: tuple[float, float, float, float]) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _width(box: tuple[float, float, float, float]) -> float:
    return max(box[2] - box[0], 1e-6)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
