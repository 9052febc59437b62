"""The statistics' definitions on a hand-made log whose every figure is known, the intervals, and a broken
chain refusing statistics."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from export_helpers import kiosk

from kiosk.decision import Decision, WatchlistHit
from kiosk.export.select import ChainBrokenError, Head, Period, parse_time, period_rows
from kiosk.export.stats import Rate, compute_stats, stats_lines
from kiosk.store.log import DecisionLog

PERIOD = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC), ("g1",))


@dataclass(frozen=True)
class TimedDecision(Decision):
    """A decision carrying the flow's timings (a field the schema has no column for: logged in ``extra``)."""

    timings_ms: dict[str, float] = field(default_factory=dict)


def _decision(
    outcome: str, reasons: tuple[str, ...] = (), *, score: float | None = 0.7, **fields
) -> Decision:
    values = {
        "kiosk_id": "g1",
        "outcome": outcome,
        "reason_codes": reasons,
        "issuing_state": "BBB",
        "document_type": "P",
        "face_score": score,
        "face_threshold": 0.36 if score is not None else None,
        "time_utc": "2026-11-01T10:00:00.000Z",
        **fields,
    }
    return Decision(**values)  # type: ignore[arg-type]


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "decisions.db"
    with DecisionLog(path) as log:
        for i in range(20):
            log.append(
                TimedDecision(
                    kiosk_id="g1",
                    outcome="PASS",
                    reason_codes=(),
                    issuing_state="AAA",
                    face_score=0.7,
                    face_threshold=0.36,
                    time_utc=f"2026-11-01T{8 + i % 3:02d}:00:00.000Z",
                    timings_ms={"document": 400.0, "total": 1000.0 + 100 * i},
                )
            )
        fnm = log.append(_decision("REFER", ("FACE_NO_MATCH",), score=0.2))
        log.resolve(fnm, "o1", "ADMITTED", reason_code="IDENTITY_CONFIRMED")
        refused = log.append(_decision("REFER", ("FACE_NO_MATCH",), score=0.25))
        log.resolve(refused, "o1", "REFUSED", reason_code="MANUAL_BOOTH")
        pending = log.append(_decision("REFER", ("FACE_NO_MATCH",), score=0.3))
        log.resolve(pending, "o2", "ESCALATED", reason_code="IDENTITY_DOUBT")
        hit = WatchlistHit("wl", "e-1", 0.5, 0.45, "wanted", "high")
        alert = log.append(_decision("REFER", ("WATCHLIST_HIT",), watchlist_hits=(hit,)))
        log.resolve(alert, "o2", "ADMITTED", reason_code="WATCHLIST_FALSE_MATCH")
        retry = log.append(_decision("REFER", ("QUALITY_TIMEOUT",), score=None))
        log.resolve(retry, "o2", "RETRY", reason_code="CAPTURE_QUALITY")
        log.append(_decision("PASS", time_utc="2026-11-03T10:00:00.000Z"))  # outside the period
        log.append(_decision("REFER", ("FACE_NO_MATCH",), score=0.1, kiosk_id="g2"))  # another gate
    return path


def test_rates_carry_wilson_or_rule_of_three_intervals() -> None:
    low, high = Rate(10, 100).interval or (0, 0)
    assert (round(low, 4), round(high, 4)) == (0.0552, 0.1744)
    assert Rate(0, 100).interval == (0.0, 0.03) and Rate(0, 100).method == "rule of three"
    assert Rate(100, 100).interval == (pytest.approx(0.97), 1.0)
    assert Rate(0, 0).interval is None and Rate(0, 0).text() == "0/0 (no sample)"
    assert Rate(10, 100).text() == "10/100 = 10.00% [5.52%, 17.44%]"


def test_every_figure_of_a_known_log(log_path: Path) -> None:
    with DecisionLog(log_path, readonly=True) as log:
        stats = compute_stats(period_rows(log, PERIOD, Head(0, "")), PERIOD, min_cell=10)
    assert stats.transactions == 25
    assert (stats.passes.events, stats.referrals.events) == (20, 5)
    assert stats.reasons["FACE_NO_MATCH"] == Rate(3, 25)
    assert stats.fta == Rate(1, 25)  # QUALITY_TIMEOUT
    # genuine: 20 passes + 2 admitted referrals with a comparison; one of them scored under its threshold
    assert stats.fnmr == Rate(1, 22)
    assert (stats.fnm_unresolved, stats.fnm_not_confirmed) == (1, 1)  # escalated only; refused
    assert stats.watchlist_alerts == Rate(1, 25)
    assert stats.watchlist_resolutions == {"ADMITTED": 1, "REFUSED": 0, "RETRY": 0, "open": 0}
    assert stats.referral_resolutions == {"ADMITTED": 2, "REFUSED": 1, "RETRY": 1, "open": 1}
    assert stats.durations == {"recorded": 20, "of": 25, "p50": 1900.0, "p95": 2800.0}
    assert (
        stats.throughput["g1"]["transactions"] == 25 and stats.throughput["g1"]["peak"] == 11
    )  # 10:00: 6 passes + 5 referrals
    issuer = next(s for s in stats.slices if s.field == "issuing_state")
    assert issuer.cells == {"AAA": Rate(0, 20)}  # BBB has 5 < 10 transactions: pooled, not shown
    assert (issuer.pooled_cells, issuer.pooled) == (1, Rate(5, 5))
    text = "\n".join(stats_lines(stats))
    assert "BBB" not in text and "1 smaller cells pooled: 5/5" in text
    assert "not recorded, so not sliced: age group, sex, nationality" in text
    assert "document placed to result: p50 1900.0 ms, p95 2800.0 ms (20 of 25 decisions record it)" in text


def test_stats_command_and_a_broken_chain(log_path: Path) -> None:
    result = kiosk(
        "stats", "--log", str(log_path), "--from", "2026-11-01", "--to", "2026-11-02", "--gate", "g1"
    )
    assert result.returncode == 0, result.stderr
    assert "FNMR (officer-confirmed genuine): 1/22 = 4.55% [0.81%, 21.80%]" in result.stdout
    conn = sqlite3.connect(log_path)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("UPDATE decisions SET outcome = 'PASS' WHERE seq = 21")
    conn.commit()
    conn.close()
    with DecisionLog(log_path, readonly=True) as log, pytest.raises(ChainBrokenError, match="seq 21"):
        list(period_rows(log, PERIOD, Head(0, "")))
    result = kiosk("stats", "--log", str(log_path), "--from", "2026-11-01", "--to", "2026-11-02")
    assert result.returncode == 2 and "broken at seq 21" in result.stderr


def test_period_bounds() -> None:
    assert parse_time("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_time("2026-11-01T10:30:00+02:00") == datetime(2026, 11, 1, 8, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="no offset"):
        parse_time("2026-11-01T10:30:00")
    with pytest.raises(ValueError, match="before it starts"):
        Period(parse_time("2026-11-02"), parse_time("2026-11-01"))
    assert kiosk("stats", "--log", "/nonexistent.db", "--from", "2026-11-01", "--to", "x").returncode == 2
