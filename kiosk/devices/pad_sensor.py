"""Hardware presentation-attack detection (a near-infrared or depth camera beside the RGB one) as one more
liveness signal. A vendor's device implements ``PadSensor``; the kiosk ships a simulated one for tests and
demos, chosen with ``liveness.sensor = "simulated"``. Without a sensor (``"none"``) the gate has no
hardware signal: a good mask or a flat print held well can pass the RGB signals alone."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from kiosk.errors import KioskError

PAD_SENSOR_KINDS = ("none", "simulated")


class PadSensorError(KioskError):
    """The sensor gave no reading (unplugged, timed out): liveness is then not assessed, never passed."""

    code = "PAD_SENSOR_FAILED"


class PadSensor(Protocol):
    """What the gate needs from a PAD sensor: for the RGB frame just captured and the face box the detector
    found in it, the probability in [0, 1] that the sensor's own capture of that region shows a live face.
    Implementations synchronise with the RGB camera themselves, map the box into their own image, and raise
    PadSensorError when they have no reading; they must answer within a frame time (< 30 ms)."""

    device_id: str

    def measure(self, frame: np.ndarray, box: tuple[float, float, float, float]) -> float: ...


class SimulatedPadSensor:
    """Reports a fixed live probability for every frame (``fail``: raises PadSensorError instead), so the
    gate's handling of a hardware signal (aggregation, alarm, fault) runs without the hardware."""

    def __init__(self, score: float = 1.0, *, fail: bool = False) -> None:
        if not (0.0 <= score <= 1.0):
            raise ValueError("a simulated PAD sensor score is a probability in [0, 1]")
        self.device_id = "simulated"
        self.score = float(score)
        self.fail = fail
        self.readings = 0

    def measure(self, frame: np.ndarray, box: tuple[float, float, float, float]) -> float:
        if self.fail:
            raise PadSensorError("simulated PAD sensor: no reading")
        self.readings += 1
        return self.score


def open_pad_sensor(kind: str, *, simulated_score: float = 1.0) -> PadSensor | None:
    """The configured sensor, or None for ``"none"``."""
    if kind == "none":
        return None
    if kind == "simulated":
        return SimulatedPadSensor(simulated_score)
    raise ValueError(f"unknown PAD sensor kind {kind!r}")
