"""Ingest: a kiosk's batch stored exactly once, its hash chain verified as records arrive.

Each record is checked on its own first (shape, the kiosk it names, its own hash with the kiosk's pure chain
functions, no forbidden field); then against its neighbours already known (the record before it must hash to
its ``prev_hash``, the record after it must name its hash). A record that fits is stored with
``INSERT ... ON CONFLICT DO NOTHING`` (unique on ``(kiosk_id, seq)`` and on the record id, so a repeat is a
no-op) and acknowledged, even when a gap keeps it from the verified chain yet: it is held back, and linked
in when the gap fills. A record that contradicts a known one (another record at the same seq, or a broken
link) is a fork: refused, flagged, and never stored. The verified head (seq, hash) is what the kiosk anchors.
All of it is one transaction per batch, under the kiosk's chain-row lock.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from typing import Any

from kiosk.store.chain import FIELDS, OPTIONAL_FIELDS, genesis_hash, link_hash
from kiosk.store.evidence import EVIDENCE_KINDS
from kiosk.sync.evidence import MAGIC as SEALED_MAGIC
from kiosk.sync.protocol import BatchAnswer, Rejected, forbidden_keys
from kiosk.upstream.db import Tx, UpstreamDB
from kiosk.upstream.errors import LogMismatch, UnknownClient
from kiosk.upstream.officers import settle
from matcher.utc import iso_utc, utc_now

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
# The kinds of the decisions' chain and the columns of each that the service indexes (so: must be text).
# Account events keep a chain of their own on the kiosk and never go upstream.
_INDEXED = {
    "decision": ("time_utc", "outcome"),
    "resolution": ("time_utc", "decision_id", "resolution"),
    "export": ("time_utc", "actor"),
}


def _check_record(kiosk_id: str, record: Any) -> tuple[str, str] | None:
    """(code, reason) when the record is unusable on its own, else None."""
    if not isinstance(record, Mapping):
        return "BAD_RECORD", "a record must be a JSON object"
    kind = record.get("kind")
    if not isinstance(kind, str) or kind not in _INDEXED:
        return "BAD_RECORD", f"unknown kind {kind!r}"
    required = {*FIELDS[kind], "kind", "hash"}
    allowed = {*required, *OPTIONAL_FIELDS.get(kind, ())}
    if not required <= set(record) <= allowed:
        differ = (required - set(record)) | (set(record) - allowed)
        return "BAD_RECORD", f"fields differ from a {kind} record's: {sorted(differ)}"
    seq, record_id = record["seq"], record["id"]
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq < 2**62:
        return "BAD_RECORD", "seq must be a positive integer"
    # the columns the service indexes must be text (the hash alone would accept any JSON value)
    for name in _INDEXED[kind]:
        if not isinstance(record[name], str):
            return "BAD_RECORD", f"{name} must be a string"
    if not isinstance(record_id, str) or not 0 < len(record_id) <= 100:
        return "BAD_RECORD", "id must be a string of 1 to 100 characters"
    for name in ("hash", "prev_hash"):
        if not isinstance(record[name], str) or not _HEX64.match(record[name]):
            return "BAD_RECORD", f"{name} must be 64 lower-case hex digits"
    if kind == "decision" and record["kiosk_id"] != kiosk_id:
        return "KIOSK_MISMATCH", "the decision names another kiosk than the one that signed the batch"
    try:
        if link_hash(kind, record) != record["hash"]:
            return "BAD_HASH", "the hash does not match the record's content"
    except (ValueError, TypeError, KeyError) as exc:
        return "BAD_RECORD", f"the record cannot be serialised: {exc}"
    found = forbidden_keys(record)
    if found:
        return "PRIVACY", f"fields that never go upstream: {sorted(found)}"
    return None


def _row(kiosk_id: str, record: Mapping[str, Any], payload: str, received: str) -> tuple[Any, ...]:
    kind = record["kind"]
    return (
        kiosk_id,
        record["seq"],
        record["id"],
        record["kind"],
        record["prev_hash"],
        record["hash"],
        record["time_utc"],
        record["outcome"] if kind == "decision" else None,
        record["decision_id"] if kind == "resolution" else None,
        record["resolution"] if kind == "resolution" else None,
        payload,
        received,
    )


_INSERT = (
    "INSERT INTO records (kiosk_id, seq, id, kind, prev_hash, hash, time_utc, outcome, decision_id, "
    "resolution, payload, chained, received_utc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?) "
    "ON CONFLICT DO NOTHING"
)


def _sealed_evidence(evidence: Any) -> dict[str, list[tuple[str, bytes]]]:
    """Decision id -> (kind, sealed bytes): the batch's evidence attachment, checked for shape only (the
    service cannot open it)."""
    if evidence is None:
        return {}
    if not isinstance(evidence, Mapping):
        raise ValueError("evidence must be an object: decision id -> items")
    found: dict[str, list[tuple[str, bytes]]] = {}
    for decision_id, items in evidence.items():
        if not isinstance(items, list):
            raise ValueError("evidence items must be a list")
        for item in items:
            try:
                kind, sealed = item["kind"], base64.b64decode(item["sealed"], validate=True)
            except (TypeError, KeyError, ValueError, binascii.Error):
                raise ValueError("an evidence item is {kind, sealed (base64)}") from None
            if kind not in EVIDENCE_KINDS or not sealed.startswith(SEALED_MAGIC):
                raise ValueError(f"evidence item {kind!r} is not a sealed evidence item")
            found.setdefault(str(decision_id), []).append((kind, sealed))
    return found


def ingest(
    db: UpstreamDB,
    kiosk_id: str,
    log_id: str,
    records: Sequence[Any],
    payloads: Sequence[str],
    evidence: Any = None,
) -> BatchAnswer:
    """Store a kiosk's batch (``payloads`` are the records' canonical texts) and advance its verified head.
    ``evidence`` (decision id -> sealed items) is kept for referred decisions of this batch only."""
    if not isinstance(log_id, str) or not 0 < len(log_id) <= 100:
        raise ValueError("log_id must be a string of 1 to 100 characters")
    sealed = _sealed_evidence(evidence)
    acked: list[str] = []
    rejected: list[Rejected] = []
    received = iso_utc(utc_now())
    with db.transaction() as tx:
        chain = tx.one(
            "SELECT log_id, head_seq, head_hash FROM chains WHERE kiosk_id = ?" + tx.for_update(), (kiosk_id,)
        )
        if chain is None:
            raise UnknownClient(f"{kiosk_id!r} is not an enrolled kiosk")
        known_log, head_seq, head_hash = chain
        if known_log is None:
            head_hash = genesis_hash(log_id)
            tx.execute(
                "UPDATE chains SET log_id = ?, head_hash = ? WHERE kiosk_id = ?",
                (log_id, head_hash, kiosk_id),
            )
        elif known_log != log_id:
            raise LogMismatch(
                f"kiosk {kiosk_id} sent records of log {log_id}, but its chain upstream is log {known_log}"
            )
        good: list[tuple[Mapping[str, Any], str]] = []
        for record, payload in zip(records, payloads, strict=True):
            problem = _check_record(kiosk_id, record)
            if problem is None:
                good.append((record, payload))
            else:
                record_id = str(record.get("id", "")) if isinstance(record, Mapping) else ""
                rejected.append(Rejected(record_id, *problem))
        good.sort(key=lambda item: item[0]["seq"])
        known = _neighbours(tx, kiosk_id, [r["seq"] for r, _ in good])
        taken = _taken_ids(tx, [r["id"] for r, _ in good])
        rows, stored = [], []
        for record, payload in good:
            problem = _place(record, known, taken, kiosk_id, genesis_hash(log_id))
            if problem is None:
                known[record["seq"]] = (record["id"], record["hash"], record["prev_hash"])
                taken[record["id"]] = (kiosk_id, record["seq"], record["hash"])
                rows.append(_row(kiosk_id, record, payload, received))
                stored.append(record)
                acked.append(record["id"])
            elif problem[0] == "DUPLICATE":
                acked.append(record["id"])  # stored before: acknowledge again, change nothing
            else:
                rejected.append(Rejected(record["id"], *problem))
        tx.executemany(_INSERT, rows)
        settle(tx, kiosk_id, stored, received)  # resolutions made upstream, now in the kiosk's chain
        referred = {r["id"] for r, _ in good if r["kind"] == "decision" and r["outcome"] == "REFER"}
        tx.executemany(
            "INSERT INTO evidence (kiosk_id, decision_id, kind, sealed, received_utc) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            [
                (kiosk_id, decision_id, kind, blob, received)
                for decision_id, items in sealed.items()
                if decision_id in referred and decision_id in acked
                for kind, blob in items
            ],
        )
        flagged = [r for r in rejected if r.code in ("FORK", "BAD_HASH", "KIOSK_MISMATCH", "DUPLICATE_ID")]
        tx.executemany(
            "INSERT INTO problems (kiosk_id, seq, record_id, code, reason, found_utc) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (kiosk_id, _seq_of(records, r.record_id), r.record_id, r.code, r.reason, received)
                for r in flagged
            ],
        )
        head_seq, head_hash = _advance(tx, kiosk_id, head_seq, head_hash, received)
        held = tx.one("SELECT count(*) FROM records WHERE kiosk_id = ? AND chained = 0", (kiosk_id,))[0]
    return BatchAnswer(tuple(acked), tuple(rejected), head_seq, head_hash, held)


def _seq_of(records: Sequence[Any], record_id: str) -> int | None:
    for record in records:
        if (
            isinstance(record, Mapping)
            and record.get("id") == record_id
            and isinstance(record.get("seq"), int)
        ):
            return int(record["seq"])
    return None


def _neighbours(tx: Tx, kiosk_id: str, seqs: list[int]) -> dict[int, tuple[str, str, str]]:
    """Stored records at, just before and just after the batch's seqs: seq -> (id, hash, prev_hash)."""
    wanted = sorted({s + d for s in seqs for d in (-1, 0, 1) if s + d > 0})
    known: dict[int, tuple[str, str, str]] = {}
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        marks = ", ".join("?" * len(part))
        for seq, record_id, digest, prev in tx.all(
            f"SELECT seq, id, hash, prev_hash FROM records WHERE kiosk_id = ? AND seq IN ({marks})",
            (kiosk_id, *part),
        ):
            known[seq] = (record_id, digest, prev)
    return known


def _taken_ids(tx: Tx, ids: list[str]) -> dict[str, tuple[str, int, str]]:
    taken: dict[str, tuple[str, int, str]] = {}
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        marks = ", ".join("?" * len(part))
        for record_id, kiosk_id, seq, digest in tx.all(
            f"SELECT id, kiosk_id, seq, hash FROM records WHERE id IN ({marks})", part
        ):
            taken[record_id] = (kiosk_id, seq, digest)
    return taken


def _place(
    record: Mapping[str, Any],
    known: dict[int, tuple[str, str, str]],
    taken: dict[str, tuple[str, int, str]],
    kiosk_id: str,
    genesis: str,
) -> tuple[str, str] | None:
    """None when the record fits its known neighbours; ("DUPLICATE", ...) when it is stored already; else
    the code and reason of its refusal."""
    seq, digest = record["seq"], record["hash"]
    if record["id"] in taken:
        if taken[record["id"]] == (kiosk_id, seq, digest):
            return "DUPLICATE", ""
        return "DUPLICATE_ID", "another record upstream has this id"
    if seq in known:
        return "FORK", f"seq {seq} is already taken upstream by another record (the chain forked)"
    previous = genesis if seq == 1 else known.get(seq - 1, (None, None, None))[1]
    if previous is not None and record["prev_hash"] != previous:
        return "FORK", f"prev_hash does not link to record {seq - 1} upstream (the chain forked)"
    following = known.get(seq + 1)
    if following is not None and following[2] != digest:
        return "FORK", f"record {seq + 1} upstream does not link to this record (the chain forked)"
    return None


def _advance(tx: Tx, kiosk_id: str, head_seq: int, head_hash: str, now: str) -> tuple[int, str]:
    """Link held records that continue the verified chain without a gap; returns the new head."""
    start = head_seq
    while True:
        rows = tx.all(
            "SELECT seq, hash, prev_hash FROM records WHERE kiosk_id = ? AND chained = 0 AND seq > ? "
            "ORDER BY seq LIMIT 1000",
            (kiosk_id, head_seq),
        )
        moved = False
        for seq, digest, prev in rows:
            if seq != head_seq + 1 or prev != head_hash:
                break  # a gap (or a link checked on arrival and since contradicted: stays held)
            head_seq, head_hash, moved = seq, digest, True
        if not moved or len(rows) < 1000:
            break
    if head_seq != start:
        tx.execute(
            "UPDATE records SET chained = 1 WHERE kiosk_id = ? AND seq > ? AND seq <= ?",
            (kiosk_id, start, head_seq),
        )
        tx.execute(
            "UPDATE chains SET head_seq = ?, head_hash = ?, updated_utc = ? WHERE kiosk_id = ?",
            (head_seq, head_hash, now, kiosk_id),
        )
    return head_seq, head_hash
