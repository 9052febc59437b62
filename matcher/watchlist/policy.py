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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from matcher import models
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
            raise ModelError(
                "the list's model has no calibrated thresholds: calibrate it or set a fixed score"
            )
        return interpolate_threshold(table, target)

    def to_json(self) -> str:
        return json.dumps({"fmr": self.fmr, "per": self.per, "score": self.score}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ThresholdPolicy:
        data = json.loads(text)
        return cls(fmr=data.get("fmr"), per=data.get("per", "comparison"), score=data.get("score"))


def interpolate_threshold(table: Mapping[float, float], fmr: float) -> float:
    """Score for ``fmr``, linear in log10(FMR) between calibrated points (the engine's rule).

    Raises ModelError outside the calibrated range: an extrapolated threshold would be a guess.
    """
    try:
        return models.interpolate_threshold({str(k): float(v) for k, v in table.items()}, fmr)
    except ValueError as exc:
        raise ModelError(
            f"{exc} (per comparison): calibrate lower FMRs, use a per-comparison policy, or set a fixed score"
        ) from None


def manifest_threshold_table(model_id: str, manifest_path: Path | None = None) -> dict[float, float] | None:
    """The calibrated FMR -> score table of the embedder whose id is ``model_id``, from the model manifest;
    None when no manifest model has that id or it is uncalibrated (or calibrated for another file)."""
    manifest = models.load_manifest(manifest_path, verify=False)
    for spec in manifest.models.values():
        if spec.model_id != model_id or spec.role != "embedder":
            continue
        table = spec.thresholds or {}
        if table.get("model_sha256", spec.sha256) != spec.sha256 or not table.get("fmr"):
            return None
        return {float(k): float(v) for k, v in table["fmr"].items()}
    return None
