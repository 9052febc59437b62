"""The upstream service on loopback over real TLS, on SQLite and PostgreSQL: enrolment, signed requests,
exactly-once ingest, chain verification (gaps held back, forks refused), quarantine at the kiosk."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import httpx
import pytest
from upstream_helpers import Kiosk, Tls, new_kiosk

from kiosk.store import DecisionLog
from kiosk.store.chain import canonical_json, link_hash
from kiosk.sync.client import SyncClient
from kiosk.sync.protocol import HEAD_PATH, RECORDS_PATH, sign_request
from kiosk.upstream.db import UpstreamDB
from kiosk.upstream.server import ServiceThread


def _post(service: ServiceThread, tls: Tls, kiosk: Kiosk, body: dict, *, headers: dict | None = None):
    raw = canonical_json(body).encode()
    signed = headers or sign_request(kiosk.key, kiosk.id, "POST", RECORDS_PATH, raw)
    with httpx.Client(verify=ssl.create_default_context(cafile=str(tls.ca))) as http:
        return http.post(service.url + RECORDS_PATH, content=raw, headers=signed), signed


def _records(kiosk: Kiosk) -> tuple[str, list[dict]]:
    with DecisionLog(kiosk.log_path, readonly=True) as log:
        return log.log_id, [item.as_dict() for item in log.outbox_pending(10_000)]


def test_sync_delivers_every_record_once_and_anchors_the_head(
    db: UpstreamDB, service: ServiceThread, tls: Tls, tmp_path: Path
) -> None:
    kiosk = new_kiosk(db, tmp_path, "gate-1")
    ids = kiosk.append(250)
    with SyncClient(kiosk.log_path, kiosk.id, kiosk.sync_config(service.url, tls), key=kiosk.key) as client:
        report = client.drain()
        assert report.errors == [] and report.sent == 250 and report.rounds >= 3
        again = client.drain()  # nothing left: nothing resent
        assert again.sent == 0
        state = client.backlog()
    assert state.waiting == 0 and state.quarantined == 0
    assert [r[1] for r in db.record_ids("gate-1")] == ids and all(r[2] == 1 for r in db.record_ids("gate-1"))
    with DecisionLog(kiosk.log_path, readonly=True) as log:
        head = log.head()
        assert log.upstream_anchor() == head == db.head("gate-1")
        assert log.verify(expect_head=head).ok


def test_resent_batches_are_acknowledged_without_a_second_copy(
    db: UpstreamDB, service: ServiceThread, tls: Tls, tmp_path: Path
) -> None:
    kiosk = new_kiosk(db, tmp_path, "gate-2")
    kiosk.append(20)
    log_id, records = _records(kiosk)
    first, _ = _post(service, tls, kiosk, {"log_id": log_id, "records": records})
    second, _ = _post(service, tls, kiosk, {"log_id": log_id, "records": records[::-1]})  # reordered too
    assert first.status_code == second.status_code == 200
    assert sorted(second.json()["acked"]) == sorted(r["id"] for r in records)
    assert len(db.record_ids("gate-2")) == 20 and db.head("gate-2")[0] == 20


def test_a_gap_is_held_back_until_filled(db: UpstreamDB, service: ServiceThread, tls: Tls, tmp_path) -> None:
    kiosk = new_kiosk(db, tmp_path, "gate-3")
    kiosk.append(30)
    log_id, records = _records(kiosk)
    later, _ = _post(service, tls, kiosk, {"log_id": log_id, "records": records[10:]})
    assert later.json()["head"]["seq"] == 0 and later.json()["held"] == 20  # acked, but not chained yet
    assert len(later.json()["acked"]) == 20
    earlier, _ = _post(service, tls, kiosk, {"log_id": log_id, "records": records[:10]})
    assert earlier.json()["head"] == {"seq": 30, "hash": records[-1]["hash"]} and earlier.json()["held"] == 0


def test_a_fork_is_refused_and_flagged(db: UpstreamDB, service: ServiceThread, tls: Tls, tmp_path) -> None:
    kiosk = new_kiosk(db, tmp_path, "gate-4")
    kiosk.append(5)
    log_id, records = _records(kiosk)
    _post(service, tls, kiosk, {"log_id": log_id, "records": records})
    # A rewritten record 3, consistently re-hashed (as a kiosk whose log was rewritten would send it).
    forged = {**records[2], "outcome": "PASS", "reason_codes": "[]", "id": "forged-3"}
    forged["hash"] = link_hash("decision", forged)
    answer, _ = _post(service, tls, kiosk, {"log_id": log_id, "records": [forged]})
    assert answer.status_code == 200
    assert answer.json()["acked"] == [] and answer.json()["rejected"][0]["code"] == "FORK"
    assert [p["code"] for p in db.problems("gate-4")] == ["FORK"]
    assert db.head("gate-4") == (5, records[-1]["hash"])
    # An edited record whose hash was not recomputed fails its own hash check.
    edited = {**records[4], "seq": 6, "prev_hash": records[4]["hash"], "id": "edited"}
    answer, _ = _post(service, tls, kiosk, {"log_id": log_id, "records": [edited]})
    assert answer.json()["rejected"][0]["code"] == "BAD_HASH"


def test_unknown_kiosk_bad_signature_and_replay_are_refused(
    db: UpstreamDB, service: ServiceThread, tls: Tls, tmp_path: Path
) -> None:
    stranger = new_kiosk(db, tmp_path / "x", "gate-x", enrol=False)
    stranger.append(3)
    log_id, records = _records(stranger)
    answer, _ = _post(service, tls, stranger, {"log_id": log_id, "records": records})
    assert answer.status_code == 401 and "unknown client" in answer.json()["error"]

    kiosk = new_kiosk(db, tmp_path, "gate-5")
    kiosk.append(3)
    log_id, records = _records(kiosk)
    body = {"log_id": log_id, "records": records}
    signed = sign_request(kiosk.key, kiosk.id, "POST", RECORDS_PATH, canonical_json(body).encode())
    tampered = {"log_id": log_id, "records": records[:2]}  # the signature covers the body
    answer, _ = _post(service, tls, kiosk, tampered, headers=signed)
    assert answer.status_code == 401 and "bad signature" in answer.json()["error"]
    # another kiosk's key under this kiosk's name
    forged = sign_request(stranger.key, kiosk.id, "POST", RECORDS_PATH, canonical_json(body).encode())
    assert _post(service, tls, kiosk, body, headers=forged)[0].status_code == 401
    assert db.record_ids("gate-5") == []

    ok, used = _post(service, tls, kiosk, body)
    assert ok.status_code == 200
    replay, _ = _post(service, tls, kiosk, body, headers=used)
    assert replay.status_code == 401 and "nonce" in replay.json()["error"]
    stale = sign_request(kiosk.key, kiosk.id, "POST", RECORDS_PATH, canonical_json(body).encode(), now=1e9)
    assert _post(service, tls, kiosk, body, headers=stale)[0].status_code == 401


def test_a_kiosk_cannot_send_another_kiosks_decisions(
    db: UpstreamDB, service: ServiceThread, tls: Tls, tmp_path: Path
) -> None:
    kiosk, other = new_kiosk(db, tmp_path, "gate-6"), new_kiosk(db, tmp_path, "gate-7")
    other.append(2)
    log_id, records = _records(other)
    answer, _ = _post(service, tls, kiosk, {"log_id": log_id, "records": records})
    assert {r["code"] for r in answer.json()["rejected"]} == {"KIOSK_MISMATCH"}


def test_a_refused_record_is_quarantined_and_the_queue_moves_on(
    db: UpstreamDB, service: ServiceThread, tls: Tls, tmp_path: Path
) -> None:
    kiosk = new_kiosk(db, tmp_path, "gate-8")
    kiosk.append(10)
    # Corrupt one outbox payload behind the log's back (its hash no longer matches its content).
    import sqlite3

    conn = sqlite3.connect(kiosk.log_path)
    payload = json.loads(conn.execute("SELECT payload FROM outbox WHERE id = 4").fetchone()[0])
    payload["face_score"] = 0.99
    conn.execute("UPDATE outbox SET payload = ? WHERE id = 4", (canonical_json(payload),))
    conn.commit()
    conn.close()
    with SyncClient(kiosk.log_path, kiosk.id, kiosk.sync_config(service.url, tls), key=kiosk.key) as client:
        report = client.drain()
        state = client.backlog()
    assert report.quarantined == 1 and report.sent == 9 and state.waiting == 0 and state.quarantined == 1
    assert db.head("gate-8")[0] == 3  # the chain upstream stops before the bad record ...
    assert len(db.record_ids("gate-8")) == 9  # ... the records after it are stored, held back
    assert [p["code"] for p in db.problems("gate-8")] == ["BAD_HASH"]


def test_log_of_another_log_id_is_refused(db: UpstreamDB, service: ServiceThread, tls: Tls, tmp_path) -> None:
    kiosk = new_kiosk(db, tmp_path, "gate-9")
    kiosk.append(2)
    log_id, records = _records(kiosk)
    assert _post(service, tls, kiosk, {"log_id": log_id, "records": records})[0].status_code == 200
    answer, _ = _post(service, tls, kiosk, {"log_id": "another-log", "records": records})
    assert answer.status_code == 409


def test_head_endpoint_and_roles(db: UpstreamDB, service: ServiceThread, tls: Tls, tmp_path: Path) -> None:
    from kiosk.upstream.enrol import enrol
    from matcher.signing import generate_signing_key, load_signing_key

    kiosk = new_kiosk(db, tmp_path, "gate-10")
    kiosk.append(6, refer_every=3)
    with SyncClient(kiosk.log_path, kiosk.id, kiosk.sync_config(service.url, tls), key=kiosk.key) as client:
        client.drain()
    generate_signing_key(tmp_path / "officer.key", tmp_path / "officer.pub")
    enrol(db, "officer-1", "officer", tmp_path / "officer.pub")
    officer = load_signing_key(tmp_path / "officer.key")

    def get(key, client_id: str, path: str) -> httpx.Response:
        headers = sign_request(key, client_id, "GET", path, b"")
        with httpx.Client(verify=ssl.create_default_context(cafile=str(tls.ca))) as http:
            return http.get(service.url + path, headers=headers)

    head = get(kiosk.key, kiosk.id, HEAD_PATH)
    assert head.status_code == 200 and (head.json()["seq"], head.json()["hash"]) == db.head("gate-10")
    cases = get(officer, "officer-1", "/v1/cases/open")
    assert cases.status_code == 200 and len(cases.json()["cases"]) == 2
    assert {c["record"]["outcome"] for c in cases.json()["cases"]} == {"REFER"}
    assert get(officer, "officer-1", "/v1/statistics").status_code == 403  # supervisors only
    assert get(kiosk.key, kiosk.id, "/v1/cases/open").status_code == 403  # a kiosk reads no cases


def test_migrations_are_numbered_and_a_newer_schema_is_refused(backend: str) -> None:
    from kiosk.upstream.db import SCHEMA_VERSION, open_database
    from kiosk.upstream.errors import UpstreamConfigError

    first = open_database(backend)
    first.close()
    second = open_database(backend)  # reopening migrates nothing
    with second.transaction() as tx:
        assert tx.all("SELECT version FROM schema_version ORDER BY version") == [
            (v,) for v in range(1, SCHEMA_VERSION + 1)
        ]
        tx.execute(
            "INSERT INTO schema_version (version, applied_utc) VALUES (?, 'future')", (SCHEMA_VERSION + 1,)
        )
    second.close()
    with pytest.raises(UpstreamConfigError, match="newer than this program"):
        open_database(backend)


def test_an_oversized_body_is_refused(db: UpstreamDB, service: ServiceThread, tls: Tls, tmp_path) -> None:
    from kiosk.upstream.app import MAX_BODY

    kiosk = new_kiosk(db, tmp_path, "gate-big")
    raw = b"x" * (MAX_BODY + 10)
    headers = sign_request(kiosk.key, kiosk.id, "POST", RECORDS_PATH, raw)
    with httpx.Client(verify=ssl.create_default_context(cafile=str(tls.ca))) as http:
        assert http.post(service.url + RECORDS_PATH, content=raw, headers=headers).status_code == 413


def test_malformed_records_are_refused_one_by_one(
    db: UpstreamDB, service: ServiceThread, tls: Tls, tmp_path: Path
) -> None:
    kiosk = new_kiosk(db, tmp_path, "gate-m")
    kiosk.append(2)
    log_id, records = _records(kiosk)
    odd_time = {**records[1], "time_utc": {"not": "text"}}
    odd_time["hash"] = link_hash("decision", odd_time)  # consistently hashed, still not storable
    batch = [records[0], odd_time, {**records[1], "kind": ["list"]}, {**records[1], "seq": 2**70}, "text"]
    answer, _ = _post(service, tls, kiosk, {"log_id": log_id, "records": batch})
    assert answer.status_code == 200
    assert answer.json()["acked"] == [records[0]["id"]]
    assert [r["code"] for r in answer.json()["rejected"]] == ["BAD_RECORD"] * 4


def test_unreadable_payloads_are_quarantined_and_oversized_batches_split(
    db: UpstreamDB, service: ServiceThread, tls: Tls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from kiosk.upstream import app

    kiosk = new_kiosk(db, tmp_path, "gate-s")
    ids = kiosk.append(6)
    with DecisionLog(kiosk.log_path, kiosk.keys, exclusive=False) as log:
        for n in range(6):
            log.resolve(ids[n], "officer-1", "ESCALATED", note="x" * 7000)  # about 7.5 KB each
        log.resolve(ids[0], "officer-1", "ESCALATED", note="y" * 30_000)  # over the limit alone
    conn = sqlite3.connect(kiosk.log_path)
    conn.execute("UPDATE outbox SET payload = '{not json' WHERE id = 2")
    conn.execute("UPDATE outbox SET payload = replace(payload, '0.64', 'NaN') WHERE id = 3")
    conn.commit()
    conn.close()
    monkeypatch.setattr(app, "MAX_BODY", 20_000)  # 2 resolutions fit, 3 do not
    with SyncClient(kiosk.log_path, kiosk.id, kiosk.sync_config(service.url, tls)) as client:
        report = client.drain()
        state = client.backlog()
    assert state.waiting == 0 and state.quarantined == 3 and report.sent == 10
    reasons = sorted(r[0] for r in sqlite3.connect(kiosk.log_path).execute(
        "SELECT quarantine_reason FROM outbox WHERE quarantined_utc IS NOT NULL"))  # fmt: skip
    assert (
        reasons[0].startswith("HTTP 413")
        and reasons[1].startswith("UNREADABLE")
        and "UNREADABLE" in reasons[2]
    )


def test_resolutions_with_reason_codes_and_export_rows_chain_upstream(
    db: UpstreamDB, service: ServiceThread, tls: Tls, tmp_path: Path
) -> None:
    # every kind of the decisions' chain goes upstream: an officer's resolution carries its reason code
    # (hashed only when set) and a supervisor's export is a chained row of its own
    kiosk = new_kiosk(db, tmp_path, "gate-kinds")
    ids = kiosk.append(5, refer_every=1)
    with DecisionLog(kiosk.log_path, kiosk.keys, exclusive=False) as log:
        log.resolve(ids[0], "off-1", "ADMITTED", reason_code="IDENTITY_CONFIRMED")
        log.resolve(ids[1], "off-1", "REFUSED")
        log.log_export("sup-1", "supervisor", {"from": "2026-12-01", "records": 7})
    with SyncClient(kiosk.log_path, kiosk.id, kiosk.sync_config(service.url, tls), key=kiosk.key) as client:
        report = client.drain()
        assert report.errors == [] and report.sent == 8
        assert client.backlog().quarantined == 0
    upstream = db.record_ids("gate-kinds")
    assert len(upstream) == 8 and all(chained == 1 for _, _, chained in upstream)
    with DecisionLog(kiosk.log_path, readonly=True) as log:
        assert db.head("gate-kinds") == log.head() == log.upstream_anchor()
