"""Export events in the decisions' chain (schema v3): a log of the previous schema migrates, keeps every hash
and verifies; export rows chain, go to the outbox, and an edited export row breaks the chain."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from store_helpers import raw_sql

from kiosk.store import KeyRing
from kiosk.store.db import SCHEMA_VERSION
from kiosk.store.errors import RecordInvalidError
from kiosk.store.log import DecisionLog
from kiosk.store.records import ExportEvent


def test_a_log_of_the_previous_schema_migrates_and_keeps_its_hashes(
    log_path: Path, keys: KeyRing, make_decision
) -> None:
    with DecisionLog(log_path, keys) as log:
        decided = log.append(make_decision("REFER"))
        log.resolve(decided, "officer-1", "ADMITTED", reason_code="IDENTITY_CONFIRMED")
        before = [(r.seq, r.hash) for r in log.records()]
    conn = sqlite3.connect(log_path)  # back to schema v2: no exports table
    with conn:
        conn.execute("DROP TABLE exports")
        conn.execute("DELETE FROM schema_version WHERE version = 3")
    conn.close()
    with pytest.raises(Exception, match="schema version 2"):
        DecisionLog(log_path, readonly=True)  # a reader asks for the migration, as before
    with DecisionLog(log_path, keys) as log:  # a writer migrates
        assert [(r.seq, r.hash) for r in log.records()] == before
        assert log.verify().ok
        seq = log.log_export("sup-1", "supervisor", {"period": {"from": "a", "to": "b"}})
        assert seq == before[-1][0] + 1 and log.verify().ok
    with DecisionLog(log_path, readonly=True) as log:
        assert sqlite3.connect(log_path).execute("SELECT max(version) FROM schema_version").fetchone()[0] == (
            SCHEMA_VERSION
        )
        [event] = [r for r in log.records() if isinstance(r, ExportEvent)]
        assert (event.actor, event.role, event.detail["period"]["to"]) == ("sup-1", "supervisor", "b")
        assert [item.kind for item in log.outbox_pending()][-1] == "export"


def test_an_edited_export_event_breaks_the_chain(log_path: Path, keys: KeyRing, make_decision) -> None:
    with DecisionLog(log_path, keys) as log:
        log.append(make_decision())
        seq = log.log_export("sup-1", "supervisor", {"formats": ["csv"]})
        log.append(make_decision())
        with pytest.raises(RecordInvalidError):
            log.log_export(" ", "supervisor", {})
    raw_sql(log_path, "UPDATE exports SET actor = 'someone-else'")
    with DecisionLog(log_path, readonly=True) as log:
        result = log.verify()
    assert not result.ok and result.first_broken is not None
    assert (result.first_broken.seq, result.first_broken.kind) == (seq, "export")
