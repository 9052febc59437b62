"""Supervisors' statistics of a period: every rate with its sample size and a 95% interval (ISO/IEC 19795-1
reporting), built in one streaming pass over the verified chain (``select.period_rows``).

Definitions (each also printed beside its figure):
- transactions: decisions of the period; pass / referral rates and one rate per reason code over them.
- failure to acquire: decisions referred with ``QUALITY_TIMEOUT`` or ``CAPTURE_UNREADABLE`` (no usable live
  face) over the transactions.
- FNMR: the officers' confirmed outcomes filter it (BSI TR-03121 continuous monitoring). A genuine comparison
  is a 1:1 comparison of a traveller the gate passed, or of a referred traveller an officer ``ADMITTED`` (an
  officer admits a traveller on a document only as its holder; the console's reason code for that is
  ``IDENTITY_CONFIRMED``); a false non-match is a genuine comparison scored under its threshold. Referrals
  without a final resolution, or closed ``REFUSED`` or ``RETRY``, are left out and counted.
- watchlist alerts: decisions with a watchlist hit, and how officers resolved them.
- intervals: Wilson score 95%; with no events (or only events) the rule of three, ``[0, 3/n]``.
- slices by issuing state, document type, age group, sex and nationality (BSI TR-03121): per cell the
  referral rate and the FNMR, only as aggregates of at least ``min_cell`` transactions; smaller cells are
  pooled and only their count is shown. The traveller's fields come from record version 2
  (``kiosk.decision``); older records fall in a ``not recorded`` cell, never guessed.
- document placed to decision: ``timings_ms.total`` of version-2 records (p50, p95); attempts: the share of
  them that needed the document presented again, a second capture or more time, and the configured time-outs
  they were decided under.
- account events (the second chain, ``kiosk.store.accounts``): sign-ins, failures, lock-outs, account changes
  and evidence openings of the period, counted per action, and evidence openings per officer.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.export.select import AccountRow, Head, Period, Row, account_rows, period_rows
from kiosk.store.log import DecisionLog
from kiosk.store.records import FINAL_RESOLUTIONS, LoggedDecision, Resolution

Z95 = 1.959963984540054
FTA_REASONS = ("QUALITY_TIMEOUT", "CAPTURE_UNREADABLE")
DEFAULT_MIN_CELL = 10
DURATION_CAP_MS = 600_000  # longer transactions count as 10 minutes in the percentiles
SCORE_BINS = (-0.2, 1.0, 60)  # low, high, count: the score histogram's fixed bins (bounded memory)
SLICE_SEPARATOR = "; "  # between a slice cell's referral rate and its FNMR
NOT_RECORDED = "not recorded"  # a slice value of records older than the field (record version 1)
TRAVELLER_FIELDS = ("age_group", "sex", "nationality")
SLICE_FIELDS = ("issuing_state", "document_type", *TRAVELLER_FIELDS)
RETRIES = {  # what "needed" means, from quality.attempts of version-2 records
    "document presented again": ("document", 1),
    "a second capture": ("capture", 1),
    "more time asked": ("extensions", 0),
}


@dataclass(frozen=True)
class Rate:
    """``events`` of ``n`` with a 95% interval (Wilson; rule of three at 0 or n events)."""

    events: int
    n: int

    @property
    def value(self) -> float | None:
        return self.events / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        k, n = self.events, self.n
        if n == 0:
            return None
        if k == 0:
            return 0.0, min(1.0, 3.0 / n)
        if k == n:
            return max(0.0, 1.0 - 3.0 / n), 1.0
        p = k / n
        centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
        half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
        return max(0.0, centre - half), min(1.0, centre + half)

    @property
    def method(self) -> str:
        return "rule of three" if self.n and self.events in (0, self.n) else "Wilson"

    def text(self) -> str:
        """``12/1000 = 1.20% [0.69%, 2.09%]``: the form the CLI and the PDF both print."""
        if not self.n:
            return f"{self.events}/0 (no sample)"
        low, high = self.interval or (0.0, 0.0)
        return f"{self.events}/{self.n} = {_pct(self.value)} [{_pct(low)}, {_pct(high)}]"

    def as_dict(self) -> dict[str, Any]:
        low_high = self.interval
        return {
            "events": self.events,
            "n": self.n,
            "rate": self.value,
            "ci95": list(low_high) if low_high else None,
            "method": self.method if self.n else None,
        }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


@dataclass(frozen=True)
class Cell:
    """One slice value's transactions: its referral rate and its FNMR (officer-confirmed genuine)."""

    n: int
    referral: Rate
    fnmr: Rate

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "referral": self.referral.as_dict(), "fnmr": self.fnmr.as_dict()}

    def text(self) -> str:
        return f"referral {self.referral.text()}{SLICE_SEPARATOR}FNMR {self.fnmr.text()}"


@dataclass(frozen=True)
class Slice:
    """The cells of one field, those under ``min_cell`` transactions pooled into one."""

    field: str
    cells: dict[str, Cell]
    pooled_cells: int
    pooled: Cell

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "cells": {value: cell.as_dict() for value, cell in self.cells.items()},
            "pooled_cells": self.pooled_cells,
            "pooled": self.pooled.as_dict(),
        }


@dataclass(frozen=True)
class Stats:
    period: Period
    min_cell: int
    transactions: int
    passes: Rate
    referrals: Rate
    reasons: dict[str, Rate]
    fta: Rate
    fnmr: Rate
    fnm_unresolved: int  # referrals with a 1:1 comparison and no final resolution: out of the FNMR
    fnm_not_confirmed: int  # referrals closed REFUSED or RETRY: not confirmed genuine, out of the FNMR
    watchlist_alerts: Rate
    watchlist_resolutions: dict[str, int]  # ADMITTED / REFUSED / open
    referral_resolutions: dict[str, int]
    throughput: dict[str, dict[str, Any]]  # gate -> transactions, active hours, per active hour, peak
    durations: dict[str, Any]
    slices: tuple[Slice, ...]
    series: dict[str, dict[str, int]]  # bucket (day or hour) -> transactions, referrals
    score_histogram: list[int]  # SCORE_BINS, plus one underflow and one overflow bin at the ends
    thresholds: dict[str, int]  # 1:1 threshold -> comparisons made at it
    record_versions: dict[str, int]  # record version -> decisions
    retries: dict[str, Rate]  # RETRIES name -> version-2 decisions that needed it
    timeouts: dict[str, int]  # "document 60 s, capture 15 s" -> version-2 decisions decided under them
    account_actions: dict[str, int]  # account-chain action -> events in the period
    evidence_opened: dict[str, int]  # officer -> evidence openings in the period
    watchlist_scores: list[tuple[float, float]] = field(default_factory=list)  # (score, threshold), capped

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period.as_dict(),
            "min_cell": self.min_cell,
            "transactions": self.transactions,
            "pass": self.passes.as_dict(),
            "referral": self.referrals.as_dict(),
            "reasons": {code: rate.as_dict() for code, rate in self.reasons.items()},
            "failure_to_acquire": {**self.fta.as_dict(), "reasons": list(FTA_REASONS)},
            "fnmr": {
                **self.fnmr.as_dict(),
                "unresolved_excluded": self.fnm_unresolved,
                "not_confirmed_excluded": self.fnm_not_confirmed,
            },
            "watchlist_alerts": {
                **self.watchlist_alerts.as_dict(),
                "resolutions": self.watchlist_resolutions,
            },
            "referral_resolutions": self.referral_resolutions,
            "throughput_per_gate": self.throughput,
            "document_to_result_ms": self.durations,
            "slices": [s.as_dict() for s in self.slices],
            "record_versions": self.record_versions,
            "retries": {name: rate.as_dict() for name, rate in self.retries.items()},
            "timeouts": self.timeouts,
            "account_events": {"actions": self.account_actions, "evidence_opened": self.evidence_opened},
            "series": self.series,
            "score_histogram": {"bins": list(SCORE_BINS), "counts": self.score_histogram},
            "thresholds": self.thresholds,
        }


class StatsBuilder:
    """Accumulates :class:`Stats` from ``Row``\\s in chain order. Memory is bounded whatever the period:
    counters, fixed histograms, per-hour and per-bucket counts, at most ``MAX_WATCHLIST_SCORES`` hit scores.
    A referral's resolution comes with its row (``Row.closed_by``)."""

    MAX_WATCHLIST_SCORES = 10_000

    def __init__(self, period: Period, *, min_cell: int = DEFAULT_MIN_CELL) -> None:
        if min_cell < 1:
            raise ValueError("min_cell must be at least 1")
        self.period, self.min_cell = period, min_cell
        self.n = self.passes = self.fta = self.alerts = self.genuine = self.fnm = 0
        self.fnm_unresolved = self.fnm_not_confirmed = 0
        self.reasons: Counter[str] = Counter()
        self.referral_resolutions: Counter[str] = Counter()
        self.watchlist_resolutions: Counter[str] = Counter()
        self.hours: Counter[tuple[str, str]] = Counter()
        self.durations: Counter[int] = Counter()  # whole ms -> decisions; at most DURATION_CAP_MS + 1 keys
        # field -> value -> [transactions, referred, genuine comparisons, false non-matches]
        self.slice_counts: dict[str, dict[str, list[int]]] = {name: {} for name in SLICE_FIELDS}
        self.versions: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self.timeouts: Counter[str] = Counter()
        self.account_actions: Counter[str] = Counter()
        self.evidence_opened: Counter[str] = Counter()
        self.series: dict[str, list[int]] = {}
        self.bucket_chars = 13 if (period.end - period.start).total_seconds() <= 2 * 86400 else 10
        self.histogram = [0] * (SCORE_BINS[2] + 2)
        self.thresholds: Counter[str] = Counter()
        self.watchlist_scores: list[tuple[float, float]] = []

    def add_all(self, rows: Iterable[Row]) -> StatsBuilder:
        for row in rows:
            self.add(row)
        return self

    def add(self, item: Row) -> None:
        if not item.selected:
            return
        if isinstance(item.record, LoggedDecision):
            self._decision(item.record, item.closed_by)

    def add_account_event(self, event: AccountRow) -> None:
        """An account-chain event (``select.account_rows``); only the period's count."""
        if not event.selected:
            return
        self.account_actions[event.action] += 1
        if event.action == "evidence_opened":
            self.evidence_opened[event.actor] += 1

    def _decision(self, row: LoggedDecision, closed_by: Resolution | None) -> None:
        self.n += 1
        passed = row.outcome == "PASS"
        codes = row.reason_codes
        self.passes += passed
        self.reasons.update(set(codes))
        self.fta += any(code in FTA_REASONS for code in codes)
        hits = row.watchlist_hits
        self.alerts += bool(hits)
        for hit in hits[: max(0, self.MAX_WATCHLIST_SCORES - len(self.watchlist_scores))]:
            self.watchlist_scores.append((float(hit.score), float(hit.threshold)))
        score, threshold = row.face_score, row.face_threshold
        compared = score is not None and threshold is not None
        below = compared and score < threshold  # type: ignore[operator]
        if compared:
            self.histogram[_bin(score)] += 1  # type: ignore[arg-type]
            self.thresholds[repr(threshold)] += 1
        genuine = compared and passed
        if not passed:
            genuine = self._referral(below, compared, bool(hits), closed_by)
        self.genuine += genuine
        self.fnm += genuine and below
        time_utc = row.time_utc
        self.hours[(row.kiosk_id, time_utc[:13])] += 1
        bucket = self.series.setdefault(time_utc[: self.bucket_chars], [0, 0])
        bucket[0] += 1
        bucket[1] += not passed
        extra = row.extra
        version = extra.get("record_version", 1)
        self.versions[str(version)] += 1
        traveller = extra.get("traveller") if isinstance(extra.get("traveller"), dict) else {}
        values = {
            "issuing_state": row.issuing_state or "(unread)",
            "document_type": row.document_type or "(unread)",
            **{name: str(traveller.get(name, NOT_RECORDED)) for name in TRAVELLER_FIELDS},
        }
        for name, value in values.items():
            counts = self.slice_counts[name].setdefault(value, [0, 0, 0, 0])
            counts[0] += 1
            counts[1] += not passed
            counts[2] += genuine
            counts[3] += genuine and below
        timings = extra.get("timings_ms")
        if isinstance(timings, dict) and isinstance(timings.get("total"), int | float):
            self.durations[min(DURATION_CAP_MS, int(timings["total"]))] += 1
        attempts, timeouts = row.quality.get("attempts"), row.quality.get("timeouts_s")
        if version >= 2 and isinstance(attempts, dict):
            self.retries["of"] += 1
            for name, (key, allowed) in RETRIES.items():
                self.retries[name] += int(attempts.get(key, 0)) > allowed
            if isinstance(timeouts, dict):
                document, capture = timeouts.get("document"), timeouts.get("capture")
                self.timeouts[f"document {document:g} s, capture {capture:g} s"] += 1

    def _referral(self, below: bool, compared: bool, alert: bool, closed_by: Resolution | None) -> bool:
        """Counts a referral's resolution; True when it is a genuine comparison (admitted by an officer)."""
        final = closed_by.resolution if closed_by is not None else "open"
        self.referral_resolutions[final] += 1
        if alert:
            self.watchlist_resolutions[final] += 1
        if not compared:
            return False
        if final == "ADMITTED":
            return True
        if final in FINAL_RESOLUTIONS:
            self.fnm_not_confirmed += 1
        else:
            self.fnm_unresolved += 1
        return False

    def result(self) -> Stats:
        n = self.n
        return Stats(
            period=self.period,
            min_cell=self.min_cell,
            transactions=n,
            passes=Rate(self.passes, n),
            referrals=Rate(n - self.passes, n),
            reasons={code: Rate(count, n) for code, count in sorted(self.reasons.items())},
            fta=Rate(self.fta, n),
            fnmr=Rate(self.fnm, self.genuine),
            fnm_unresolved=self.fnm_unresolved,
            fnm_not_confirmed=self.fnm_not_confirmed,
            watchlist_alerts=Rate(self.alerts, n),
            watchlist_resolutions={k: self.watchlist_resolutions[k] for k in (*FINAL_RESOLUTIONS, "open")},
            referral_resolutions={k: self.referral_resolutions[k] for k in (*FINAL_RESOLUTIONS, "open")},
            throughput=self._throughput(),
            durations=self._durations(),
            slices=tuple(self._slice(name) for name in self.slice_counts),
            series={key: {"transactions": t, "referrals": r} for key, (t, r) in sorted(self.series.items())},
            score_histogram=list(self.histogram),
            thresholds=dict(sorted(self.thresholds.items())),
            record_versions=dict(sorted(self.versions.items())),
            retries={name: Rate(self.retries[name], self.retries["of"]) for name in RETRIES},
            timeouts=dict(sorted(self.timeouts.items())),
            account_actions=dict(sorted(self.account_actions.items())),
            evidence_opened=dict(sorted(self.evidence_opened.items())),
            watchlist_scores=list(self.watchlist_scores),
        )

    def _throughput(self) -> dict[str, dict[str, Any]]:
        per_gate: dict[str, list[tuple[str, int]]] = {}
        for (gate, hour), count in sorted(self.hours.items()):
            per_gate.setdefault(gate, []).append((hour, count))
        result = {}
        for gate, hours in per_gate.items():
            total = sum(count for _, count in hours)
            peak_hour, peak = max(hours, key=lambda item: (item[1], item[0]))
            result[gate] = {
                "transactions": total,
                "active_hours": len(hours),
                "per_active_hour": round(total / len(hours), 2),
                "peak_hour_utc": f"{peak_hour}:00Z",
                "peak": peak,
            }
        return result

    def _durations(self) -> dict[str, Any]:
        recorded = sum(self.durations.values())
        if not recorded:
            return {"recorded": 0, "of": self.n, "note": "not recorded in the decision record"}
        return {
            "recorded": recorded,
            "of": self.n,
            "p50": _quantile(self.durations, recorded, 0.50),
            "p95": _quantile(self.durations, recorded, 0.95),
        }

    def _slice(self, name: str) -> Slice:
        counts = self.slice_counts[name]
        cells = {v: _cell(c) for v, c in sorted(counts.items()) if c[0] >= self.min_cell}
        small = [c for c in counts.values() if c[0] < self.min_cell]
        pooled = _cell([sum(column) for column in zip(*small, strict=True)] if small else [0, 0, 0, 0])
        return Slice(name, cells, len(small), pooled)


def _cell(counts: list[int]) -> Cell:
    n, referred, genuine, fnm = counts
    return Cell(n, Rate(referred, n), Rate(fnm, genuine))


def _bin(score: float) -> int:
    low, high, count = SCORE_BINS
    if score < low:
        return 0
    if score >= high:
        return count + 1
    return 1 + min(count - 1, int((score - low) / (high - low) * count))


def _quantile(counts: Counter[int], total: int, q: float) -> float:
    """Nearest-rank quantile of whole milliseconds (a value that occurred, to the ms; at most the cap)."""
    rank, seen = max(1, math.ceil(q * total)), 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return float(value)
    raise AssertionError("rank beyond the total")


def compute_stats(
    rows: Iterable[Row],
    period: Period,
    *,
    min_cell: int = DEFAULT_MIN_CELL,
    account_events: Iterable[AccountRow] = (),
) -> Stats:
    """The statistics of ``period`` from ``select.period_rows`` (and ``select.account_rows``) output."""
    builder = StatsBuilder(period, min_cell=min_cell).add_all(rows)
    for event in account_events:
        builder.add_account_event(event)
    return builder.result()


def period_stats(log_path: str | Path, period: Period, *, min_cell: int = DEFAULT_MIN_CELL) -> Stats:
    """The statistics of ``period`` in the log at ``log_path``, read as one snapshot (safe while the kiosk
    runs), both chains verified as they are read (ChainBrokenError otherwise)."""
    with DecisionLog(log_path, readonly=True) as log:
        rows = period_rows(log, period, Head(0, ""))
        builder = StatsBuilder(period, min_cell=min_cell).add_all(rows)
        for event in account_rows(log, period, Head(0, "")):
            builder.add_account_event(event)
    return builder.result()


def stats_lines(stats: Stats) -> list[str]:
    """The statistics as text lines: what ``kiosk stats`` prints and the PDF report's first page shows."""
    p = stats.period
    lines = [
        f"period {p.start_utc} to {p.end_utc} (end excluded)"
        + (f", gates {', '.join(p.gates)}" if p.gates else ", all gates"),
        f"transactions: {stats.transactions}",
        f"pass: {stats.passes.text()}",
        f"referral: {stats.referrals.text()}",
    ]
    lines += [f"  reason {code}: {rate.text()}" for code, rate in stats.reasons.items()]
    lines += [
        f"failure to acquire ({' or '.join(FTA_REASONS)}): {stats.fta.text()}",
        f"FNMR (officer-confirmed genuine): {stats.fnmr.text()}",
        f"  left out: {stats.fnm_unresolved} unresolved, {stats.fnm_not_confirmed} refused or sent to retry",
        f"watchlist alerts: {stats.watchlist_alerts.text()}",
        "  resolved: " + ", ".join(f"{k} {v}" for k, v in stats.watchlist_resolutions.items()),
        "referrals resolved: " + ", ".join(f"{k} {v}" for k, v in stats.referral_resolutions.items()),
    ]
    for gate, t in stats.throughput.items():
        lines.append(
            f"gate {gate}: {t['transactions']} transactions in {t['active_hours']} active hours, "
            f"{t['per_active_hour']} per active hour, peak {t['peak']} at {t['peak_hour_utc']}"
        )
    d = stats.durations
    if d["recorded"]:
        lines.append(
            f"document placed to decision: p50 {d['p50']} ms, p95 {d['p95']} ms "
            f"({d['recorded']} of {d['of']} decisions record it)"
        )
    else:
        lines.append("document placed to decision: not recorded in the decision records")
    versions = stats.record_versions
    lines.append(
        "record versions: "
        + (", ".join(f"v{v} {n}" for v, n in versions.items()) or "none")
        + (
            f" (v1 records hold no traveller fields, timings or attempts: {NOT_RECORDED})"
            if "1" in versions
            else ""
        )
    )
    lines += [f"needed {name}: {rate.text()}" for name, rate in stats.retries.items()]
    lines += [f"configured time-outs {name}: {n} decisions" for name, n in stats.timeouts.items()]
    for s in stats.slices:
        lines.append(f"by {s.field} (cells of at least {stats.min_cell} transactions):")
        lines += [f"  {value} (n={cell.n}): {cell.text()}" for value, cell in s.cells.items()]
        if s.pooled_cells:
            lines.append(f"  {s.pooled_cells} smaller cells pooled (n={s.pooled.n}): {s.pooled.text()}")
    actions = stats.account_actions
    lines.append("account events: " + (", ".join(f"{k} {v}" for k, v in actions.items()) or "none"))
    opened = stats.evidence_opened
    lines.append(
        "evidence opened per officer: " + (", ".join(f"{k} {v}" for k, v in opened.items()) or "none")
    )
    return lines
