"""The watchlist store on disk: SQLite for lists, entries and templates; a FAISS index file per list version.

Layout of a store folder::

    watchlists.db                 lists, entries (metadata + template), WAL mode
    indexes/<list>.v<N>.faiss     index of version N of a list (sealed when the store has a key)

SQLite is the source of truth; index files are derived from it and can always be rebuilt (``rebuild``).
Each list row records the sha256 of its index file, checked on every load, and a content hash over the
entries (metadata and templates), independent of the index type. The schema is versioned (``schema_version``
table, :mod:`matcher.sqlite` migrations): a store made before the version existed is brought to version 1 on
its first open, without changing a row.

This module holds the folder, its connections, the list rows and the index files; ``store`` (lists and
entries, the change protocol) and ``searcher`` (snapshots and search) stand on it.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from matcher import sqlite
from matcher.errors import TemplateMismatchError
from matcher.utc import iso_utc, utc_now
from matcher.watchlist import index as wl_index
from matcher.watchlist.errors import IndexCorruptError, WatchlistError, WatchlistMissingError
from matcher.watchlist.policy import ThresholdPolicy
from matcher.watchlist.sealing import Sealer
from matcher.watchlist.search import to_epoch

DB_NAME = "watchlists.db"

_V1_SCHEMA = """
CREATE TABLE IF NOT EXISTS lists (
    list_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    model_id TEXT NOT NULL,
    dim INTEGER NOT NULL,
    policy TEXT NOT NULL,
    severity TEXT NOT NULL,
    valid_until TEXT,
    version INTEGER NOT NULL DEFAULT 0,
    content_hash TEXT NOT NULL,
    index_kind TEXT NOT NULL,
    index_sha256 TEXT NOT NULL,
    entry_count INTEGER NOT NULL DEFAULT 0,
    bundle_issued_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id TEXT NOT NULL REFERENCES lists(list_id),
    external_ref TEXT NOT NULL,
    category TEXT NOT NULL DEFAULT '',
    severity TEXT NOT NULL,
    valid_until TEXT,
    added_at TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    model_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    template BLOB NOT NULL,
    UNIQUE (list_id, external_ref)
);
"""


def _v1(db: sqlite3.Connection) -> None:
    """Lists and entries (``IF NOT EXISTS``: a store made before the schema had a version keeps its rows)."""
    for statement in _V1_SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


MIGRATIONS: tuple[sqlite.Migration, ...] = (_v1,)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class ListInfo:
    list_id: str
    owner: str
    description: str
    model_id: str
    dim: int
    policy: ThresholdPolicy
    severity: str
    valid_until: str | None
    version: int
    content_hash: str
    index_kind: str
    entry_count: int
    created_at: str
    updated_at: str

    def as_dict(self) -> dict[str, object]:
        data = dict(self.__dict__)
        data["policy"] = json.loads(self.policy.to_json())
        return data


def now_iso() -> str:
    """List rows and entries keep the seconds precision they were written with (see :mod:`matcher.utc`)."""
    return iso_utc(utc_now(), "seconds")


class StoreFolder:
    """A watchlist store folder: the SQLite file (schema brought up to date on open), per-thread read
    connections, list rows, sealed templates and the index file of each list version.

    ``key`` (32 bytes) seals templates and index files with AES-GCM. ``create`` makes the store when it does
    not exist; without it a missing store is an error.
    """

    def __init__(self, path: str | Path, *, key: bytes | None = None, create: bool = False) -> None:
        self.path = Path(path)
        if create:
            self.path.mkdir(parents=True, exist_ok=True)
            (self.path / "indexes").mkdir(exist_ok=True)
        elif not (self.path / DB_NAME).is_file():
            # a mistyped path must not become an empty store that screens against nothing
            hint = f"`matcher watchlist --store {self.path} create` makes one"
            raise WatchlistMissingError(f"no watchlist store at {self.path} ({hint})")
        self._sealer = Sealer(key) if key is not None else None
        self._local = threading.local()
        db = self._connect()
        try:
            if sqlite.current_version(db) != SCHEMA_VERSION:  # a current store is opened without a write lock
                sqlite.migrate(db, MIGRATIONS, check=self._check_version)
        finally:
            db.close()

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise WatchlistError(
                f"watchlist store {self.path} has schema version {version}, newer than this program's "
                f"{SCHEMA_VERSION}"
            )

    # ---- connections -------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        db = sqlite.open_connection(self.path / DB_NAME, busy_timeout_ms=30_000)
        db.row_factory = sqlite3.Row
        sqlite.set_durability(db, synchronous="FULL")
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken up front (``BEGIN IMMEDIATE``): committed on success, rolled back on
        any error, the connection closed either way."""
        db = self._connect()
        try:
            with sqlite.write_transaction(db):
                yield db
        finally:
            db.close()

    def _reader(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
        return db

    def _remove_old_files(self, list_id: str, version: int) -> None:
        """Keep the current and the previous version (a reader may be opening it); drop the rest."""
        for f in (self.path / "indexes").glob(f"{list_id}.v*.faiss*"):
            m = re.fullmatch(re.escape(list_id) + r"\.v(\d+)\.faiss(\.tmp)?", f.name)
            if m and (int(m.group(1)) < version - 1 or int(m.group(1)) > version):
                f.unlink(missing_ok=True)

    # ---- index files -------------------------------------------------------------------------------
    def _index_path(self, list_id: str, version: int) -> Path:
        return self.path / "indexes" / f"{list_id}.v{version}.faiss"

    def _write_index(self, list_id: str, version: int, index) -> str:
        seal = None
        if self._sealer is not None:
            sealer = self._sealer

            def seal(data: bytes) -> bytes:
                return sealer.seal(data, f"index:{list_id}:{version}".encode())

        return wl_index.write_atomic(index, self._index_path(list_id, version), seal)

    def _read_index(self, row: sqlite3.Row):
        path = self._index_path(row["list_id"], row["version"])
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise IndexCorruptError(
                f"index file of list {row['list_id']!r} v{row['version']} is missing; "
                f"run 'matcher watchlist rebuild {row['list_id']}'"
            ) from exc
        if hashlib.sha256(data).hexdigest() != row["index_sha256"]:
            raise IndexCorruptError(
                f"index file of list {row['list_id']!r} v{row['version']} fails its sha256 check (corrupt or "
                f"altered); run 'matcher watchlist rebuild {row['list_id']}' to recreate it from the entries"
            )
        if self._sealer is not None:
            data = self._sealer.open(data, f"index:{row['list_id']}:{row['version']}".encode())
        try:
            index = wl_index.WatchIndex.deserialize(data)
        except (RuntimeError, TemplateMismatchError, struct.error) as exc:
            raise IndexCorruptError(f"index file of list {row['list_id']!r} cannot be read: {exc}") from exc
        if index.d != row["dim"]:
            raise IndexCorruptError(
                f"index of list {row['list_id']!r} has dimension {index.d}, not {row['dim']}"
            )
        return index

    def _seal_template(self, list_id: str, ref: str, blob: bytes) -> bytes:
        if self._sealer is None:
            return blob
        return self._sealer.seal(blob, f"template:{list_id}:{ref}".encode())

    def _open_template(self, list_id: str, ref: str, blob: bytes) -> bytes:
        if self._sealer is None:
            return blob
        return self._sealer.open(blob, f"template:{list_id}:{ref}".encode())

    @staticmethod
    def _list_row(db: sqlite3.Connection, list_id: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM lists WHERE list_id=?", (list_id,)).fetchone()
        if row is None:
            raise WatchlistError(f"no watchlist named {list_id!r}")
        return row


def category_counts(db: sqlite3.Connection, list_id: str) -> dict[str, int]:
    rows = db.execute("SELECT category, count(*) FROM entries WHERE list_id=? GROUP BY category", (list_id,))
    return {category: n for category, n in rows}


def live_ids(db: sqlite3.Connection, list_id: str) -> tuple[np.ndarray, np.ndarray]:
    rows = db.execute(
        "SELECT entry_id, valid_until FROM entries WHERE list_id=? ORDER BY entry_id", (list_id,)
    )
    ids, expiries = [], []
    for entry_id, valid_until in rows:
        ids.append(entry_id)
        expiries.append(to_epoch(valid_until))
    return np.array(ids, dtype=np.int64), np.array(expiries, dtype=np.float64)


def list_info(row: sqlite3.Row) -> ListInfo:
    return ListInfo(
        list_id=row["list_id"],
        owner=row["owner"],
        description=row["description"],
        model_id=row["model_id"],
        dim=row["dim"],
        policy=ThresholdPolicy.from_json(row["policy"]),
        severity=row["severity"],
        valid_until=row["valid_until"],
        version=row["version"],
        content_hash=row["content_hash"],
        index_kind=row["index_kind"],
        entry_count=row["entry_count"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
