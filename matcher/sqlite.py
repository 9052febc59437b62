"""SQLite plumbing shared by the decision log (``kiosk.store.db``) and the watchlist store
(``matcher.watchlist.disk``): connections with explicit transactions, durability pragmas, write transactions
taken up front, and versioned migrations recorded in a ``schema_version`` table.

Each user keeps what is its own: the file checks, the error translation, the schema itself."""

from __future__ import annotations

import contextlib
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal

from matcher.utc import iso_utc, utc_now

Synchronous = Literal["FULL", "NORMAL"]
Migration = Callable[[sqlite3.Connection], None]


def open_connection(path: Path, *, mode: str = "rwc", busy_timeout_ms: int = 5000) -> sqlite3.Connection:
    """Open ``path`` (URI ``mode``: ``rwc``, ``rw``, ``ro``, ``ro&immutable=1``) with explicit transactions
    (``isolation_level=None``: writers say ``BEGIN IMMEDIATE``) and a busy timeout."""
    conn = sqlite3.connect(
        f"file:{urllib.parse.quote(str(path))}?mode={mode}",
        uri=True,
        isolation_level=None,
        check_same_thread=False,
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    return conn


def set_durability(conn: sqlite3.Connection, *, synchronous: Synchronous = "FULL", wal: bool = True) -> None:
    """WAL (when ``wal``) with ``synchronous`` (FULL: every commit fsynced) and foreign keys on. Raises
    sqlite3.OperationalError when the database cannot switch to WAL."""
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
    if wal:
        journal = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if journal.lower() != "wal":
            raise sqlite3.OperationalError(f"cannot switch to WAL mode (got {journal})")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: the write lock is taken up front, so what the transaction reads
    cannot change under it before it writes. Rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in ``schema_version`` (0: none recorded)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'"
    ).fetchone()
    if not exists:
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]


def migrate(
    conn: sqlite3.Connection,
    migrations: Sequence[Migration],
    *,
    check: Callable[[int], None],
    transaction: Callable[[sqlite3.Connection], contextlib.AbstractContextManager] = write_transaction,
    application_id: int | None = None,
) -> int:
    """Apply the missing ``migrations`` (``migrations[v]`` takes version v to v + 1), each in its own write
    transaction with its version row; returns the version. ``check(version)`` runs first in each
    transaction and raises on a version this program cannot open (newer than ``len(migrations)``). A new
    database gets ``application_id`` (the file's type mark) with its first migration."""
    while True:
        with transaction(conn):
            version = current_version(conn)
            check(version)
            if version == len(migrations):
                return version
            if version == 0:
                if application_id is not None:
                    conn.execute(f"PRAGMA application_id = {int(application_id)}")
                conn.execute(
                    "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_utc TEXT) STRICT"
                )
            migrations[version](conn)
            conn.execute(
                "INSERT INTO schema_version (version, applied_utc) VALUES (?, ?)",
                (version + 1, iso_utc(utc_now())),
            )
