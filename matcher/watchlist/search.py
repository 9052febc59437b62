"""Immutable in-memory snapshots of watchlists and the 1:N search over them.

A snapshot is one loaded version of one list: its index, the expiry times of its entries and its resolved
alert threshold. Snapshots are never
mutated, so any number of gate threads search one while the store loads its successor; the store swaps
the reference when the new one is ready, and searches already running finish on the old one.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np

from matcher.errors import TemplateMismatchError
from matcher.types import Template
from matcher.utc import iso_utc
from matcher.watchlist import index as wl_index


@dataclass(frozen=True)
class Alert:
    """One watchlist candidate at or above its list's threshold."""

    list_id: str
    list_version: int
    entry_id: int
    external_ref: str
    category: str
    severity: str
    valid_until: str | None
    source: str
    score: float
    threshold: float
    rank: int  # 1-based rank within its list for this search

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["score"] = round(self.score, 5)
        data["threshold"] = round(self.threshold, 5)
        return data


@dataclass(frozen=True)
class Candidate:
    list_id: str
    entry_id: int
    score: float
    threshold: float
    rank: int


@dataclass(eq=False)
class ListSnapshot:
    """One loaded version of a list. Treat as immutable; only the expired-ids cache is filled lazily."""

    list_id: str
    version: int
    model_id: str
    dim: int
    threshold: float  # for entries whose category has no rate of its own
    list_valid_until: float  # epoch seconds; inf when the list never expires
    index: wl_index.WatchIndex
    live_count: int
    expiry_times: np.ndarray  # float64 epoch seconds, ascending, only entries with an expiry
    expiry_ids: np.ndarray  # int64, aligned with expiry_times
    category_thresholds: dict[str, float] = field(default_factory=dict)  # categories with their own rate
    _excluded: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def kind(self) -> str:
        return self.index.kind

    @property
    def lowest_threshold(self) -> float:
        return min([self.threshold, *self.category_thresholds.values()])

    def threshold_for(self, category: str) -> float:
        return self.category_thresholds.get(category, self.threshold)

    def excluded(self, now: float) -> np.ndarray:
        """Sorted ids of the entries expired at ``now`` (cached per number of expired entries)."""
        n_expired = int(np.searchsorted(self.expiry_times, now, side="left"))
        with self._lock:
            cached = self._excluded.get(n_expired)
            if cached is None:
                cached = np.sort(self.expiry_ids[:n_expired])
                self._excluded.clear()
                self._excluded[n_expired] = cached
        return cached

    def search(self, template: Template, top_k: int, now: float) -> list[Candidate]:
        """Candidates at or above the threshold, best first; none when the list itself has expired."""
        if template.model_id != self.model_id:
            raise TemplateMismatchError(
                f"template from model {template.model_id!r} cannot search list {self.list_id!r} "
                f"of model {self.model_id!r}"
            )
        if template.dim != self.dim:
            raise TemplateMismatchError(
                f"template dimension {template.dim} does not match list {self.list_id!r} ({self.dim})"
            )
        if now > self.list_valid_until or self.live_count == 0:
            return []
        scores, ids = self.index.search(template.vector[None, :], top_k, excluded=self.excluded(now))
        out = []
        for rank, (score, entry_id) in enumerate(zip(scores[0], ids[0], strict=True), start=1):
            if entry_id < 0 or score < self.lowest_threshold:
                break
            out.append(Candidate(self.list_id, int(entry_id), float(score), self.lowest_threshold, rank))
        return out


def to_epoch(value: str | datetime | None) -> float:
    """UTC epoch seconds of an ISO-8601 time (a date alone means the end of that day, UTC); inf for None."""
    if value is None or value == "":
        return float("inf")
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        if len(text) == 10:  # date only: valid through that whole day
            text += "T23:59:59.999999+00:00"
        value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def normalise_time(value: str | datetime | None) -> str | None:
    """Canonical ISO-8601 UTC form (``...Z``) of a validity time, or None; ValueError when unparsable."""
    if value is None or value == "":
        return None
    try:
        epoch = to_epoch(value)
    except ValueError as exc:
        raise ValueError(f"not an ISO-8601 date or time: {value!r}") from exc
    return iso_utc(datetime.fromtimestamp(epoch, UTC), "seconds")  # as stored (see matcher.utc)
