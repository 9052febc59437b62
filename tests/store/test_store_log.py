from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner
from store_helpers import raw_sql

from kiosk.cli import cli
from kiosk.decision import Decision
from kiosk.store import (
    DecisionLog,
    DuplicateRecordError,
    Evidence,
    EvidenceError,
    KeyRing,
    KeyRingError,
    RecordInvalidError,
    StoreError,
    StoreSchemaError,
    UnknownDecisionError,
)
from kiosk.store.chain import DECISION_FIELDS, RESOLUTION_FIELDS
from kiosk.store.db import SCHEMA_VERSION
from kiosk.store.keys import generate_key_file

MakeDecision = Callable[..., Decision]
FACE = b"\xff\xd8 jpeg bytes of the live face crop"
TEMPLATE = b"FTPL template bytes"


def _filled(path: Path, keys: KeyRing, make: MakeDecision, n: int = 6) -> list[str]:
    """n decisions, every third referred with evidence and a resolution: ids in chain order."""
    ids = []
    with DecisionLog(path, keys) as log:
        for i in range(n):
            if i % 3 == 1:
                decision = make("REFER")
                ids.append(log.append(decision, evidence=Evidence(live_face=FACE, live_template=TEMPLATE)))
                ids.append(log.resolve(decision.id, "officer-3", "ADMITTED", "checked passport by hand"))
            else:
                ids.append(log.append(make()))
    return ids


def test_append_round_trips_and_writes_the_outbox_with_it(log_path: Path, keys: KeyRing, make_decision):
    decision = make_decision("REFER", document_checks={"mrz.check_digits": False})
    with DecisionLog(log_path, keys) as log:
        assert log.append(decision) == decision.id
        stored = log.decision(decision.id)
        assert stored is not None
        assert stored.outcome == "REFER" and stored.seq == 1
        assert stored.document_checks == {"mrz.check_digits": False}
        assert stored.watchlist_hits[0].entry_id == "entry-9"
        assert stored.face_score == decision.face_score
        assert stored.prev_hash == log.genesis
        [item] = log.outbox_pending()
        assert item.record_id == decision.id and item.kind == "decision"
        assert item.as_dict()["hash"] == stored.hash
        assert log.head() == (1, stored.hash)


def test_schema_is_versioned_wal_and_migrated_once(log_path: Path, keys: KeyRing) -> None:
    DecisionLog(log_path, keys).close()
    DecisionLog(log_path, keys).close()
    db = sqlite_utils.Database(log_path)
    assert [r["version"] for r in db["schema_version"].rows] == list(range(1, SCHEMA_VERSION + 1))
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.execute("INSERT INTO schema_version VALUES (?, 'future')", (SCHEMA_VERSION + 1,))
    db.conn.commit()
    db.close()
    with pytest.raises(StoreSchemaError, match="newer"):
        DecisionLog(log_path, keys)


def test_other_sqlite_database_is_refused_untouched(tmp_path: Path, keys: KeyRing) -> None:
    other = tmp_path / "other.db"
    sqlite_utils.Database(other)["people"].insert({"name": "x"})
    before = other.read_bytes()
    with pytest.raises(StoreSchemaError, match="not an e-gate decision log"):
        DecisionLog(other, keys)
    assert other.read_bytes() == before


def test_outbox_never_carries_biometrics_or_clear_document_numbers(
    log_path: Path, keys: KeyRing, make_decision
):
    face = b"UNIQUE-FACE-BYTES-0123456789"
    decision = make_decision("REFER", document_number_hash=keys.hash_document_number("ZX1234567", "UTO"))
    with DecisionLog(log_path, keys) as log:
        log.append(decision, evidence=Evidence(live_face=face, live_template=TEMPLATE))
        log.resolve(decision.id, "officer-1", "REFUSED")
        payloads = [item.payload for item in log.outbox_pending()]
    assert len(payloads) == 2
    for payload in payloads:
        assert "ZX1234567" not in payload and face.decode() not in payload and "FTPL" not in payload
    raw = log_path.read_bytes()  # closed: everything is checkpointed into the main file
    assert face not in raw and TEMPLATE not in raw  # evidence is encrypted at rest


def test_mark_sent_is_idempotent(log_path: Path, keys: KeyRing, make_decision) -> None:
    with DecisionLog(log_path, keys) as log:
        ids = [log.append(make_decision()) for _ in range(3)]
        assert [item.record_id for item in log.outbox_pending(limit=2)] == ids[:2]
        assert log.mark_sent(ids[:2]) == 2
        assert log.mark_sent(ids[:2]) == 0
        assert [item.record_id for item in log.outbox_pending()] == ids[2:]


def test_resolutions_and_case_queue(log_path: Path, keys: KeyRing, make_decision) -> None:
    with DecisionLog(log_path, keys) as log:
        passed = log.append(make_decision())
        first, second = log.append(make_decision("REFER")), log.append(make_decision("REFER"))
        assert [case.id for case in log.open_cases()] == [first, second]
        log.resolve(first, "officer-2", "ESCALATED", "secondary inspection")
        assert [case.id for case in log.open_cases()] == [first, second]  # escalation keeps it open
        log.resolve(first, "officer-4", "REFUSED")
        assert [case.id for case in log.open_cases()] == [second]
        assert [r.resolution for r in log.resolutions(first)] == ["ESCALATED", "REFUSED"]
        assert log.resolutions(passed) == []
        with pytest.raises(UnknownDecisionError):
            log.resolve("no-such-decision", "officer-2", "ADMITTED")
        with pytest.raises(RecordInvalidError, match="resolution must be one of"):
            log.resolve(second, "officer-2", "MAYBE")
        with pytest.raises(RecordInvalidError, match="officer"):
            log.resolve(second, " ", "ADMITTED")
        assert log.verify().ok and log.head()[0] == 5


def test_invalid_or_duplicate_decisions_are_refused(log_path: Path, keys: KeyRing, make_decision) -> None:
    with DecisionLog(log_path, keys) as log:
        decision = make_decision()
        log.append(decision)
        with pytest.raises(DuplicateRecordError):
            log.append(decision)
        with pytest.raises(RecordInvalidError, match="non-finite"):
            log.append(make_decision(face_score=float("nan")))
        with pytest.raises(RecordInvalidError, match="outcome"):
            log.append(make_decision(outcome="MAYBE"))
        with pytest.raises(KeyRingError):
            DecisionLog(log_path.with_name("x.db")).append(make_decision(), evidence=Evidence(live_face=FACE))
        assert log.head()[0] == 1 and len(log.outbox_pending()) == 1


def test_append_only_is_enforced_by_the_database(log_path: Path, keys: KeyRing, make_decision) -> None:
    _filled(log_path, keys, make_decision, n=3)
    conn = sqlite3.connect(log_path)
    for statement in (
        "UPDATE decisions SET outcome = 'PASS'",
        "DELETE FROM decisions",
        "UPDATE resolutions SET officer = 'x'",
        "DELETE FROM resolutions",
        "UPDATE evidence SET retain_until = '2999-01-01T00:00:00.000Z'",
    ):
        with pytest.raises(sqlite3.IntegrityError, match=r"append-only|never modified"):
            conn.execute(statement)
    conn.close()


@pytest.mark.parametrize(
    ("tamper", "broken_seq", "broken_index", "head_seq", "reason"),
    [
        (["UPDATE decisions SET outcome = 'PASS' WHERE seq = 2"], 2, 1, 1, "edited"),
        (["UPDATE resolutions SET note = '' WHERE seq = 3"], 3, 2, 2, "edited"),
        (["UPDATE decisions SET face_score = face_score + 1e-12 WHERE seq = 5"], 5, 4, 4, "edited"),
        (["DELETE FROM decisions WHERE seq = 4"], 5, 4, 3, "missing"),
        (["DELETE FROM resolutions WHERE seq = 3"], 4, 3, 2, "missing"),
        (
            [  # swap rows 4 and 5
                "UPDATE decisions SET seq = 0 WHERE seq = 4",
                "UPDATE decisions SET seq = 4 WHERE seq = 5",
                "UPDATE decisions SET seq = 5 WHERE seq = 0",
            ],
            4,
            4,
            3,
            "prev_hash",
        ),
    ],
)
def test_verify_names_the_first_broken_row(
    log_path: Path,
    keys: KeyRing,
    make_decision,
    tamper: list[str],
    broken_seq: int,
    broken_index: int,
    head_seq: int,
    reason: str,
) -> None:
    ids = _filled(log_path, keys, make_decision)  # seq: 1 D, 2 D(refer), 3 R, 4 D, 5 D, 6 D(refer), 7 R, 8 D
    raw_sql(log_path, *tamper)
    with DecisionLog(log_path, keys, readonly=True) as log:
        result = log.verify()
    assert not result.ok
    assert (result.first_broken.seq, result.first_broken.id) == (broken_seq, ids[broken_index])
    assert reason in result.first_broken.reason
    assert result.head_seq == head_seq


@pytest.mark.parametrize(
    ("table", "seq", "column"),
    [("decisions", 2, name) for name in (*DECISION_FIELDS, "hash")]
    + [("resolutions", 3, name) for name in (*RESOLUTION_FIELDS, "hash")],
)
def test_every_stored_column_is_covered_by_the_chain(
    log_path: Path, keys: KeyRing, make_decision, table: str, seq: int, column: str
) -> None:
    _filled(log_path, keys, make_decision, n=3)  # seq 1 D, 2 D (referred, with evidence), 3 R, 4 D
    changed = (
        f"CASE typeof({column}) WHEN 'real' THEN {column} + 1 WHEN 'integer' THEN {column} + 100 "
        f"ELSE coalesce({column}, '') || 'x' END"
    )
    raw_sql(log_path, f"UPDATE {table} SET {column} = {changed} WHERE seq = {seq}")
    with DecisionLog(log_path, keys, readonly=True) as log:
        result = log.verify()
    expected = seq + 1 if column == "seq" else seq  # a moved row leaves a gap where it was
    assert not result.ok and result.first_broken.seq == expected and result.head_seq == seq - 1


def test_verify_detects_an_inserted_row(log_path: Path, keys: KeyRing, make_decision) -> None:
    _filled(log_path, keys, make_decision)
    raw_sql(
        log_path,
        "INSERT INTO resolutions (id, seq, decision_id, time_utc, officer, resolution, note, prev_hash, "
        "hash) "
        "SELECT 'forged', 9, id, time_utc, 'mallory', 'ADMITTED', '', hash, 'x' "
        "FROM decisions WHERE seq = 8",
    )
    with DecisionLog(log_path, keys, readonly=True) as log:
        first = log.verify().first_broken
    assert (first.seq, first.id) == (9, "forged")


def test_verify_checks_what_goes_upstream(log_path: Path, keys: KeyRing, make_decision) -> None:
    ids = _filled(log_path, keys, make_decision, n=3)
    raw_sql(
        log_path,
        f"UPDATE outbox SET payload = replace(payload, 'PASS', 'REFER') WHERE record_id = '{ids[0]}'",
        "INSERT INTO outbox (record_id, kind, payload, created_utc) "
        "VALUES ('forged', 'decision', '{}', 'now')",
    )
    with DecisionLog(log_path, keys, readonly=True) as log:
        problems = log.verify().problems
    assert [(p.kind, p.id) for p in problems] == [("outbox", ids[0]), ("outbox", "forged")]


def test_anchor_detects_truncation_of_the_tail(log_path: Path, keys: KeyRing, make_decision) -> None:
    ids = _filled(log_path, keys, make_decision)
    with DecisionLog(log_path, keys) as log:
        anchor = log.head()
        assert log.verify(expect_head=anchor).ok
    last = ids[-1]
    raw_sql(log_path, "DELETE FROM decisions WHERE seq = 8")
    with DecisionLog(log_path, keys, readonly=True) as log:
        assert [p.id for p in log.verify().problems] == [last]  # its outbox row gives it away...
    raw_sql(log_path, f"DELETE FROM outbox WHERE record_id = '{last}'")  # ...a careful attacker removes it
    with DecisionLog(log_path, keys, readonly=True) as log:
        assert log.verify().ok  # a clean cut at the end keeps the chain consistent...
        result = log.verify(expect_head=anchor)  # ...but not with a hash anchored elsewhere
    assert not result.ok and "truncated" in result.first_broken.reason


def test_evidence_is_sealed_checked_and_purged(log_path: Path, keys: KeyRing, make_decision) -> None:
    now = datetime.now(UTC)
    short, long = make_decision("REFER"), make_decision("REFER")
    with DecisionLog(log_path, keys) as log:
        log.append(short, evidence=Evidence(live_face=FACE, live_template=TEMPLATE, retain_until=now))
        log.append(long, evidence=Evidence(document_portrait=b"portrait"))  # default retention
        assert log.evidence(short.id) == {"live_face": FACE, "live_template": TEMPLATE}
        retain = datetime.fromisoformat(log.decision(long.id).evidence[0].retain_until)
        assert timedelta(days=29) < retain - now < timedelta(days=31)
        assert log.purge(now + timedelta(seconds=1)) == 2
        assert log.evidence(short.id) == {} and log.evidence(long.id) == {"document_portrait": b"portrait"}
        assert log.verify().ok  # the chain keeps the digests, not the blobs
        assert log.purge() == 0
    with (
        DecisionLog(log_path, KeyRing(b"k" * 32), readonly=True) as log,
        pytest.raises(EvidenceError, match="sealed with key"),
    ):
        log.evidence(long.id)


def test_log_refuses_appends_under_another_key(log_path: Path, keys: KeyRing, make_decision) -> None:
    with DecisionLog(log_path, keys) as log:
        log.append(make_decision())
    other = KeyRing(b"k" * 32)
    with pytest.raises(
        KeyRingError, match=f"written under key {keys.key_id}, not the loaded key {other.key_id}"
    ):
        DecisionLog(log_path, other)
    with DecisionLog(log_path, keys) as log:
        assert [h["key_id"] for h in log.key_history()] == [keys.key_id]


def test_key_rotation_is_explicit_and_keeps_old_evidence_readable(
    log_path: Path, make_decision, tmp_path: Path
) -> None:
    old_file, new_file = generate_key_file(tmp_path / "old.key"), generate_key_file(tmp_path / "new.key")
    old, new = KeyRing.from_file(old_file), KeyRing.from_file(new_file)
    old_case, new_case = make_decision("REFER"), make_decision("REFER")
    with DecisionLog(log_path, old) as log:
        log.append(old_case, evidence=Evidence(live_face=FACE))
    result = CliRunner().invoke(
        cli, ["key", "rotate", str(log_path), "--old-key", str(old_file), "--new-key", str(new_file)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].endswith(f"key {old.key_id} -> {new.key_id} from seq 2")
    with pytest.raises(KeyRingError, match="written under key"):
        DecisionLog(log_path, old)  # the old key no longer writes
    with DecisionLog(log_path, new) as log:
        log.append(new_case, evidence=Evidence(live_face=FACE))
        history = log.key_history()
        assert log.verify().ok and log.evidence(new_case.id) == {"live_face": FACE}
    assert [(h["key_id"], h["from_seq"]) for h in history] == [(old.key_id, 1), (new.key_id, 2)]
    with DecisionLog(log_path, old, readonly=True) as log:  # old evidence: readable with the old key
        assert log.evidence(old_case.id) == {"live_face": FACE}
    again = CliRunner().invoke(
        cli, ["key", "rotate", str(log_path), "--old-key", str(old_file), "--new-key", str(new_file)]
    )
    assert again.exit_code != 0 and "written under key" in str(again.exception)


def test_purged_ciphertext_leaves_no_copy_in_the_files(log_path: Path, keys: KeyRing, make_decision) -> None:
    decision = make_decision("REFER")
    with DecisionLog(log_path, keys) as log:
        log.append(decision, evidence=Evidence(live_face=FACE * 100, retain_until=datetime.now(UTC)))
        [ciphertext] = [
            row[0] for row in sqlite3.connect(log_path).execute("SELECT ciphertext FROM evidence")
        ]
        log.append(make_decision())
        assert log.purge() == 1
        files = [p for p in log_path.parent.iterdir() if p.name.startswith(log_path.name)]
        assert all(ciphertext[40:200] not in p.read_bytes() for p in files)


def test_evidence_tampering_and_early_deletion_are_reported(log_path: Path, keys: KeyRing, make_decision):
    a, b = make_decision("REFER"), make_decision("REFER")
    with DecisionLog(log_path, keys) as log:
        log.append(a, evidence=Evidence(live_face=FACE))
        log.append(b, evidence=Evidence(live_face=b"other face"))
    # Give case a the face of case b: the chain recorded a's digest, and the blob is bound to b's id.
    raw_sql(
        log_path,
        f"UPDATE evidence SET ciphertext = (SELECT ciphertext FROM evidence WHERE decision_id = '{b.id}') "
        f"WHERE decision_id = '{a.id}'",
    )
    with DecisionLog(log_path, keys) as log:
        problems = log.verify().problems
        assert [(p.kind, p.id) for p in problems] == [("evidence", a.id)]
        assert "replaced" in problems[0].reason
        with pytest.raises(EvidenceError, match="authentication"):
            log.evidence(a.id)
    raw_sql(log_path, f"DELETE FROM evidence WHERE decision_id = '{a.id}'")
    with DecisionLog(log_path, keys, readonly=True) as log:
        reasons = [p.reason for p in log.verify().problems]
    assert any("missing before its retention date" in reason for reason in reasons)


def test_a_failing_migration_leaves_the_previous_schema(
    log_path: Path, keys: KeyRing, make_decision, monkeypatch
) -> None:
    import kiosk.store.db as db

    first = _filled(log_path, keys, make_decision, n=1)

    def broken_v2(database: sqlite_utils.Database) -> None:
        database["new_table"].create({"id": int}, pk="id")
        raise StoreError("migration 2 failed halfway")

    current = db.SCHEMA_VERSION
    monkeypatch.setattr(db, "MIGRATIONS", (*db.MIGRATIONS, broken_v2))
    monkeypatch.setattr(db, "SCHEMA_VERSION", current + 1)
    with pytest.raises(StoreError, match="halfway"):
        DecisionLog(log_path, keys)
    check = sqlite_utils.Database(log_path)
    assert "new_table" not in check.table_names()
    assert [r["version"] for r in check["schema_version"].rows] == list(range(1, current + 1))
    check.close()

    monkeypatch.setattr(
        db, "MIGRATIONS", (*db.MIGRATIONS[:current], lambda d: d["new_table"].create({"id": int}))
    )
    with DecisionLog(log_path, keys) as log:
        assert log.decision(first[0]) is not None and log.verify().ok
    assert "new_table" in sqlite_utils.Database(log_path).table_names()


def test_future_decision_fields_are_kept_in_extra(log_path: Path, keys: KeyRing, make_decision) -> None:
    decision = make_decision()
    object.__setattr__(decision, "gate_id", "lane-3")  # as if H8 added a field
    original = decision.as_dict

    def as_dict() -> dict:
        return {**original(), "gate_id": "lane-3"}

    object.__setattr__(decision, "as_dict", as_dict)
    with DecisionLog(log_path, keys) as log:
        log.append(decision)
        assert log.decision(decision.id).extra == {"gate_id": "lane-3"}
        assert json.loads(log.outbox_pending()[0].payload)["extra"] == '{"gate_id":"lane-3"}'
        assert log.verify().ok


def test_readers_see_committed_rows_while_a_writer_holds_the_log(log_path: Path, keys, make_decision):
    with DecisionLog(log_path, keys) as writer:
        first = writer.append(make_decision())
        with DecisionLog(log_path, readonly=True) as reader:
            assert reader.decision(first) is not None
            second = writer.append(make_decision())
            assert reader.decision(second) is not None and reader.verify().ok
            with pytest.raises(StoreError, match="read-only"):
                reader.append(make_decision())
        with DecisionLog(log_path, keys, exclusive=False) as console:  # officer console writes too
            console.resolve(first, "officer-1", "ADMITTED")
        writer.append(make_decision())
        assert writer.verify().ok and writer.head()[0] == 4
