"""``DecisionLog``: the kiosk's tamper-evident, append-only record of gate decisions and officer resolutions.

One SQLite transaction per append writes the decision (linked into the audit chain), its outbox row for the
upstream sync and its sealed evidence: after a crash either all of it is there or none of it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Collection, Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from kiosk.decision import Decision
from kiosk.store.accounts import account_chain_problems
from kiosk.store.chain import (
    DECISION_FIELDS,
    EXPORT_FIELDS,
    OPTIONAL_FIELDS,
    RESOLUTION_FIELDS,
    Problem,
    VerifyResult,
    canonical_json,
    chain_record,
    genesis_hash,
    link_hash,
    verify_links,
)
from kiosk.store.db import (
    BUSY_TIMEOUT_MS,
    InstanceLock,
    Synchronous,
    connect,
    instance_lock_held,
    sqlite_errors,
    write_transaction,
)
from kiosk.store.errors import (
    AlreadyResolvedError,
    DuplicateRecordError,
    KeyRingError,
    RecordInvalidError,
    StoreError,
    UnknownDecisionError,
)
from kiosk.store.evidence import Evidence, SealedItem, ciphertext_digest, seal, unseal
from kiosk.store.keys import KeyRing
from kiosk.store.records import (
    EXIT_OPENED,
    FINAL_RESOLUTIONS,
    RESOLUTIONS,
    Case,
    ChainRecord,
    GateActivity,
    LoggedDecision,
    OutboxItem,
    Resolution,
    decision_from_row,
    export_from_row,
    resolution_from_row,
)
from matcher.utc import iso_utc, utc_now

DEFAULT_RETENTION_DAYS = 30
PURGE_CLOCK_SKEW = timedelta(minutes=1)  # a purge time later than the clock by more is refused

_JSON_COLUMNS = ("reason_codes", "document_checks", "quality", "liveness", "watchlist_hits", "models")
_PLAIN_COLUMNS = (
    "id",
    "kiosk_id",
    "time_utc",
    "outcome",
    "document_type",
    "issuing_state",
    "document_number_hash",
)
_FLOAT_COLUMNS = ("face_score", "face_threshold")
_DECISION_INSERT = (
    f"INSERT INTO decisions ({', '.join((*DECISION_FIELDS, 'hash'))}) "
    f"VALUES ({', '.join(':' + name for name in (*DECISION_FIELDS, 'hash'))})"
)
_RESOLUTION_COLUMNS = (*RESOLUTION_FIELDS, *OPTIONAL_FIELDS["resolution"], "hash")
_RESOLUTION_INSERT = (
    f"INSERT INTO resolutions ({', '.join(_RESOLUTION_COLUMNS)}) "
    f"VALUES ({', '.join(':' + name for name in _RESOLUTION_COLUMNS)})"
)
_EXPORT_INSERT = (
    f"INSERT INTO exports ({', '.join((*EXPORT_FIELDS, 'hash'))}) "
    f"VALUES ({', '.join(':' + name for name in (*EXPORT_FIELDS, 'hash'))})"
)
_STORED = {
    "decision": (*DECISION_FIELDS, "hash"),
    "resolution": _RESOLUTION_COLUMNS,
    "export": (*EXPORT_FIELDS, "hash"),
}
_TABLES = {"decision": "decisions", "resolution": "resolutions", "export": "exports"}
_ALL_COLUMNS = tuple(dict.fromkeys(name for columns in _STORED.values() for name in columns))


def _padded_select(kind: str, table: str) -> str:
    columns = ", ".join(name if name in _STORED[kind] else f"NULL AS {name}" for name in _ALL_COLUMNS)
    return f"SELECT '{kind}' AS kind, {columns} FROM {table} WHERE seq > ?"


_RECORDS = (
    " UNION ALL ".join(_padded_select(kind, table) for kind, table in _TABLES.items()) + " ORDER BY seq"
)
_HEAD = (
    " UNION ALL ".join(
        f"SELECT seq, hash FROM (SELECT seq, hash FROM {table} ORDER BY seq DESC LIMIT 1)"
        for table in _TABLES.values()
    )
    + " ORDER BY seq DESC LIMIT 1"
)


def _rows(cursor: sqlite3.Cursor) -> Iterator[dict[str, Any]]:
    names = [column[0] for column in cursor.description]
    for values in cursor:
        yield dict(zip(names, values, strict=True))


class DecisionLog:
    """The decision log at ``path`` (created when missing).

    ``keys`` is needed to seal or open evidence. ``exclusive`` (the kiosk) takes the instance lock so a second
    kiosk process on the same log refuses to start; the officer console and purge open with
    ``exclusive=False`` and still write safely (every write is a ``BEGIN IMMEDIATE`` transaction); readers
    such as export and ``verify-log`` use ``readonly=True`` and read a consistent snapshot while the kiosk
    writes.
    """

    def __init__(
        self,
        path: str | Path,
        keys: KeyRing | None = None,
        *,
        readonly: bool = False,
        exclusive: bool = True,
        synchronous: Synchronous = "FULL",
        retention_days: int = DEFAULT_RETENTION_DAYS,
    ) -> None:
        self.path = Path(path)
        self.keys = keys
        self.retention_days = retention_days
        self._mutex = threading.RLock()
        self._lock = InstanceLock(self.path) if exclusive and not readonly else None
        try:
            self._conn = connect(self.path, readonly=readonly, synchronous=synchronous)
            with sqlite_errors(self.path, "reading the log id"):
                log_id = self._conn.execute("SELECT value FROM meta WHERE key = 'log_id'").fetchone()
        except BaseException:
            if self._lock:
                self._lock.release()
            raise
        self.log_id: str = log_id[0] if log_id else ""
        self.genesis = genesis_hash(self.log_id)
        if keys is not None and not readonly:
            try:
                self._check_key(keys)
            except BaseException:
                self.close()
                raise

    # ------------------------------------------------------------------------------------------- keys

    def _check_key(self, keys: KeyRing) -> None:
        """The log keeps the id of the key it writes under (recorded by the first keyed writer): another
        key would split one passport's document-number hashes and the evidence across two keys."""
        with sqlite_errors(self.path, "reading the log's key id"):
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'key_id'").fetchone()
        if row is None:
            with write_transaction(self._conn, self.path, "recording the log's key id") as conn:
                if conn.execute("SELECT 1 FROM meta WHERE key = 'key_id'").fetchone() is None:
                    self._record_key(conn, keys.key_id, [])
        elif row[0] != keys.key_id:
            raise KeyRingError(
                f"decision log {self.path} is written under key {row[0]}, not the loaded key {keys.key_id}: "
                "refusing to log under a second key (`kiosk key rotate` changes the key explicitly)"
            )

    @staticmethod
    def _record_key(conn: sqlite3.Connection, key_id: str, history: list[dict[str, Any]]) -> int:
        head = conn.execute(_HEAD).fetchone()
        from_seq = (head[0] if head else 0) + 1
        history = [*history, {"key_id": key_id, "from_seq": from_seq, "since": iso_utc(utc_now())}]
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('key_id', ?)", (key_id,))
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('key_history', ?)", (canonical_json(history),)
        )
        return from_seq

    def key_history(self) -> list[dict[str, Any]]:
        """The keys the log was written under, oldest first: ``{key_id, from_seq, since}`` each. Document-
        number hashes and evidence of rows from ``from_seq`` on are made with that key."""
        with self._mutex, sqlite_errors(self.path, "reading the key history"):
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'key_history'").fetchone()
        return json.loads(row[0]) if row else []

    def rotate_key(self, new_keys: KeyRing) -> int:
        """Write under ``new_keys`` from the next row on; returns that row's seq. The log must be open with
        its current key. Earlier evidence stays sealed under the old key (the chain records its digests, so
        it is never re-encrypted): keep the old key file to read it. Document-number hashes change with the
        key, so the same passport hashes differently before and after ``from_seq`` (see ``key_history``)."""
        if self.keys is None:
            raise KeyRingError("rotating the key needs the log opened with its current key")
        if new_keys.key_id == self.keys.key_id:
            raise KeyRingError(f"the new key is the current key ({new_keys.key_id})")
        with self._mutex, write_transaction(self._conn, self.path, "rotating the key") as conn:
            from_seq = self._record_key(conn, new_keys.key_id, self.key_history())
        self.keys = new_keys
        return from_seq

    def close(self) -> None:
        with self._mutex:
            self._conn.close()
            if self._lock:
                self._lock.release()

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------- writing

    def append(self, decision: Decision, *, evidence: Evidence | None = None) -> str:
        """Log ``decision`` (and its sealed evidence) in one durable transaction; returns its id.

        Raises a StoreError subclass when nothing was logged: the caller must not act on the decision then.
        """
        row = _decision_row(decision)
        sealed: list[SealedItem] = []
        if evidence is not None:
            if self.keys is None:
                raise KeyRingError("evidence can only be logged with a key ring")
            retain_until = evidence.retain_until or utc_now() + timedelta(days=self.retention_days)
            sealed = seal(self.keys, row["id"], evidence, iso_utc(retain_until))
        row["evidence"] = canonical_json([item.digest for item in sealed])
        with self._mutex, write_transaction(self._conn, self.path, f"logging decision {row['id']}") as conn:
            if conn.execute("SELECT 1 FROM decisions WHERE id = ?", (row["id"],)).fetchone():
                raise DuplicateRecordError(f"decision {row['id']} is already in the log")
            row["logged_utc"] = iso_utc(utc_now())
            self._link(conn, "decision", row)
            conn.execute(_DECISION_INSERT, row)
            conn.executemany(
                "INSERT INTO evidence (decision_id, kind, key_id, ciphertext, created_utc, retain_until) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (row["id"], s.kind, s.key_id, s.ciphertext, row["logged_utc"], s.retain_until)
                    for s in sealed
                ],
            )
            self._enqueue(conn, "decision", row)
        return row["id"]

    def resolve(
        self,
        decision_id: str,
        officer: str,
        resolution: str,
        note: str = "",
        *,
        reason_code: str | None = None,
        now: datetime | None = None,
        resolution_id: str | None = None,
    ) -> str:
        """Log an officer's resolution of a decision (a new chained row; decisions are never changed).

        A case closed by a final resolution (``FINAL_RESOLUTIONS``) takes no further one: the check and the
        write are one transaction, so of two consoles resolving the same case the first wins and the other
        gets ``AlreadyResolvedError`` naming who resolved it.

        ``resolution_id`` (with ``now``): a resolution made on the upstream console, chained here under the
        id it has upstream, so the upstream recognises it when the outbox sends it back; logging it again is
        a no-op that returns the id.
        """
        if resolution not in RESOLUTIONS:
            raise RecordInvalidError(
                f"resolution must be one of {', '.join(RESOLUTIONS)}, not {resolution!r}"
            )
        if not officer.strip():
            raise RecordInvalidError("resolution needs the officer's id")
        if reason_code is not None and not reason_code.strip():
            raise RecordInvalidError("a resolution's reason code cannot be blank")
        row: dict[str, Any] = {
            "id": resolution_id or str(uuid.uuid4()),
            "decision_id": decision_id,
            "time_utc": iso_utc(now or utc_now()),
            "officer": officer.strip(),
            "resolution": resolution,
            "note": note,
            "reason_code": reason_code,
        }
        with (
            self._mutex,
            write_transaction(self._conn, self.path, f"logging a resolution of {decision_id}") as conn,
        ):
            if not conn.execute("SELECT 1 FROM decisions WHERE id = ?", (decision_id,)).fetchone():
                raise UnknownDecisionError(f"no decision {decision_id} in the log")
            if (
                resolution_id is not None
                and conn.execute(
                    "SELECT 1 FROM resolutions WHERE id = ? AND decision_id = ?", (resolution_id, decision_id)
                ).fetchone()
            ):
                return resolution_id
            closed = conn.execute(
                "SELECT officer, resolution, time_utc FROM resolutions WHERE decision_id = ? "
                f"AND resolution IN ({', '.join('?' * len(FINAL_RESOLUTIONS))}) ORDER BY seq LIMIT 1",
                (decision_id, *FINAL_RESOLUTIONS),
            ).fetchone()
            if closed:
                by, what, when = closed
                raise AlreadyResolvedError(
                    f"case {decision_id} was already resolved by {by} ({what} at {when})",
                    officer=by,
                    resolution=what,
                    time_utc=when,
                )
            self._link(conn, "resolution", row)
            conn.execute(_RESOLUTION_INSERT, row)
            self._enqueue(conn, "resolution", row)
        return row["id"]

    def log_exit_opened(self, decision_id: str, officer: str) -> str:
        """Chain that the gate's exit opened for a referred traveller on ``officer``'s admit (an
        ``EXIT_OPENED`` resolution row naming the admitting officer); refused unless the case's closing
        resolution is that officer's ADMITTED, so the chain never shows an exit opened without an admit."""
        row: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "decision_id": decision_id,
            "time_utc": iso_utc(utc_now()),
            "officer": officer,
            "resolution": EXIT_OPENED,
            "note": "",
            "reason_code": None,
        }
        with (
            self._mutex,
            write_transaction(self._conn, self.path, f"logging the exit of {decision_id}") as conn,
        ):
            closed = conn.execute(
                "SELECT officer, resolution FROM resolutions WHERE decision_id = ? "
                f"AND resolution IN ({', '.join('?' * len(FINAL_RESOLUTIONS))}) ORDER BY seq LIMIT 1",
                (decision_id, *FINAL_RESOLUTIONS),
            ).fetchone()
            if closed != (officer, "ADMITTED"):
                raise RecordInvalidError(
                    f"case {decision_id} was not admitted by {officer}: no exit row without the admit"
                )
            self._link(conn, "resolution", row)
            conn.execute(_RESOLUTION_INSERT, row)
            self._enqueue(conn, "resolution", row)
        return row["id"]

    def log_export(self, actor: str, role: str, detail: dict[str, Any]) -> int:
        """Chain an audit export (``kiosk.export``): who (account id and role) exported what (``detail``:
        period, formats, whether images, record counts, the manifest's sha256). Returns the row's seq."""
        if not actor.strip():
            raise RecordInvalidError("an export event needs the exporting account's id")
        try:
            detail_text = canonical_json(detail)
        except ValueError as exc:
            raise RecordInvalidError(f"export detail: {exc}") from None
        row: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "time_utc": iso_utc(utc_now()),
            "actor": actor.strip(),
            "role": role,
            "detail": detail_text,
        }
        with self._mutex, write_transaction(self._conn, self.path, "logging an export") as conn:
            self._link(conn, "export", row)
            conn.execute(_EXPORT_INSERT, row)
            self._enqueue(conn, "export", row)
        return int(row["seq"])

    def _link(self, conn: sqlite3.Connection, kind: str, row: dict[str, Any]) -> None:
        head = conn.execute(_HEAD).fetchone()
        seq, prev_hash = head if head else (0, self.genesis)
        row["seq"], row["prev_hash"] = seq + 1, prev_hash
        row["hash"] = link_hash(kind, row)

    @staticmethod
    def _enqueue(conn: sqlite3.Connection, kind: str, row: dict[str, Any]) -> None:
        payload = canonical_json({**chain_record(kind, row), "hash": row["hash"]})
        conn.execute(
            "INSERT INTO outbox (record_id, kind, payload, created_utc) VALUES (?, ?, ?, ?)",
            (row["id"], kind, payload, iso_utc(utc_now())),
        )

    def purge(self, now: datetime | None = None) -> int:
        """Delete evidence whose retention date is at or before ``now``; returns the number of items deleted.

        Deleted pages are zeroed (``secure_delete``) and the WAL is checkpointed and truncated, so no copy of
        the ciphertext stays behind. The checkpoint does not wait for readers (it would hold up the kiosk's
        writes meanwhile): with a long reader active, old WAL frames stay until overwritten, still encrypted.
        Decisions and the chain are untouched.
        """
        if now is not None and now > utc_now() + PURGE_CLOCK_SKEW:
            raise StoreError(
                f"decision log {self.path}: refusing to purge as of {iso_utc(now)}, a time in the future "
                "(evidence would go before its retention date); nothing was deleted"
            )
        cutoff = iso_utc(now or utc_now())
        with self._mutex:
            with write_transaction(self._conn, self.path, "purging expired evidence") as conn:
                count = conn.execute("DELETE FROM evidence WHERE retain_until <= ?", (cutoff,)).rowcount
            if count:
                with sqlite_errors(self.path, "checkpointing after purge"):
                    self._conn.execute("PRAGMA busy_timeout = 0")
                    try:
                        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    finally:
                        self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return count

    # ------------------------------------------------------------------------------------------- outbox

    def outbox_pending(self, limit: int = 100) -> list[OutboxItem]:
        """The oldest records not yet acknowledged by the upstream, in log order."""
        with self._mutex, sqlite_errors(self.path, "reading the outbox"):
            cursor = self._conn.execute(
                "SELECT id, record_id, kind, payload, created_utc FROM outbox WHERE sent_utc IS NULL "
                "AND quarantined_utc IS NULL ORDER BY id LIMIT ?",
                (limit,),
            )
            return [OutboxItem(*values) for values in cursor]

    def mark_sent(self, record_ids: Iterable[str], *, when: datetime | None = None) -> int:
        """Mark records as acknowledged upstream (idempotent); returns how many were newly marked."""
        sent = iso_utc(when or utc_now())
        ids = list(record_ids)
        with self._mutex, write_transaction(self._conn, self.path, "marking outbox records sent") as conn:
            return sum(
                conn.execute(
                    "UPDATE outbox SET sent_utc = ? WHERE record_id = ? AND sent_utc IS NULL",
                    (sent, record_id),
                ).rowcount
                for record_id in ids
            )

    def quarantine(self, record_id: str, reason: str, *, when: datetime | None = None) -> bool:
        """Set an unsent record aside after the upstream refused it (it leaves ``outbox_pending``); True
        when it was newly quarantined. The record stays in the log and the outbox."""
        with self._mutex, write_transaction(self._conn, self.path, "quarantining an outbox record") as conn:
            return (
                conn.execute(
                    "UPDATE outbox SET quarantined_utc = ?, quarantine_reason = ? WHERE record_id = ? "
                    "AND sent_utc IS NULL AND quarantined_utc IS NULL",
                    (iso_utc(when or utc_now()), reason, record_id),
                ).rowcount
                == 1
            )

    def outbox_backlog(self) -> tuple[int, str | None, int]:
        """(records waiting, creation time of the oldest waiting, records quarantined)."""
        with self._mutex, sqlite_errors(self.path, "reading the outbox backlog"):
            waiting, oldest = self._conn.execute(
                "SELECT count(*), min(created_utc) FROM outbox WHERE sent_utc IS NULL "
                "AND quarantined_utc IS NULL"
            ).fetchone()
            quarantined = self._conn.execute(
                "SELECT count(*) FROM outbox WHERE quarantined_utc IS NOT NULL AND sent_utc IS NULL"
            ).fetchone()[0]
        return waiting, oldest, quarantined

    def set_upstream_anchor(self, seq: int, digest: str) -> None:
        """Keep the head the upstream verified (for ``verify-log --expect-head``); never moves back."""
        with self._mutex, write_transaction(self._conn, self.path, "keeping the upstream anchor") as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'upstream_anchor'").fetchone()
            if row is None or json.loads(row[0])["seq"] < seq:
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('upstream_anchor', ?)",
                    (canonical_json({"seq": seq, "hash": digest}),),
                )

    def upstream_anchor(self) -> tuple[int, str] | None:
        """The last head the upstream acknowledged as verified, or None."""
        with self._mutex, sqlite_errors(self.path, "reading the upstream anchor"):
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'upstream_anchor'").fetchone()
        return (json.loads(row[0])["seq"], json.loads(row[0])["hash"]) if row else None

    # ------------------------------------------------------------------------------------------- reading

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the last chained row; (0, genesis) for an empty log. Sync can anchor it upstream."""
        with self._mutex, sqlite_errors(self.path, "reading the chain head"):
            head = self._conn.execute(_HEAD).fetchone()
        return (head[0], head[1]) if head else (0, self.genesis)

    def decision(self, decision_id: str) -> LoggedDecision | None:
        """The decision as logged, or None."""
        with self._mutex, sqlite_errors(self.path, "reading a decision"):
            found = list(_rows(self._conn.execute("SELECT * FROM decisions WHERE id = ?", (decision_id,))))
        return decision_from_row(found[0]) if found else None

    def resolutions(self, decision_id: str) -> list[Resolution]:
        """The resolutions of a decision, oldest first."""
        with self._mutex, sqlite_errors(self.path, "reading resolutions"):
            cursor = self._conn.execute(
                "SELECT * FROM resolutions WHERE decision_id = ? ORDER BY seq", (decision_id,)
            )
            return [resolution_from_row(row) for row in _rows(cursor)]

    def case(self, decision_id: str) -> Case | None:
        """A decision with its resolutions (open or closed), or None."""
        with self._mutex:
            decision = self.decision(decision_id)
            return Case(decision, tuple(self.resolutions(decision_id))) if decision else None

    def open_cases(
        self, limit: int = 100, *, newest_first: bool = False, kiosk_ids: Collection[str] | None = None
    ) -> list[Case]:
        """Referred decisions without a final resolution (``FINAL_RESOLUTIONS``): the case queue, oldest
        first (``newest_first`` for a console's view); ``kiosk_ids`` keeps only those gates' cases."""
        finals = ", ".join("?" * len(FINAL_RESOLUTIONS))
        where = ""
        params: list[Any] = list(FINAL_RESOLUTIONS)
        if kiosk_ids is not None:
            where = f" AND kiosk_id IN ({', '.join('?' * len(kiosk_ids))})"
            params += list(kiosk_ids)
        query = (
            "SELECT * FROM decisions d WHERE outcome = 'REFER' AND NOT EXISTS (SELECT 1 FROM resolutions r "
            f"WHERE r.decision_id = d.id AND r.resolution IN ({finals})){where} "
            f"ORDER BY seq {'DESC' if newest_first else 'ASC'} LIMIT ?"
        )
        with self._mutex, sqlite_errors(self.path, "reading open cases"):
            self._conn.execute("BEGIN")  # the cases and their resolutions from one snapshot
            try:
                decisions = [
                    decision_from_row(row) for row in _rows(self._conn.execute(query, (*params, limit)))
                ]
                return [Case(decision, tuple(self.resolutions(decision.id))) for decision in decisions]
            finally:
                self._conn.execute("COMMIT")

    def gate_activity(self) -> list[GateActivity]:
        """Per kiosk id in the log: whether its kiosk runs, open cases, a traveller waiting, the outbox
        backlog (the whole log's: one gate writes one log)."""
        finals = ", ".join("?" * len(FINAL_RESOLUTIONS))

        def open_refer(alias: str) -> str:
            return (
                f"{alias}.outcome = 'REFER' AND NOT EXISTS (SELECT 1 FROM resolutions r "
                f"WHERE r.decision_id = {alias}.id AND r.resolution IN ({finals}))"
            )

        query = (
            f"SELECT kiosk_id, max(time_utc), sum({open_refer('d')}), "
            f"(SELECT {open_refer('n')} FROM decisions n WHERE n.kiosk_id = d.kiosk_id "
            "ORDER BY n.seq DESC LIMIT 1) FROM decisions d GROUP BY kiosk_id ORDER BY kiosk_id"
        )
        running = self._lock is not None or instance_lock_held(self.path)
        with self._mutex, sqlite_errors(self.path, "reading the gates' activity"):
            self._conn.execute("BEGIN")
            try:
                backlog = self._conn.execute("SELECT count(*) FROM outbox WHERE sent_utc IS NULL").fetchone()[
                    0
                ]
                rows = self._conn.execute(query, (*FINAL_RESOLUTIONS, *FINAL_RESOLUTIONS)).fetchall()
            finally:
                self._conn.execute("COMMIT")
        return [
            GateActivity(kiosk_id, running, last, int(open_cases or 0), bool(waiting), backlog)
            for kiosk_id, last, open_cases, waiting in rows
        ]

    def records(self, since_seq: int = 0) -> Iterator[ChainRecord]:
        """Chained records with ``seq > since_seq`` in chain order, typed, for export and sync; each keeps
        ``stored`` for :func:`kiosk.store.chain.verify_links`. One statement, so one snapshot even while the
        kiosk keeps appending."""
        for kind, row in self._chain_rows(since_seq):
            if kind == "decision":
                yield decision_from_row(row)
            else:
                yield resolution_from_row(row) if kind == "resolution" else export_from_row(row)

    def _chain_rows(self, since_seq: int = 0) -> Iterator[tuple[str, dict[str, Any]]]:
        """(kind, row as stored): what verification hashes, unparsed (tampered text may be no JSON)."""
        for row in _rows(self._conn.execute(_RECORDS, (since_seq,) * len(_TABLES))):
            kind = row.pop("kind")
            yield kind, {name: row[name] for name in _STORED[kind]}

    def evidence(self, decision_id: str) -> dict[str, bytes]:
        """Decrypted evidence of a decision (kind -> bytes); empty once purged. Needs the key ring."""
        if self.keys is None:
            raise KeyRingError("opening evidence needs the key ring")
        with self._mutex, sqlite_errors(self.path, "reading evidence"):
            cursor = self._conn.execute(
                "SELECT kind, key_id, ciphertext, retain_until FROM evidence WHERE decision_id = ?",
                (decision_id,),
            )
            items = [SealedItem(*values) for values in cursor]
        return {item.kind: unseal(self.keys, decision_id, item) for item in items}

    # ------------------------------------------------------------------------------------------- audit

    def verify(
        self, *, expect_head: tuple[int, str] | None = None, now: datetime | None = None
    ) -> VerifyResult:
        """Check the database (``integrity_check``), the whole chain, an optional anchor (a (seq, hash) known
        from elsewhere, e.g. acknowledged upstream: detects truncation or a rewritten chain) and the evidence
        against the digests the chain recorded. Reads one consistent snapshot."""
        cutoff = iso_utc(now or utc_now())
        with self._mutex, sqlite_errors(self.path, "verifying the log"):
            self._conn.execute("BEGIN")
            try:
                integrity = [row[0] for row in self._conn.execute("PRAGMA integrity_check(20)")]
                if integrity != ["ok"]:
                    reason = "SQLite integrity_check failed: " + "; ".join(integrity)
                    return VerifyResult(0, 0, self.genesis, (Problem(0, "", "database", reason),))
                chain = verify_links(self._chain_rows(), self.genesis)
                problems = list(chain.problems)
                if expect_head is not None:
                    problems += self._check_anchor(*expect_head)
                problems += self._check_outbox()
                problems += account_chain_problems(self._conn, self.log_id)
                problems += self._check_evidence(cutoff)
            finally:
                self._conn.execute("COMMIT")
        return VerifyResult(chain.rows, chain.head_seq, chain.head_hash, tuple(problems))

    def _check_outbox(self) -> list[Problem]:
        """What goes upstream must be exactly the chained record. (A missing row is not flagged: the sync
        may prune acknowledged rows.)"""
        outbox = dict(self._conn.execute("SELECT record_id, payload FROM outbox"))
        problems = []
        for kind, row in self._chain_rows():
            payload = outbox.pop(row["id"], None)
            if payload is not None and payload != canonical_json(
                {**chain_record(kind, row), "hash": row["hash"]}
            ):
                problems.append(
                    Problem(row["seq"], row["id"], "outbox", "outbox payload differs from the log")
                )
        orphan = "outbox row without a record in the log (added for the upstream only)"
        return problems + [Problem(0, record_id, "outbox", orphan) for record_id in outbox]

    def _check_anchor(self, seq: int, expected: str) -> list[Problem]:
        found = self._conn.execute(
            " UNION ALL ".join(f"SELECT id, hash FROM {table} WHERE seq = ?" for table in _TABLES.values()),
            (seq,) * len(_TABLES),
        ).fetchall()
        if not found:
            return [Problem(seq, "", "anchor", "anchored row is missing: the log was truncated or replaced")]
        if found[0][1] != expected:
            return [
                Problem(seq, found[0][0], "anchor", "hash differs from the anchor: the chain was rewritten")
            ]
        return []

    def _check_evidence(self, cutoff: str) -> list[Problem]:
        recorded: dict[tuple[str, str], tuple[int, dict[str, str]]] = {}
        problems = []
        for seq, decision_id, listed in self._conn.execute(
            "SELECT seq, id, evidence FROM decisions WHERE evidence != '[]' ORDER BY seq"
        ):
            try:
                for digest in json.loads(listed):
                    wanted = {"sha256": str(digest["sha256"]), "retain_until": str(digest["retain_until"])}
                    recorded[(decision_id, digest["kind"])] = (seq, wanted)
            except (ValueError, TypeError, KeyError):
                problems.append(
                    Problem(seq, decision_id, "evidence", "the decision's evidence list is malformed")
                )
        for decision_id, kind, ciphertext, retain_until in self._conn.execute(
            "SELECT decision_id, kind, ciphertext, retain_until FROM evidence ORDER BY id"
        ):
            seq, digest = recorded.pop((decision_id, kind), (0, None))
            if digest is None:
                reason = f"evidence {kind} is not recorded in the chain (added afterwards)"
            elif digest["sha256"] != ciphertext_digest(ciphertext) or digest["retain_until"] != retain_until:
                reason = f"evidence {kind} differs from what the chain recorded (replaced or altered)"
            else:
                continue
            problems.append(Problem(seq, decision_id, "evidence", reason))
        for (decision_id, kind), (seq, digest) in recorded.items():
            if digest["retain_until"] > cutoff:
                reason = f"evidence {kind} is missing before its retention date {digest['retain_until']}"
                problems.append(Problem(seq, decision_id, "evidence", reason))
        return sorted(problems, key=lambda problem: problem.seq)


def _decision_row(decision: Decision) -> dict[str, Any]:
    """The decisions row of ``decision`` (without chain fields); RecordInvalidError names what is wrong."""
    data = decision.as_dict()
    try:
        row: dict[str, Any] = {
            name: data.pop(name) for name in (*_PLAIN_COLUMNS, *_FLOAT_COLUMNS, *_JSON_COLUMNS)
        }
    except KeyError as exc:
        raise RecordInvalidError(f"decision has no field {exc}") from None
    for name in ("id", "kiosk_id", "time_utc"):
        if not isinstance(row[name], str) or not row[name]:
            raise RecordInvalidError(f"decision {name} must be a non-empty string")
    if row["outcome"] not in ("PASS", "REFER"):
        raise RecordInvalidError(
            f"decision {row['id']}: outcome must be PASS or REFER, not {row['outcome']!r}"
        )
    try:
        for name in _FLOAT_COLUMNS:
            row[name] = None if row[name] is None else float(row[name])
            canonical_json(row[name])
        for name in _JSON_COLUMNS:
            row[name] = canonical_json(row[name])
        row["extra"] = canonical_json(data)  # fields added to Decision after this schema
    except (TypeError, ValueError) as exc:
        raise RecordInvalidError(f"decision {row['id']}: {exc}") from None
    return row
