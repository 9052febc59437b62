"""The decision log's SQLite file: file checks, its schema and migrations, error translation and the
kiosk-instance lock. Connections, durability pragmas, write transactions and the migration loop are the
plumbing it shares with the watchlist store (:mod:`matcher.sqlite`).

Durability: WAL with ``synchronous=FULL`` fsyncs the WAL on every commit, so a decision the gate acted on
survives a power cut, not only a process crash (``NORMAL`` syncs only at checkpoints: still never corrupt,
but the last commits may roll back after a power loss). ``kiosk bench-log`` measures the cost of FULL.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlite_utils

from kiosk.store.errors import (
    StoreBusyError,
    StoreCorruptError,
    StoreError,
    StoreFullError,
    StoreIOError,
    StoreLockedError,
    StoreReadOnlyError,
    StoreSchemaError,
)
from matcher import sqlite
from matcher.sqlite import Synchronous
from matcher.utc import iso_utc, utc_now

APPLICATION_ID = 0x45474C47  # "EGLG": marks the file as an e-gate decision log
BUSY_TIMEOUT_MS = 5000
_SQLITE_MAGIC = b"SQLite format 3\x00"


@contextlib.contextmanager
def sqlite_errors(path: Path, action: str) -> Iterator[None]:
    """Turn sqlite3 errors into StoreErrors that say what failed and that it did not happen."""
    try:
        yield
    except sqlite3.Error as exc:
        name = getattr(exc, "sqlite_errorname", "") or ""
        where = f"decision log {path}: {action} failed"
        if name.startswith("SQLITE_FULL"):
            raise StoreFullError(f"{where}: disk or database full ({exc})") from exc
        if name.startswith("SQLITE_READONLY"):
            raise StoreReadOnlyError(f"{where}: the database is read-only ({exc})") from exc
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            raise StoreCorruptError(f"{where}: the database file is corrupt ({exc})") from exc
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            raise StoreBusyError(f"{where}: the database stayed locked by another writer ({exc})") from exc
        if name.startswith("SQLITE_IOERR"):
            raise StoreIOError(f"{where}: I/O error ({exc})") from exc
        if name.startswith("SQLITE_CANTOPEN"):
            raise StoreError(f"{where}: cannot open the database file ({exc})") from exc
        raise StoreError(f"{where}: {exc}") from exc


def _check_header(path: Path) -> None:
    """Refuse a file that is not SQLite before SQLite touches it (it would never be silently re-created)."""
    try:
        with path.open("rb") as handle:
            header = handle.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"decision log {path}: cannot read the file ({exc})") from exc
    if header and header != _SQLITE_MAGIC:
        raise StoreCorruptError(f"decision log {path} is not a SQLite database (bad header); left untouched")


def connect(path: Path, *, readonly: bool = False, synchronous: Synchronous = "FULL") -> sqlite3.Connection:
    """Open (or, for writing, create) the log database and bring its schema up to date.

    Transactions are explicit (``isolation_level=None``; writers use ``BEGIN IMMEDIATE``).
    """
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
    exists = path.exists()
    if exists:
        _check_header(path)
        if path.is_file() and path.stat().st_size == 0:
            # never turned into a new empty log: that would pass a lost log off as a valid one
            raise StoreCorruptError(
                f"decision log {path} is an empty file (0 bytes): its content is lost or it was never a "
                "log; left untouched"
            )
    elif readonly:
        raise StoreError(f"decision log {path} does not exist")
    elif not path.parent.is_dir():
        raise StoreError(f"decision log {path}: folder {path.parent} does not exist")
    writable_place = os.access(path.parent, os.W_OK) and (not exists or os.access(path, os.W_OK))
    if not readonly and not writable_place:
        raise StoreReadOnlyError(
            f"decision log {path} is not writable (read-only file system or permissions); "
            "nothing can be logged: open it read-only to read it"
        )
    mode = "ro" if readonly else ("rw" if exists else "rwc")
    if readonly and not writable_place:
        # On read-only media SQLite cannot create the WAL index (-shm). Without a -wal file the database
        # file holds every commit, and nothing can write to it: open it as immutable. A -wal file left there
        # holds commits an immutable open would not see, so refuse rather than show a partial log.
        if path.with_name(path.name + "-wal").exists():
            raise StoreReadOnlyError(
                f"decision log {path} is on read-only media with an un-checkpointed -wal file; "
                "copy the folder to writable storage to read it completely"
            )
        mode = "ro&immutable=1"
    with sqlite_errors(path, "opening"):
        conn = sqlite.open_connection(path, mode=mode, busy_timeout_ms=BUSY_TIMEOUT_MS)
    try:
        with sqlite_errors(path, "opening"):
            _check_identity(conn, path)  # before anything writes to the file
            sqlite.set_durability(conn, synchronous=synchronous, wal=not readonly)
            conn.execute("PRAGMA secure_delete = ON")  # purged evidence is overwritten, not just unlinked
            if readonly:
                _check_version(conn, path, sqlite.current_version(conn), exact=True)
            else:
                migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _check_identity(conn: sqlite3.Connection, path: Path) -> None:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if app_id == APPLICATION_ID:
        return
    has_tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
    if app_id != 0 or has_tables:
        raise StoreSchemaError(f"{path} is a SQLite database but not an e-gate decision log; left untouched")


# ----------------------------------------------------------------------------------------------- migrations

APPEND_ONLY_TABLES = ("decisions", "resolutions")


def _v1(db: sqlite_utils.Database) -> None:
    """Initial schema: meta, decisions, resolutions (one audit chain), outbox, encrypted evidence."""
    db["meta"].create({"key": str, "value": str}, pk="key", strict=True)
    # The log's random id seeds the chain's genesis value: rows of another log never verify here.
    db["meta"].insert_all(
        [{"key": "log_id", "value": str(uuid.uuid4())}, {"key": "created_utc", "value": iso_utc(utc_now())}]
    )
    db["decisions"].create(
        {
            "id": str,
            "seq": int,
            "kiosk_id": str,
            "time_utc": str,
            "logged_utc": str,
            "outcome": str,
            "reason_codes": str,  # JSON list
            "document_type": str,
            "issuing_state": str,
            "document_number_hash": str,  # keyed hash, never the number
            "document_checks": str,  # JSON object name -> bool
            "quality": str,  # JSON
            "liveness": str,  # JSON
            "face_score": float,
            "face_threshold": float,
            "watchlist_hits": str,  # JSON list
            "models": str,  # JSON object role -> model id
            "extra": str,  # JSON object: Decision fields this schema has no column for yet
            "evidence": str,  # JSON list of {kind, retain_until, sha256 of the ciphertext}
            "prev_hash": str,
            "hash": str,
        },
        pk="id",
        not_null=["seq", "kiosk_id", "time_utc", "logged_utc", "outcome", "prev_hash", "hash"],
        strict=True,
    )
    db["resolutions"].create(
        {
            "id": str,
            "seq": int,
            "decision_id": str,
            "time_utc": str,
            "officer": str,
            "resolution": str,
            "note": str,
            "prev_hash": str,
            "hash": str,
        },
        pk="id",
        not_null=["seq", "decision_id", "time_utc", "officer", "resolution", "prev_hash", "hash"],
        foreign_keys=[("decision_id", "decisions", "id")],
        strict=True,
    )
    db["outbox"].create(
        {
            "id": int,
            "record_id": str,  # idempotency key: the decision or resolution id
            "kind": str,
            "payload": str,  # canonical JSON of the chained record, with its hash
            "created_utc": str,
            "sent_utc": str,
        },
        pk="id",
        not_null=["record_id", "kind", "payload", "created_utc"],
        strict=True,
    )
    db["evidence"].create(
        {
            "id": int,
            "decision_id": str,
            "kind": str,
            "key_id": str,
            "ciphertext": bytes,  # AES-256-GCM nonce || ciphertext || tag
            "created_utc": str,
            "retain_until": str,
        },
        pk="id",
        not_null=["decision_id", "kind", "key_id", "ciphertext", "created_utc", "retain_until"],
        foreign_keys=[("decision_id", "decisions", "id")],
        strict=True,
    )
    db["decisions"].create_index(["seq"], unique=True)
    db["decisions"].create_index(["outcome", "seq"])
    db["resolutions"].create_index(["seq"], unique=True)
    db["resolutions"].create_index(["decision_id"])
    db["outbox"].create_index(["record_id"], unique=True)
    db["outbox"].create_index(["sent_utc", "id"])
    db["evidence"].create_index(["decision_id", "kind"], unique=True)
    db["evidence"].create_index(["retain_until"])
    for table in APPEND_ONLY_TABLES:
        for event in ("UPDATE", "DELETE"):
            db.execute(
                f"CREATE TRIGGER {table}_append_only_{event.lower()} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END"
            )
    # Evidence may be deleted (purge) but never altered.
    db.execute(
        "CREATE TRIGGER evidence_no_update BEFORE UPDATE ON evidence "
        "BEGIN SELECT RAISE(ABORT, 'evidence is never modified, only purged'); END"
    )


def _v2(db: sqlite_utils.Database) -> None:
    """Officer resolutions get a reason code; officer accounts, their sessions and the account chain
    (kiosk/store/accounts.py) live in the log's database."""
    db.execute("ALTER TABLE resolutions ADD COLUMN reason_code TEXT")
    db.execute(
        "CREATE TABLE accounts (account_id TEXT PRIMARY KEY, role TEXT NOT NULL, gates TEXT NOT NULL, "
        "password_hash TEXT NOT NULL, created_utc TEXT NOT NULL, failed_attempts INTEGER NOT NULL, "
        "locked_until TEXT, disabled INTEGER NOT NULL) STRICT"
    )
    # Only the SHA-256 of a session token is kept: a copy of the database does not sign anyone in.
    db.execute(
        "CREATE TABLE sessions (token_hash TEXT PRIMARY KEY, account_id TEXT NOT NULL "
        "REFERENCES accounts(account_id), created_utc TEXT NOT NULL, last_used_utc TEXT NOT NULL, "
        "ended_utc TEXT) STRICT"
    )
    db.execute(
        "CREATE TABLE account_events (id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, "
        "time_utc TEXT NOT NULL, actor TEXT NOT NULL, account_id TEXT NOT NULL, action TEXT NOT NULL, "
        "detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL) STRICT"
    )
    for event in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER account_events_append_only_{event.lower()} BEFORE {event} ON account_events "
            "BEGIN SELECT RAISE(ABORT, 'account_events are append-only'); END"
        )


def _v3(db: sqlite_utils.Database) -> None:
    """Audit exports (kiosk/export) join the decisions' chain as ``export`` rows: who exported which period,
    and the sha256 of the signed manifest. Rows logged before keep their hashes (a new table only)."""
    db.execute(
        "CREATE TABLE exports (id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, time_utc TEXT NOT NULL, "
        "actor TEXT NOT NULL, role TEXT NOT NULL, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, "
        "hash TEXT NOT NULL) STRICT"
    )
    for event in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER exports_append_only_{event.lower()} BEFORE {event} ON exports "
            "BEGIN SELECT RAISE(ABORT, 'exports are append-only'); END"
        )


MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (_v1, _v2, _v3)
SCHEMA_VERSION = len(MIGRATIONS)


def _check_version(conn: sqlite3.Connection, path: Path, version: int, *, exact: bool) -> None:
    if version > SCHEMA_VERSION:
        raise StoreSchemaError(
            f"decision log {path} has schema version {version}, newer than this program's {SCHEMA_VERSION}"
        )
    if exact and version == 0:
        raise StoreSchemaError(f"decision log {path} holds no decision-log schema; left untouched")
    if exact and version < SCHEMA_VERSION:
        raise StoreSchemaError(
            f"decision log {path} has schema version {version}; open it once for writing to migrate"
        )


def migrate(conn: sqlite3.Connection, path: Path) -> int:
    """Apply the missing migrations, each in its own transaction with its version row; returns the version."""
    db = sqlite_utils.Database(conn)
    return sqlite.migrate(
        conn,
        [lambda _conn, step=step: step(db) for step in MIGRATIONS],
        check=lambda version: _check_version(conn, path, version, exact=False),
        transaction=lambda c: write_transaction(c, path, "migrating the schema"),
        application_id=APPLICATION_ID,
    )


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection, path: Path, action: str) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: the write lock is taken up front, so reading the chain head and
    appending after it cannot interleave with another writer. Rolled back on any error."""
    with sqlite_errors(path, action), sqlite.write_transaction(conn):
        yield conn


class InstanceLock:
    """An exclusive ``flock`` on ``<log>.lock``: one kiosk process per log. Released by the kernel when the
    process dies (even SIGKILL), so a crash never leaves a stale lock. Readers do not take it."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".lock")
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreReadOnlyError(
                f"decision log {db_path} is not writable: cannot create its lock file {self.path} "
                f"({exc.strerror})"
            ) from exc
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self._fd, 64).decode("ascii", "replace").strip() or "unknown"
            os.close(self._fd)
            raise StoreLockedError(
                f"decision log {db_path} is already open by another kiosk process (pid {holder}); "
                "each kiosk needs its own log"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing drops the flock
            self._fd = -1


def instance_lock_held(db_path: Path) -> bool:
    """Whether a kiosk process holds the instance lock of the log at ``db_path`` (Linux: read from
    /proc/locks, so looking never takes the lock a starting kiosk needs). False when there is no lock file."""
    try:
        info = db_path.with_name(db_path.name + ".lock").stat()
        lines = Path("/proc/locks").read_text().splitlines()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise StoreError(f"decision log {db_path}: cannot tell whether its kiosk runs ({exc})") from exc
    for line in lines:
        fields = line.split()
        if "FLOCK" not in fields or "->" in fields:  # "->" marks a waiter, not a holder
            continue
        major, minor, inode = fields[5].split(":")
        if (int(major, 16), int(minor, 16), int(inode)) == (
            os.major(info.st_dev),
            os.minor(info.st_dev),
            info.st_ino,
        ):
            return True
    return False
