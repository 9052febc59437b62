"""``kiosk bench-liveness``: the gate's liveness check on genuine capture windows, and its cost per frame.

The only genuine multi-frame captures this project has are the demo's: camera frames generated from the
two public-domain faces (``kiosk.lab.demo.camera_frames``: scale, shift, rotation, exposure, noise, blur).
Each window of ``frames`` of them goes through ``kiosk.liveness.LivenessCheck`` as the gate runs it; the
result is how many genuine windows the configuration would refer (per signal), the spread of the aggregated
passive score and of the frame-to-frame move, and the time per scored frame. Demo frames are not kiosk camera
footage: set the thresholds on the kiosk's own genuine frames."""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from kiosk.liveness import LivenessCheck, LivenessConfig
from matcher.errors import MatcherError


def liveness_bench(
    engine: Any, config: LivenessConfig | None = None, *, windows: int = 40, frames: int = 5, seed: int = 1000
) -> dict[str, Any]:
    """Run ``windows`` genuine windows of ``frames`` demo frames per face; returns the figures."""
    from kiosk.lab.demo import camera_frames, public_domain_faces

    if windows < 1 or frames < 2:
        raise ValueError("windows must be at least 1 and frames at least 2")
    config = config or LivenessConfig(min_frames=frames)
    alarms: dict[str, int] = {}
    medians, jumps, costs = [], [], []
    not_assessed = 0
    for image in public_domain_faces().values():
        box = engine.select_face(engine.detect(image), image.shape).box
        for w in range(windows):
            check = LivenessCheck(engine, config)
            rng = np.random.default_rng(seed + w)
            for index, frame in enumerate(camera_frames(image, box, rng, frames, usable=True), start=1):
                try:
                    face = engine.select_face(engine.detect(frame), frame.shape)
                except MatcherError:
                    continue
                t0 = time.perf_counter()
                check.observe(index, frame, face)
                costs.append((time.perf_counter() - t0) * 1000.0)
            result = check.assess()
            not_assessed += not result.assessed
            for name in result.alarms:
                alarms[name] = alarms.get(name, 0) + 1
            signals = result.record["signals"]
            if signals["passive"]["score"] is not None:
                medians.append(signals["passive"]["score"])
            jumps.append(signals["consistency"]["score"])
    total = 2 * windows
    referred = sum(alarms.values())  # a window with two alarms is counted twice: an upper bound
    return {
        "windows": total,
        "frames_per_window": frames,
        "passive_threshold": config.passive_threshold,
        "max_jump": config.max_jump,
        "alarms": alarms,
        "not_assessed": not_assessed,
        "referred_at_most": referred + not_assessed,
        "passive_median_lowest": round(min(medians), 4) if medians else None,
        "jump_highest": round(max(jumps), 4),
        "frame_ms": {
            "frames": len(costs),
            "median": round(statistics.median(costs), 2),
            "p95": round(float(np.quantile(costs, 0.95)), 2),
        },
    }
