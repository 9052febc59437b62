"""Threshold policy of a watchlist: which score raises an alert, from the model's calibrated FMR curve.

A list states its target rate either *per search* (the default: a traveller who is on no list is falsely
flagged by this list with probability ``fmr``, the false positive identification rate FPIR) or *per
comparison* (each probe-vs-entry comparison may falsely match with probability ``fmr``). Per search, the
union bound over the N live entries gives FPIR <= N * FMR(threshold), so the list uses the threshold for
``fmr / N`` per comparison; for FPIR well under 1 the bound is nearly exact (the comparisons of one probe
are close to independent). The threshold is therefore recomputed from the live list size at every list
version, and rises as the list grows. A list whose size needs a per-comparison rate outside the calibrated
curve is refused when it is created, filled or given the policy, never extrapolated at search time. An
explicit ``score`` overrides both.

``categories`` gives some entry categories their own rate (e.g. a looser FPIR for ``wanted`` than for
``missing``); each category's threshold follows its own live entry count, the other entries share ``fmr``.
Per search, a list's false alarm rate is then at most the sum of its categories' rates.
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
DEFAULT_FPIR = 1e-3  # one innocent traveller in a thousand flagged by a list


@dataclass(frozen=True)
class ThresholdPolicy:
    """How a list turns its model's calibration into an alert threshold."""

    fmr: float | None = DEFAULT_FPIR
    per: Per = "search"
    score: float | None = None  # fixed cosine threshold; overrides fmr when set
    categories: tuple[tuple[str, float], ...] = ()  # (category, its own rate), sorted by category

    def __post_init__(self) -> None:
        pairs = self.categories.items() if isinstance(self.categories, Mapping) else self.categories
        object.__setattr__(self, "categories", tuple(sorted((str(c), float(r)) for c, r in pairs)))
        for category, rate in self.categories:
            if not 0.0 < rate < 1.0:
                raise ValueError(f"category {category!r}: target rate must lie in (0, 1), got {rate}")
        if self.categories and self.score is not None:
            raise ValueError("per-category rates need a rate-based policy, not a fixed score")
        if self.score is None and (self.fmr is None or not 0.0 < self.fmr < 1.0):
            raise ValueError("threshold policy needs a target FMR in (0, 1) or a fixed score")
        if self.score is not None and not -1.0 <= self.score <= 1.0:
            raise ValueError(f"fixed threshold score {self.score} is outside [-1, 1]")
        if self.per not in ("comparison", "search"):
            raise ValueError(f"threshold policy 'per' must be 'comparison' or 'search', not {self.per!r}")

    def comparison_fmr(self, n_entries: int, rate: float | None = None) -> float | None:
        """Target FMR per single comparison for ``n_entries`` entries sharing ``rate`` (default: ``fmr``);
        None for a fixed score."""
        rate = self.fmr if rate is None else rate
        if self.score is not None or rate is None:
            return None
        if self.per == "search":
            return rate / max(1, n_entries)
        return rate

    def resolve_all(
        self, counts: Mapping[str, int], table: Mapping[float, float] | None
    ) -> tuple[float, dict[str, float]]:
        """Thresholds for live entries counted by category in ``counts``: the one of the categories without
        a rate of their own, and each own-rate category's."""
        own = dict(self.categories)
        rest = sum(n for c, n in counts.items() if c not in own)
        thresholds = {c: self.resolve(counts.get(c, 0), table, rate=r, label=c) for c, r in own.items()}
        return self.resolve(rest, table), thresholds

    def resolve(
        self,
        n_entries: int,
        table: Mapping[float, float] | None,
        *,
        rate: float | None = None,
        label: str = "",
    ) -> float:
        """The cosine threshold for ``n_entries`` entries sharing ``rate`` (default: ``fmr``), given the
        model's FMR -> score table; ModelError when the table is missing or does not reach the rate."""
        if self.score is not None:
            return float(self.score)
        rate = self.fmr if rate is None else rate
        target = self.comparison_fmr(n_entries, rate)
        assert target is not None and rate is not None
        if not table:
            raise ModelError(
                "the list's model has no calibrated thresholds: calibrate it or set a fixed score"
            )
        try:
            return interpolate_threshold(table, target)
        except ModelError as exc:
            if self.per != "search":
                raise
            what = f"category {label!r}: " if label else ""
            raise ModelError(
                f"{what}FPIR {rate:g} over {n_entries} entries needs FMR {target:.3g} per comparison: {exc}"
            ) from None

    def describe(self) -> str:
        if self.score is not None:
            return f"fixed score {self.score:g}"
        name = "FPIR {:g} per search" if self.per == "search" else "FMR {:g} per comparison"
        own = ", ".join(f"{c}: {name.format(r)}" for c, r in self.categories)
        return name.format(self.fmr) + (f" ({own})" if own else "")

    def to_json(self) -> str:
        data: dict[str, object] = {"fmr": self.fmr, "per": self.per, "score": self.score}
        if self.categories:
            data["categories"] = dict(self.categories)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ThresholdPolicy:
        data = json.loads(text)
        return cls(
            fmr=data.get("fmr"),
            per=data.get("per", "comparison"),
            score=data.get("score"),
            categories=tuple((data.get("categories") or {}).items()),
        )


def interpolate_threshold(table: Mapping[float, float], fmr: float) -> float:
    """Score for ``fmr``, linear in log10(FMR) between calibrated points (the engine's rule).

    Raises ModelError outside the calibrated range: an extrapolated threshold would be a guess.
    """
    try:
        return models.interpolate_threshold({str(k): float(v) for k, v in table.items()}, fmr)
    except ValueError as exc:
        raise ModelError(
            f"{exc} (per comparison): use a larger FPIR, a smaller list, or a fixed score"
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
