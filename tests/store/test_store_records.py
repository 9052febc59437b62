"""Typed reads of the decision log (records.py), resolutions with reason codes, one winner per case."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from kiosk.decision import WatchlistHit
from kiosk.store import AlreadyResolvedError, Case, DecisionLog, KeyRing, LoggedDecision, Resolution
from kiosk.store.chain import canonical_json, verify_links
from kiosk.store.errors import StoreCorruptError
from tests.store.store_helpers import raw_sql


def test_typed_reads_of_decisions_cases_and_records(log_path: Path, keys: KeyRing, make_decision) -> None:
    with DecisionLog(log_path, keys) as log:
        passed = log.append(make_decision())
        first = log.append(make_decision("REFER", kiosk_id="gate-1"))
        second = log.append(make_decision("REFER", kiosk_id="gate-2"))
        log.resolve(first, "officer-2", "ESCALATED", reason_code="IDENTITY_DOUBT")
        decision = log.decision(first)
        assert isinstance(decision, LoggedDecision) and decision.kind == "decision"
        assert decision.reason_codes == ("FACE_MISMATCH",)
        assert decision.watchlist_hits == (WatchlistHit("wl", "entry-9", 0.51, 0.45),)
        cases = log.open_cases()
        assert [case.id for case in cases] == [first, second]
        assert isinstance(cases[0], Case) and cases[0].escalated and cases[0].closed_by is None
        assert [r.reason_code for r in cases[0].resolutions] == ["IDENTITY_DOUBT"]
        assert [case.id for case in log.open_cases(newest_first=True)] == [second, first]
        assert [case.id for case in log.open_cases(kiosk_ids=["gate-2"])] == [second]
        assert log.open_cases(kiosk_ids=[]) == []
        records = list(log.records())
        assert [(r.kind, r.id) for r in records][:3] == [
            ("decision", passed),
            ("decision", first),
            ("decision", second),
        ]
        assert isinstance(records[3], Resolution) and records[3].decision_id == first
        # every typed record keeps what the chain hashes: exported records verify with the chain's code
        assert verify_links(((r.kind, r.stored) for r in records), log.genesis).ok
        assert [r.seq for r in log.records(since_seq=2)] == [3, 4]
        assert log.case(passed) == Case(log.decision(passed), ()) and log.case("nope") is None


def test_final_resolutions_close_a_case_and_the_reason_code_is_chained(
    log_path: Path, keys: KeyRing, make_decision
) -> None:
    with DecisionLog(log_path, keys) as log:
        retry, refused = log.append(make_decision("REFER")), log.append(make_decision("REFER"))
        log.resolve(retry, "officer-1", "RETRY", "glasses on", reason_code="CAPTURE_QUALITY")
        log.resolve(refused, "officer-1", "REFUSED", reason_code="DOCUMENT_SUSPECT")
        assert log.open_cases() == []
        closed = log.case(retry).closed_by
        assert closed is not None and (closed.officer, closed.resolution) == ("officer-1", "RETRY")
        payload = json.loads(log.outbox_pending()[-1].payload)
        assert payload["reason_code"] == "DOCUMENT_SUSPECT"  # synced upstream with the resolution
        assert log.verify().ok
    # the reason code is covered by the chain: changing it breaks the link
    raw_sql(
        log_path,
        "UPDATE resolutions SET reason_code = 'IDENTITY_CONFIRMED' WHERE decision_id = '" + refused + "'",
    )
    with DecisionLog(log_path, readonly=True) as log:
        assert log.verify().first_broken.kind == "resolution"


def test_two_consoles_resolving_one_case_the_first_wins(log_path: Path, keys: KeyRing, make_decision) -> None:
    with DecisionLog(log_path, keys) as gate:
        case = gate.append(make_decision("REFER"))
        with (
            DecisionLog(log_path, keys, exclusive=False) as one,
            DecisionLog(log_path, keys, exclusive=False) as two,
        ):
            one.resolve(case, "officer-1", "ADMITTED", reason_code="IDENTITY_CONFIRMED")
            with pytest.raises(AlreadyResolvedError, match="already resolved by officer-1") as error:
                two.resolve(case, "officer-2", "REFUSED", reason_code="DOCUMENT_SUSPECT")
            assert (error.value.officer, error.value.resolution) == ("officer-1", "ADMITTED")
            assert error.value.code == "CASE_ALREADY_RESOLVED"
            with pytest.raises(AlreadyResolvedError):
                two.resolve(case, "officer-2", "ESCALATED", reason_code="IDENTITY_DOUBT")
        assert [r.officer for r in gate.resolutions(case)] == ["officer-1"]
        assert gate.verify().ok


def test_a_log_written_before_reason_codes_migrates_and_still_verifies(
    log_path: Path, keys: KeyRing, make_decision, monkeypatch
) -> None:
    import kiosk.store.db as db

    monkeypatch.setattr(db, "MIGRATIONS", db.MIGRATIONS[:1])
    monkeypatch.setattr(db, "SCHEMA_VERSION", 1)
    DecisionLog(log_path).close()  # a v1 log; today's code reads the exports table too: a stand-in for now
    sqlite3.connect(log_path).execute(
        "CREATE TABLE exports AS SELECT * FROM resolutions WHERE 0"
    ).connection.close()
    with DecisionLog(log_path, keys) as log:
        case = log.append(make_decision("REFER"))
        seq, prev = log.head()
    # a resolution as the first schema wrote it: hashed over the v1 fields only, no reason code
    row = {
        "kind": "resolution",
        "seq": seq + 1,
        "prev_hash": prev,
        "id": "r-1",
        "decision_id": case,
        "time_utc": "2026-11-30T10:00:00.000Z",
        "officer": "officer-9",
        "resolution": "ADMITTED",
        "note": "",
    }
    digest = hashlib.sha256(canonical_json(row).encode()).hexdigest()
    conn = sqlite3.connect(log_path)
    with conn:
        conn.execute("DROP TABLE exports")
        conn.execute(
            "INSERT INTO resolutions "
            "(id, seq, decision_id, time_utc, officer, resolution, note, prev_hash, hash) "
            "VALUES ('r-1', ?, ?, '2026-11-30T10:00:00.000Z', 'officer-9', 'ADMITTED', '', ?, ?)",
            (seq + 1, case, prev, digest),
        )
    conn.close()
    monkeypatch.undo()
    with DecisionLog(log_path, keys) as log:
        [resolution] = log.resolutions(case)
        assert resolution.reason_code is None and resolution.officer == "officer-9"
        assert log.verify().ok and log.open_cases() == []


def test_a_tampered_json_column_is_a_clear_error_in_typed_reads(log_path: Path, keys: KeyRing, make_decision):
    with DecisionLog(log_path, keys) as log:
        case = log.append(make_decision("REFER"))
    raw_sql(log_path, "UPDATE decisions SET reason_codes = 'not json' WHERE seq = 1")
    with DecisionLog(log_path, readonly=True) as log:
        with pytest.raises(StoreCorruptError, match="verify-log"):
            log.decision(case)
        assert log.verify().first_broken.seq == 1
