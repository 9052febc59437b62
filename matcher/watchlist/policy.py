"""Threshold policy of a watchlist: which score raises an alert, from the model's calibrated FMR table.

A list states its target false match rate either *per comparison* (each probe-vs-entry comparison may
falsely match with probability ``fmr``) or *per search* (a traveller who is on no list should be falsely
flagged by this list with probability at most ``fmr``). For per-search, the union bound over the N live
entries gives P(any false match) <= N * fmr_comparison, so the list uses the threshold for
``fmr / N`` per comparison. The threshold therefore rises as the list grows, and a list too large for the
calibrated range is refused rather than extrapolated. An explicit ``score`` overrides both.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from matcher.errors import ModelError

Per = Literal["comparison", "search"]


@dataclass(frozen=True)
class ThresholdPolicy:
    """How a list turns its model's calibration into an alert threshold."""

    fmr: float | None = 1e-3
    per: Per = "comparison"
    score: float | None = None  # fixed cosine threshold; overrides fmr when set

    def __post_init__(self) -> None:
        if self.score is None and (self.fmr is None or not 0.0 < self.fmr < 1.0):
            raise ValueError("threshold policy needs a target FMR in (0, 1) or a fixed score")
        if self.score is not None and not -1.0 <= self.score <= 1.0:
            raise ValueError(f"fixed threshold score {self.score} is outside [-1, 1]")
        if self.per not in ("comparison", "search"):
            raise ValueError(f"threshold policy 'per' must be 'comparison' or 'search', not {self.per!r}")

    def comparison_fmr(self, n_entries: int) -> float | None:
        """Target FMR per single comparison for a list of ``n_entries`` (None for a fixed score)."""
        if self.score is not None or self.fmr is None:
            return None
        if self.per == "search":
            return self.fmr / max(1, n_entries)
        return self.fmr

    def resolve(self, n_entries: int, table: Mapping[float, float] | None) -> float:
        """The cosine threshold for a list of ``n_entries`` given the model's FMR -> score table."""
        if self.score is not None:
            return float(self.score)
        target = self.comparison_fmr(n_entries)
        assert target is not None
        if not table:
            raise ModelError("the list's model has no calibrated thresholds: calibrate it or set a fixed score")
        return interpolate_threshold(table, target)

    def to_json(self) -> str:
        return json.dumps({"fmr": self.fmr, "per": self.per, "score": self.score}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ThresholdPolicy:
        data = json.loads(text)
        return cls(fmr=data.get("fmr"), per=data.get("per", "comparison"), score=data.get("score"))


def interpolate_threshold(table: Mapping[float, float], fmr: float) -> float:
    """Score for ``fmr``, interpolated linearly in log10(FMR) between calibrated points (as the engine does).

    Raises ModelError outside the calibrated range: an extrapolated threshold would be a guess.
    """
    points = sorted((float(k), float(v)) for k, v in table.items())
    lo, hi = points[0][0], points[-1][0]
    if not lo * (1 - 1e-9) <= fmr <= hi * (1 + 1e-9):
        raise ModelError(
            f"FMR {fmr:.3g} per comparison is outside the calibrated range [{lo:g}, {hi:g}]: "
            "calibrate lower FMRs, use a per-comparison policy, or set a fixed score"
        )
    for (f0, s0), (f1, s1) in zip(points, points[1:], strict=False):
        if f0 <= fmr <= f1:
            if f1 == f0:
                return s0
            w = (math.log10(fmr) - math.log10(f0)) / (math.log10(f1) - math.log10(f0))
            return s0 + w * (s1 - s0)
    return points[0][1] if fmr <= lo else points[-1][1]


def manifest_threshold_table(model_id: str, manifest_path: Path | None = None) -> dict[float, float] | None:
    """The calibrated FMR -> score table of the embedder whose id is ``model_id``, from the model manifest.

    Returns None when the manifest has no such calibrated model (the caller decides whether that is fatal).
    """
    try:
        from matcher import models
    except ImportError:
        return None
    manifest = models.load_manifest(manifest_path)
    for entry in _manifest_entries(manifest):
        if _entry_model_id(entry) != model_id:
            continue
        thresholds = _get(entry, "thresholds") or {}
        fmr_table = thresholds.get("fmr") if isinstance(thresholds, Mapping) else None
        if fmr_table:
            return {float(k): float(v) for k, v in fmr_table.items()}
    return None


def _get(obj: object, name: str) -> object:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def _manifest_entries(manifest: object) -> list[object]:
    models_ = _get(manifest, "models")
    if isinstance(models_, Mapping):
        return list(models_.values())
    return list(models_ or [])


def _entry_model_id(entry: object) -> str | None:
    model_id = _get(entry, "model_id") or _get(entry, "id")
    if model_id:
        return str(model_id)
    name, sha = _get(entry, "name"), _get(entry, "sha256")
    return f"{name}@{str(sha)[:12]}" if name and sha else None
