"""Threshold policy of a watchlist: which score raises an alert, from the model's calibration.

A list states its target rate either *per search* (the default: a traveller who is on no list is falsely
flagged by this list with probability ``fmr``, the false positive identification rate FPIR) or *per
comparison* (each probe-vs-entry comparison may falsely match with probability ``fmr``). Per search, the
threshold comes from the model's FPIR table (:class:`SearchTable`, ``matcher calibrate-search``): the score
at which a list of N real people is predicted to alarm on a share ``fmr`` of non-mated travellers, modelled
per probe (``matcher.lab.fpir_model``). A model calibrated without that table falls back on the union bound
over the N live entries, FPIR <= N * FMR(threshold), with the per-comparison curve's threshold for ``fmr /
N``. The threshold is recomputed from the live list size at every list version, and rises as the list
grows. A list whose size or rate lies outside the table (or the curve) is refused when it is created,
filled or given the policy, never extrapolated at search time. An explicit ``score`` overrides both.

``categories`` gives some entry categories their own rate (e.g. a looser FPIR for ``wanted`` than for
``missing``); each category's threshold follows its own live entry count, the other entries share ``fmr``.
Per search, a list's false alarm rate is then at most the sum of its categories' rates.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

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
        self,
        counts: Mapping[str, int],
        table: Mapping[float, float] | None,
        search: SearchTable | None = None,
    ) -> tuple[float, dict[str, float]]:
        """Thresholds for live entries counted by category in ``counts``: the one of the categories without
        a rate of their own, and each own-rate category's."""
        own = dict(self.categories)
        rest = sum(n for c, n in counts.items() if c not in own)
        thresholds = {
            c: self.resolve(counts.get(c, 0), table, rate=r, label=c, search=search) for c, r in own.items()
        }
        return self.resolve(rest, table, search=search), thresholds

    def resolve(
        self,
        n_entries: int,
        table: Mapping[float, float] | None,
        *,
        rate: float | None = None,
        label: str = "",
        search: SearchTable | None = None,
    ) -> float:
        """The cosine threshold for ``n_entries`` entries sharing ``rate`` (default: ``fmr``), given the
        model's FMR -> score table and, per search, its FPIR table (preferred when given); ModelError when
        the tables are missing or do not reach the rate at this size."""
        if self.score is not None:
            return float(self.score)
        rate = self.fmr if rate is None else rate
        what = f"category {label!r}: " if label else ""
        if self.per == "search" and search is not None:
            assert rate is not None
            try:
                return search.threshold(n_entries, rate)
            except ModelError as exc:
                raise ModelError(f"{what}{exc}") from None
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
            raise ModelError(
                f"{what}FPIR {rate:g} over {n_entries} entries needs FMR {target:.3g} per comparison: {exc}"
            ) from None

    def basis(self, n_entries: int, search: SearchTable | None = None) -> str:
        """What the threshold of a list of ``n_entries`` entries stands for under this policy."""
        if self.score is not None:
            return "fixed score"
        if self.per == "search" and search is not None:
            return search.basis(n_entries)
        fmr = self.comparison_fmr(n_entries)
        how = "union bound: " if self.per == "search" else ""
        return f"{how}FMR {fmr:.3g} per comparison"

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


@dataclass(frozen=True)
class SearchTable:
    """The model's per-search thresholds: ``scores[fpir][i]`` is the score at which a list of
    ``entries[i]`` real people is predicted to falsely alarm on a share ``fpir`` of non-mated searches (None
    where no score reaches it). ``verified_to``: the largest list size at which the prediction was checked
    on real galleries of people left out of the fit; larger lists rest on the model's extrapolation."""

    entries: tuple[int, ...]
    scores: Mapping[float, tuple[float | None, ...]]
    verified_to: int

    def threshold(self, n_entries: int, fpir: float) -> float:
        """Bilinear in log list size and log FPIR between table points; ModelError outside the table."""
        n = max(1, n_entries)
        rates = sorted(self.scores)
        if not (self.entries[0] <= n <= self.entries[-1]):
            raise ModelError(
                f"FPIR table covers lists of {self.entries[0]}..{self.entries[-1]:,} entries, not {n:,}: "
                "use a fixed score"
            )
        if not (rates[0] * (1 - 1e-9) <= fpir <= rates[-1] * (1 + 1e-9)):
            raise ModelError(
                f"FPIR {fpir:g} is outside the calibrated range {rates[0]:g}..{rates[-1]:g}: use a rate "
                "inside it or a fixed score"
            )
        i = min(int(np.searchsorted(self.entries, n, side="right")) - 1, len(self.entries) - 2)
        j = min(int(np.searchsorted(rates, fpir * (1 - 1e-9), side="right")) - 1, len(rates) - 2)
        j = max(j, 0)
        u = _frac(math.log(n), math.log(self.entries[i]), math.log(self.entries[i + 1]))
        v = _frac(math.log(fpir), math.log(rates[j]), math.log(rates[j + 1]))
        total = 0.0
        for a, wa in ((0, 1 - u), (1, u)):
            for b, wb in ((0, 1 - v), (1, v)):
                if wa * wb == 0.0:
                    continue
                corner = self.scores[rates[j + b]][i + a]
                if corner is None:
                    raise ModelError(
                        f"no score holds FPIR {fpir:g} over {n:,} entries in the model's FPIR table: use a "
                        "larger FPIR, a smaller list, or a fixed score"
                    )
                total += wa * wb * corner
        return total

    def basis(self, n_entries: int) -> str:
        """What a threshold from this table rests on at ``n_entries``."""
        if n_entries <= self.verified_to:
            return f"per-probe FPIR model, checked on real galleries up to {self.verified_to:,} entries"
        return f"per-probe FPIR model, extrapolated (checked on real galleries up to {self.verified_to:,})"

    @classmethod
    def from_manifest(cls, data: Mapping[str, Any]) -> SearchTable:
        return cls(
            tuple(int(n) for n in data["entries"]),
            {
                float(f): tuple(None if t is None else float(t) for t in row)
                for f, row in data["score"].items()
            },
            int(data["verified_to_entries"]),
        )


def _frac(x: float, lo: float, hi: float) -> float:
    return min(1.0, max(0.0, (x - lo) / (hi - lo)))


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


def manifest_search_table(model_id: str, manifest_path: Path | None = None) -> SearchTable | None:
    """The FPIR table of the embedder whose id is ``model_id`` (see :func:`manifest_threshold_table`); None
    when it has none."""
    manifest = models.load_manifest(manifest_path, verify=False)
    for spec in manifest.models.values():
        if spec.model_id != model_id or spec.role != "embedder":
            continue
        search = (spec.thresholds or {}).get("search")
        if not search or search.get("model_sha256", spec.sha256) != spec.sha256:
            return None
        return SearchTable.from_manifest(search)
    return None
