"""The upstream service's data-access layer: one interface, two backends.

PostgreSQL (psycopg 3) is the fleet's store; SQLite serves a single site and the tests. Both run the same SQL
(written with ``?`` placeholders, turned into ``%s`` for psycopg), the same numbered migrations and the same
ingest rules (:mod:`kiosk.upstream.ingest`); a backend only says how to connect, how to start a writing
transaction and how to lock one kiosk's chain row. Connections come from a small pool; a connection that
failed (the database restarted, a backend was terminated) is dropped, the request answers 503 and the kiosk
retries: nothing half-written stays behind, because every request is one transaction.
"""

from __future__ import annotations

import contextlib
import json
import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.upstream.errors import DatabaseUnavailable, UpstreamConfigError
from kiosk.upstream.officers import chained_resolutions, covered
from matcher.utc import iso_utc, utc_now

ROLES = ("kiosk", "officer", "supervisor")

# Numbered migrations; ``{id}`` is the dialect's auto-increment primary key, ``{blob}`` its bytes type.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE clients (id TEXT PRIMARY KEY, role TEXT NOT NULL, key_id TEXT NOT NULL, "
        "public_key TEXT NOT NULL, added_utc TEXT NOT NULL)",
        # One chain per kiosk: the log it belongs to and the verified, gap-free head.
        "CREATE TABLE chains (kiosk_id TEXT PRIMARY KEY REFERENCES clients (id), log_id TEXT, "
        "head_seq BIGINT NOT NULL DEFAULT 0, head_hash TEXT, updated_utc TEXT)",
        # Every record received, exactly once: (kiosk_id, seq) and the record id are both unique.
        # chained = 0: held back behind a gap; 1: linked into the verified chain.
        "CREATE TABLE records (kiosk_id TEXT NOT NULL, seq BIGINT NOT NULL, id TEXT NOT NULL UNIQUE, "
        "kind TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, time_utc TEXT, outcome TEXT, "
        "decision_id TEXT, resolution TEXT, payload TEXT NOT NULL, chained INTEGER NOT NULL, "
        "received_utc TEXT NOT NULL, PRIMARY KEY (kiosk_id, seq))",
        "CREATE INDEX records_held ON records (kiosk_id, chained, seq)",
        "CREATE INDEX records_decision ON records (decision_id)",
        "CREATE INDEX records_outcome ON records (kind, outcome, time_utc)",
        "CREATE TABLE nonces (client_id TEXT NOT NULL, nonce TEXT NOT NULL, seen BIGINT NOT NULL, "
        "PRIMARY KEY (client_id, nonce))",
        "CREATE INDEX nonces_seen ON nonces (seen)",
        "CREATE TABLE problems (id {id}, kiosk_id TEXT NOT NULL, seq BIGINT, record_id TEXT, "
        "code TEXT NOT NULL, reason TEXT NOT NULL, found_utc TEXT NOT NULL)",
    ),
    (
        # Evidence of referred cases, sealed at the kiosk to the officer service's key (the service cannot
        # open it); only ever for a decision of the same kiosk stored here.
        "CREATE TABLE evidence (kiosk_id TEXT NOT NULL, decision_id TEXT NOT NULL, kind TEXT NOT NULL, "
        "sealed {blob} NOT NULL, received_utc TEXT NOT NULL, PRIMARY KEY (decision_id, kind))",
    ),
    (
        # The officer console upstream: the gates an officer client covers (JSON list of kiosk ids, "*" for
        # all), when each client was last seen (a kiosk's pull of resolutions is its heartbeat; an officer's
        # requests say who is on duty), the outbox backlog a kiosk reports.
        """ALTER TABLE clients ADD COLUMN gates TEXT NOT NULL DEFAULT '["*"]'""",
        "ALTER TABLE clients ADD COLUMN last_seen_utc TEXT",
        "ALTER TABLE chains ADD COLUMN kiosk_backlog BIGINT NOT NULL DEFAULT 0",
        # Resolutions made on the upstream console: pending until the kiosk's chain holds the same id
        # (chained), or overtaken when the kiosk's chain closed the case with another resolution first.
        "CREATE TABLE officer_resolutions (id TEXT PRIMARY KEY, kiosk_id TEXT NOT NULL, "
        "decision_id TEXT NOT NULL, officer TEXT NOT NULL, resolution TEXT NOT NULL, "
        "reason_code TEXT NOT NULL, note TEXT NOT NULL, time_utc TEXT NOT NULL, state TEXT NOT NULL, "
        "settled_utc TEXT)",
        "CREATE INDEX officer_resolutions_kiosk ON officer_resolutions (kiosk_id, state)",
        "CREATE INDEX officer_resolutions_decision ON officer_resolutions (decision_id)",
        # Who opened which case's sealed evidence (the console decrypts it; the access is recorded here).
        "CREATE TABLE evidence_access (id {id}, client_id TEXT NOT NULL, decision_id TEXT NOT NULL, "
        "time_utc TEXT NOT NULL)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class Client:
    id: str
    role: str
    key_id: str
    public_key: str  # PEM


class UpstreamDB:
    """The interface both backends implement (connection handling only differs); see the module docstring."""

    dialect = ""
    _id_column = ""
    _blob = ""
    _for_update = ""

    def __init__(self, target: str, pool_size: int = 8) -> None:
        self.target = target
        self._pool: queue.LifoQueue[Any] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(pool_size)
        self.migrate()

    # ---------------------------------------------------------------------------------- backend hooks

    def _connect(self) -> Any:
        raise NotImplementedError

    def _begin(self, conn: Any) -> None:
        raise NotImplementedError

    def _is_connection_error(self, exc: BaseException) -> bool:
        raise NotImplementedError

    def _lock_migrations(self, conn: Any) -> None:
        """Serialise concurrent migrators (two services starting at once)."""

    # ---------------------------------------------------------------------------------- plumbing

    def sql(self, statement: str) -> str:
        return statement

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One writing transaction on a pooled connection; committed on success, rolled back on error. A
        connection-level failure drops the connection and raises DatabaseUnavailable."""
        with self._slots:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                conn = None
            try:
                if conn is None:
                    conn = self._connect()
                self._begin(conn)
                try:
                    yield Tx(self, conn)
                    conn.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(Exception):
                        conn.execute("ROLLBACK")
                    raise
            except Exception as exc:
                if conn is not None and self._is_connection_error(exc):
                    with contextlib.suppress(Exception):
                        conn.close()
                    conn = None
                if self._is_connection_error(exc) and not isinstance(exc, DatabaseUnavailable):
                    raise DatabaseUnavailable(f"upstream database unavailable: {exc}") from exc
                raise
            finally:
                if conn is not None:
                    self._pool.put(conn)

    def close(self) -> None:
        while True:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                return
            with contextlib.suppress(Exception):
                conn.close()

    def migrate(self) -> int:
        """Apply the missing numbered migrations, each with its version row, in one transaction each."""
        while True:
            with self.transaction() as tx:
                self._lock_migrations(tx.conn)
                tx.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version "
                    "(version INTEGER PRIMARY KEY, applied_utc TEXT)"
                )
                version = tx.one("SELECT coalesce(max(version), 0) FROM schema_version")[0]
                if version > SCHEMA_VERSION:
                    raise UpstreamConfigError(
                        f"upstream database {self.describe()} has schema version {version}, newer than this "
                        f"program's {SCHEMA_VERSION}"
                    )
                if version == SCHEMA_VERSION:
                    return version
                for statement in MIGRATIONS[version]:
                    tx.execute(statement.replace("{id}", self._id_column).replace("{blob}", self._blob))
                tx.execute(
                    "INSERT INTO schema_version (version, applied_utc) VALUES (?, ?)",
                    (version + 1, iso_utc(utc_now())),
                )

    def describe(self) -> str:
        return f"{self.dialect} database"

    # ---------------------------------------------------------------------------------- clients

    def add_client(
        self, client_id: str, role: str, key_id: str, public_pem: str, gates: Sequence[str] = ("*",)
    ) -> None:
        """Enrol a client (a kiosk, or an officer / supervisor reader) by its Ed25519 public key; an officer
        reads the cases of ``gates`` (kiosk ids; "*" for all) and no others."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if not client_id.strip() or len(client_id) > 100:
            raise ValueError("client id must be 1 to 100 characters")
        scope = sorted({gate.strip() for gate in gates})
        if not scope or not all(scope):
            raise ValueError("a reader needs the gates it covers (kiosk ids, or * for all)")
        with self.transaction() as tx:
            if tx.one("SELECT 1 FROM clients WHERE id = ?", (client_id,)):
                raise ValueError(f"client {client_id!r} is already enrolled")
            tx.execute(
                "INSERT INTO clients (id, role, key_id, public_key, added_utc, gates) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (client_id, role, key_id, public_pem, iso_utc(utc_now()), json.dumps(scope)),
            )
            if role == "kiosk":
                tx.execute("INSERT INTO chains (kiosk_id, head_seq) VALUES (?, 0)", (client_id,))

    def client(self, client_id: str) -> Client | None:
        with self.transaction() as tx:
            row = tx.one("SELECT id, role, key_id, public_key FROM clients WHERE id = ?", (client_id,))
        return Client(*row) if row else None

    def clients(self) -> list[Client]:
        with self.transaction() as tx:
            return [
                Client(*r) for r in tx.all("SELECT id, role, key_id, public_key FROM clients ORDER BY id")
            ]

    def use_nonce(self, client_id: str, nonce: str, seen: int, window_s: int) -> bool:
        """Record a request's nonce; False when it was seen before (a replay). Nonces older than the
        timestamp window are forgotten: such a request is refused by its timestamp anyway."""
        with self.transaction() as tx:
            fresh = tx.execute(
                "INSERT INTO nonces (client_id, nonce, seen) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (client_id, nonce, seen),
            )
            tx.execute("UPDATE clients SET last_seen_utc = ? WHERE id = ?", (iso_utc(utc_now()), client_id))
            if seen % 16 == 0:
                tx.execute("DELETE FROM nonces WHERE seen < ?", (seen - 2 * window_s,))
        return fresh == 1

    # ---------------------------------------------------------------------------------- reads

    def head(self, kiosk_id: str) -> tuple[int, str | None]:
        with self.transaction() as tx:
            row = tx.one("SELECT head_seq, head_hash FROM chains WHERE kiosk_id = ?", (kiosk_id,))
        return (row[0], row[1]) if row else (0, None)

    def chain_states(self) -> list[dict[str, Any]]:
        """Per kiosk: log id, verified head, records held back behind a gap, problems flagged."""
        with self.transaction() as tx:
            rows = tx.all(
                "SELECT c.kiosk_id, c.log_id, c.head_seq, c.head_hash, "
                "(SELECT count(*) FROM records r WHERE r.kiosk_id = c.kiosk_id AND r.chained = 0), "
                "(SELECT count(*) FROM problems p WHERE p.kiosk_id = c.kiosk_id) "
                "FROM chains c ORDER BY c.kiosk_id"
            )
        names = ("kiosk_id", "log_id", "head_seq", "head_hash", "held", "problems")
        return [dict(zip(names, row, strict=True)) for row in rows]

    def problems(self, kiosk_id: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT kiosk_id, seq, record_id, code, reason, found_utc FROM problems"
        params: tuple[Any, ...] = ()
        if kiosk_id is not None:
            query, params = query + " WHERE kiosk_id = ?", (kiosk_id,)
        with self.transaction() as tx:
            rows = tx.all(query + " ORDER BY id", params)
        names = ("kiosk_id", "seq", "record_id", "code", "reason", "found_utc")
        return [dict(zip(names, row, strict=True)) for row in rows]

    def record_ids(self, kiosk_id: str) -> list[tuple[int, str, int]]:
        """(seq, record id, chained) of every record of a kiosk, in seq order."""
        with self.transaction() as tx:
            return [
                (r[0], r[1], r[2])
                for r in tx.all(
                    "SELECT seq, id, chained FROM records WHERE kiosk_id = ? ORDER BY seq", (kiosk_id,)
                )
            ]

    def evidence(self, reader: str, decision_id: str) -> list[tuple[str, bytes]]:
        """(kind, sealed item) of a referred decision's evidence, as the kiosk sealed it, for a reader
        covering its gate (PermissionError otherwise); the access is recorded."""
        with self.transaction() as tx:
            if covered(tx, reader, decision_id) is None:
                return []
            rows = tx.all(
                "SELECT kind, sealed FROM evidence WHERE decision_id = ? ORDER BY kind", (decision_id,)
            )
            tx.execute(
                "INSERT INTO evidence_access (client_id, decision_id, time_utc) VALUES (?, ?, ?)",
                (reader, decision_id, iso_utc(utc_now())),
            )
        return [(kind, bytes(sealed)) for kind, sealed in rows]

    def evidence_accesses(self, decision_id: str) -> list[tuple[str, str]]:
        """(client id, time) of every opening of a case's evidence, oldest first."""
        with self.transaction() as tx:
            return [
                (row[0], row[1])
                for row in tx.all(
                    "SELECT client_id, time_utc FROM evidence_access WHERE decision_id = ? ORDER BY id",
                    (decision_id,),
                )
            ]

    def resolutions(self, reader: str, decision_id: str) -> list[dict[str, Any]]:
        """A case's resolutions as chained by its kiosk, for a reader covering its gate."""
        with self.transaction() as tx:
            covered(tx, reader, decision_id)
            return chained_resolutions(tx, decision_id)

    def statistics(self) -> dict[str, Any]:
        """Counts by kiosk and outcome, resolutions by kind, and the records held or flagged."""
        with self.transaction() as tx:
            outcomes = tx.all(
                "SELECT kiosk_id, outcome, count(*) FROM records WHERE kind = 'decision' "
                "GROUP BY kiosk_id, outcome ORDER BY kiosk_id, outcome"
            )
            resolutions = tx.all(
                "SELECT resolution, count(*) FROM records WHERE kind = 'resolution' "
                "GROUP BY resolution ORDER BY resolution"
            )
            held = tx.one("SELECT count(*) FROM records WHERE chained = 0")[0]
            problems = tx.one("SELECT count(*) FROM problems")[0]
        by_kiosk: dict[str, dict[str, int]] = {}
        for kiosk_id, outcome, count in outcomes:
            by_kiosk.setdefault(kiosk_id, {})[outcome] = count
        return {
            "decisions": by_kiosk,
            "resolutions": {name: count for name, count in resolutions},
            "held": held,
            "problems": problems,
        }


class Tx:
    """A transaction's connection with the dialect's placeholders; ``execute`` returns the row count."""

    def __init__(self, db: UpstreamDB, conn: Any) -> None:
        self.db, self.conn = db, conn

    def execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        return self.conn.execute(self.db.sql(statement), tuple(params)).rowcount

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            cursor = self.conn.cursor()
            cursor.executemany(self.db.sql(statement), [tuple(r) for r in rows])
            cursor.close()

    def one(self, statement: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return self.conn.execute(self.db.sql(statement), tuple(params)).fetchone()

    def all(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(self.db.sql(statement), tuple(params)).fetchall())

    def for_update(self) -> str:
        return self.db._for_update


class SqliteUpstream(UpstreamDB):
    """A single site's (and the tests') store: one SQLite file in WAL mode; writers serialise on
    ``BEGIN IMMEDIATE``, so the chain row needs no further lock."""

    dialect = "sqlite"
    _id_column = "INTEGER PRIMARY KEY"
    _blob = "BLOB"

    def __init__(self, path: str | Path, pool_size: int = 4) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise UpstreamConfigError(
                f"upstream database {self.path}: folder {self.path.parent} does not exist"
            )
        super().__init__(str(path), pool_size)

    def describe(self) -> str:
        return str(self.path)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _begin(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def _is_connection_error(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


class PostgresUpstream(UpstreamDB):
    """The fleet's store on PostgreSQL; concurrent batches of one kiosk serialise on its chain row
    (``SELECT ... FOR UPDATE``), batches of different kiosks run in parallel."""

    dialect = "postgresql"
    _id_column = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    _blob = "BYTEA"
    _for_update = " FOR UPDATE"

    def __init__(self, dsn: str, pool_size: int = 8) -> None:
        import psycopg

        self._psycopg = psycopg
        super().__init__(dsn, pool_size)

    def describe(self) -> str:
        return "PostgreSQL " + self._psycopg.conninfo.conninfo_to_dict(self.target).get("dbname", "")

    def sql(self, statement: str) -> str:
        return statement.replace("%", "%%").replace("?", "%s")

    def _connect(self) -> Any:
        try:
            return self._psycopg.connect(self.target, autocommit=True, connect_timeout=5)
        except self._psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"cannot connect to the upstream database: {exc}".strip()) from exc

    def _begin(self, conn: Any) -> None:
        conn.execute("BEGIN")

    def _is_connection_error(self, exc: BaseException) -> bool:
        if isinstance(exc, DatabaseUnavailable):
            return True
        return isinstance(exc, self._psycopg.OperationalError | self._psycopg.InterfaceError)

    def _lock_migrations(self, conn: Any) -> None:
        conn.execute(f"SELECT pg_advisory_xact_lock({0x4547554C})")  # "EGUL"


def open_database(target: str, pool_size: int = 8) -> UpstreamDB:
    """``postgresql://...`` (or ``postgres://``, or a libpq ``key=value`` string) opens PostgreSQL;
    ``sqlite:///path`` or a path opens SQLite. Migrates to the current schema."""
    if target.startswith(("postgresql://", "postgres://")) or "dbname=" in target:
        return PostgresUpstream(target, pool_size)
    path = target.removeprefix("sqlite://")
    if not path:
        raise UpstreamConfigError("upstream database: empty target")
    return SqliteUpstream(path, min(pool_size, 4))
