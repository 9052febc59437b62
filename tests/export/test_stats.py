"""The statistics' definitions on a hand-made log whose every figure is known, the intervals, and a broken
chain refusing statistics."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from export_helpers import CHEAP, PASSWORD, kiosk

from kiosk.decision import RECORD_VERSION, Decision, WatchlistHit
from kiosk.export.select import ChainBrokenError, Head, Period, parse_time, period_rows
from kiosk.export.stats import Cell, Rate, compute_stats, period_stats, stats_lines
from kiosk.store.accounts import Accounts
from kiosk.store.errors import SignInError
from kiosk.store.log import DecisionLog

PERIOD = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC), ("g1",))


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
        for i in range(20):  # version-2 records, as the gate writes them
            log.append(
                Decision(
                    kiosk_id="g1",
                    outcome="PASS",
                    reason_codes=(),
                    issuing_state="AAA",
                    face_score=0.7,
                    face_threshold=0.36,
                    quality={
                        "attempts": {"document": 1, "capture": 1 + (i < 2), "extensions": int(i < 1)},
                        "timeouts_s": {"document": 60.0, "capture": 15.0, "time_warning": 20.0},
                    },
                    time_utc=f"2026-11-01T{8 + i % 3:02d}:00:00.000Z",
                    traveller={
                        "age_group": "30-44" if i < 14 else "60+",
                        "sex": "FM"[i % 2],
                        "nationality": "AAA",
                    },
                    timings_ms={"document": 400.0, "total": 1000.0 + 100 * i},
                    record_version=RECORD_VERSION,
                )
            )
        # the referrals below are version-1 records (no traveller, timings or attempts): "not recorded"
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
    with Accounts(path, cost=CHEAP, clock=lambda: datetime(2026, 11, 1, 12, tzinfo=UTC)) as accounts:
        accounts.add(None, "sup-1", "supervisor", PASSWORD)
        supervisor = accounts.sign_in("sup-1", PASSWORD)
        accounts.add(supervisor, "off-1", "officer", PASSWORD)
        officer = accounts.sign_in("off-1", PASSWORD)
        with pytest.raises(SignInError):
            accounts.sign_in("off-2", "not the password")
        for decision_id in (fnm, refused):
            accounts.note_evidence_opened(officer, decision_id)
        accounts.note_evidence_opened(supervisor, alert)
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
    assert issuer.cells == {"AAA": Cell(20, Rate(0, 20), Rate(0, 20))}  # BBB has 5 < 10: pooled, not shown
    assert (issuer.pooled_cells, issuer.pooled) == (1, Cell(5, Rate(5, 5), Rate(1, 2)))
    ages = next(s for s in stats.slices if s.field == "age_group")
    assert ages.cells == {"30-44": Cell(14, Rate(0, 14), Rate(0, 14))}
    # 60+ (6 passes) and the 5 version-1 referrals ("not recorded"; 2 of them admitted, 1 under threshold)
    assert (ages.pooled_cells, ages.pooled) == (2, Cell(11, Rate(5, 11), Rate(1, 8)))
    sexes = next(s for s in stats.slices if s.field == "sex")
    assert sexes.cells == {"F": Cell(10, Rate(0, 10), Rate(0, 10)), "M": Cell(10, Rate(0, 10), Rate(0, 10))}
    assert next(s for s in stats.slices if s.field == "nationality").cells["AAA"].n == 20
    assert stats.record_versions == {"1": 5, "2": 20}
    assert stats.retries == {
        "document presented again": Rate(0, 20),
        "a second capture": Rate(2, 20),
        "more time asked": Rate(1, 20),
    }
    assert stats.timeouts == {"document 60 s, capture 15 s": 20}
    text = "\n".join(stats_lines(stats))
    assert "BBB" not in text and "1 smaller cells pooled (n=5): referral 5/5" in text
    assert "  30-44 (n=14): referral 0/14 = 0.00% [0.00%, 21.43%]; FNMR 0/14" in text
    assert "60+" not in text and "not recorded (n=" not in text  # under the minimum cell: pooled
    assert "record versions: v1 5, v2 20 (v1 records hold no traveller fields" in text
    assert "document placed to decision: p50 1900.0 ms, p95 2800.0 ms (20 of 25 decisions record it)" in text
    assert "evidence opened per officer: none" in text  # the period is narrowed to gate g1
    with DecisionLog(log_path, readonly=True) as log:  # a smaller minimum cell shows the smaller cells
        small = compute_stats(period_rows(log, PERIOD, Head(0, "")), PERIOD, min_cell=5)
    ages = next(s for s in small.slices if s.field == "age_group")
    assert ages.cells["60+"] == Cell(6, Rate(0, 6), Rate(0, 6))
    assert ages.cells["not recorded"] == Cell(5, Rate(5, 5), Rate(1, 2)) and ages.pooled_cells == 0
    gated = period_stats(log_path, PERIOD)  # account events belong to no gate: none for a gate's period
    assert gated.account_actions == {} and gated.evidence_opened == {}
    whole = period_stats(log_path, Period(PERIOD.start, PERIOD.end))
    assert whole.account_actions == {"created": 2, "evidence_opened": 3, "sign_in_failed": 1, "signed_in": 2}
    assert whole.evidence_opened == {"off-1": 2, "sup-1": 1}
    assert "evidence opened per officer: off-1 2, sup-1 1" in stats_lines(whole)


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
