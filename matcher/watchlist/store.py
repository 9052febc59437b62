"""The watchlist store on disk: SQLite for lists, entries and templates; a FAISS index file per list version.

Layout of a store folder::

    watchlists.db                 lists, entries (metadata + template), WAL mode
    indexes/<list>.v<N>.faiss     index of version N of a list (sealed when the store has a key)

SQLite is the source of truth; index files are derived from it and can always be rebuilt (``rebuild``).
A change to a list runs in one write transaction: the new index is written *beside* the current one under the
next version number, fsynced and renamed, and the version bump commits only after that. A crash before the
commit leaves an orphan file (removed on the next change); a crash after leaves the previous file (also
removed later). Each list row records the sha256 of its index file, checked on every load, and a content
hash over the entries (metadata and templates), independent of the index type.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sqlite3
import struct
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from matcher.errors import MatcherError, ModelError, TemplateMismatchError
from matcher.types import Template
from matcher.watchlist import index as wl_index
from matcher.watchlist.policy import ThresholdPolicy, manifest_threshold_table
from matcher.watchlist.sealing import Sealer
from matcher.watchlist.search import Alert, ListSnapshot, normalise_time, to_epoch


class WatchlistError(MatcherError):
    """A watchlist operation was refused (unknown list, duplicate or unknown ids, bad input)."""

    code = "WATCHLIST_INVALID"


class WatchlistMissingError(WatchlistError):
    """The store folder holds no watchlist store (only ``create=True`` makes one)."""

    code = "WATCHLIST_MISSING"


class IndexCorruptError(WatchlistError):
    """An index file is missing, altered or disagrees with the entries; ``rebuild`` recreates it."""

    code = "WATCHLIST_INDEX_CORRUPT"


SEVERITIES = ("low", "medium", "high", "critical")
_LIST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

_SCHEMA = """
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


@dataclass(frozen=True)
class ListSpec:
    """What defines a list apart from its entries (as carried by a bundle)."""

    list_id: str
    model_id: str
    dim: int
    policy: ThresholdPolicy
    owner: str = ""
    description: str = ""
    severity: str = "high"
    valid_until: str | None = None


@dataclass(frozen=True)
class NewEntry:
    """An entry to enrol: its template and metadata (severity None means the list's default)."""

    external_ref: str
    template: Template
    category: str = ""
    severity: str | None = None
    valid_until: str | datetime | None = None
    source: str = ""


@dataclass(frozen=True)
class Entry:
    entry_id: int
    list_id: str
    external_ref: str
    category: str
    severity: str
    valid_until: str | None
    added_at: str
    source: str
    model_id: str

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _entry_digest(list_id: str, e: NewEntry, severity: str, valid_until: str | None) -> str:
    meta = json.dumps(
        [e.external_ref, e.category, severity, valid_until, e.source, e.template.model_id], ensure_ascii=False
    )
    return hashlib.sha256(meta.encode() + b"\0" + e.template.to_bytes()).hexdigest()


class WatchlistStore:
    """Watchlists in a folder. Writers may be other processes; searchers call :meth:`refresh` to pick up
    new versions and keep serving the previous snapshot until the new one is loaded.

    ``threshold_tables`` maps model id -> {fmr: score}; without it the model manifest supplies the table
    (``matcher.models.load_manifest``). ``key`` (32 bytes) seals templates and index files with AES-GCM.
    ``create`` makes the store when it does not exist; without it a missing store is an error.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        key: bytes | None = None,
        threshold_tables: Mapping[str, Mapping[float, float]] | None = None,
        manifest: Path | None = None,
        exact_max: int = wl_index.EXACT_MAX_ENTRIES,
        pq: wl_index.PqParams = wl_index.DEFAULT_PQ,
        create: bool = False,
    ) -> None:
        self.path = Path(path)
        if create:
            self.path.mkdir(parents=True, exist_ok=True)
            (self.path / "indexes").mkdir(exist_ok=True)
        elif not (self.path / "watchlists.db").is_file():
            # a mistyped path must not become an empty store that screens against nothing
            hint = f"`matcher watchlist --store {self.path} create` makes one"
            raise WatchlistMissingError(f"no watchlist store at {self.path} ({hint})")
        self._sealer = Sealer(key) if key is not None else None
        self._tables = dict(threshold_tables) if threshold_tables is not None else None
        self._manifest = manifest
        self.exact_max = exact_max
        self.pq = pq
        self._local = threading.local()
        self._snapshots: dict[str, ListSnapshot] = {}
        self._unloaded: dict[str, str] = {}  # list id -> why its current version could not be loaded
        self._refresh_lock = threading.Lock()
        with self._connect() as db:
            db.executescript(_SCHEMA)

    # ---- connections -------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path / "watchlists.db", timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken up front (``BEGIN IMMEDIATE``): committed on success, rolled back on
        any error, the connection closed either way."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.rollback()
            raise
        finally:
            db.close()

    def _reader(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
        return db

    # ---- lists -------------------------------------------------------------------------------------
    def create_list(
        self,
        list_id: str,
        *,
        model_id: str,
        dim: int = 512,
        policy: ThresholdPolicy | None = None,
        owner: str = "",
        description: str = "",
        severity: str = "high",
        valid_until: str | datetime | None = None,
    ) -> ListInfo:
        """Create an empty list bound to one template model; its threshold follows ``policy``."""
        if not _LIST_ID.match(list_id):
            raise WatchlistError(f"invalid list id {list_id!r}: letters, digits, '_', '-', '.', up to 64")
        if severity not in SEVERITIES:
            raise WatchlistError(f"severity must be one of {', '.join(SEVERITIES)}")
        if dim <= 0:
            raise WatchlistError("template dimension must be positive")
        policy = policy or ThresholdPolicy()
        now = _now_iso()
        with self._write() as db:
            if db.execute("SELECT 1 FROM lists WHERE list_id=?", (list_id,)).fetchone():
                raise WatchlistError(f"list {list_id!r} already exists")
            self.check_policy(list_id, model_id, policy, {})
            index = wl_index.build(np.zeros(0, np.int64), np.zeros((0, dim), np.float32), "flat")
            sha = self._write_index(list_id, 1, index)
            db.execute(
                "INSERT INTO lists (list_id, owner, description, model_id, dim, policy, severity,"
                " valid_until, version, content_hash, index_kind, index_sha256, entry_count, created_at,"
                " updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,1,?,?,?,0,?,?)",
                (list_id, owner, description, model_id, dim, policy.to_json(), severity,
                 normalise_time(valid_until), _content_hash(list_id, model_id, []), "flat", sha, now, now),
            )  # fmt: skip
        return self.info(list_id)

    def update_list(
        self,
        list_id: str,
        *,
        policy: ThresholdPolicy | None = None,
        owner: str | None = None,
        description: str | None = None,
        severity: str | None = None,
        valid_until: str | datetime | None = "",
    ) -> ListInfo:
        """Change a list's metadata or threshold policy (bumps the version; the index file is kept)."""
        if severity is not None and severity not in SEVERITIES:
            raise WatchlistError(f"severity must be one of {', '.join(SEVERITIES)}")
        sets: dict[str, object] = {}
        if policy is not None:
            sets["policy"] = policy.to_json()
        if owner is not None:
            sets["owner"] = owner
        if description is not None:
            sets["description"] = description
        if severity is not None:
            sets["severity"] = severity
        if valid_until != "":
            sets["valid_until"] = normalise_time(valid_until)

        def change(db: sqlite3.Connection, row: sqlite3.Row, index: object) -> tuple[object, bool]:
            if sets:
                cols = ", ".join(f"{k}=?" for k in sets)
                db.execute(f"UPDATE lists SET {cols} WHERE list_id=?", (*sets.values(), list_id))
            return index, False

        return self._change(list_id, change)

    def delete_list(self, list_id: str) -> None:
        """Delete a list, its entries and its index files."""
        with self._write() as db:
            self._list_row(db, list_id)
            db.execute("DELETE FROM entries WHERE list_id=?", (list_id,))
            db.execute("DELETE FROM lists WHERE list_id=?", (list_id,))
        for f in (self.path / "indexes").glob(f"{list_id}.v*.faiss*"):
            if re.fullmatch(re.escape(list_id) + r"\.v\d+\.faiss(\.tmp)?", f.name):
                f.unlink(missing_ok=True)
        self._snapshots = {k: v for k, v in self._snapshots.items() if k != list_id}
        self._unloaded.pop(list_id, None)

    def lists(self) -> list[ListInfo]:
        rows = self._reader().execute("SELECT * FROM lists ORDER BY list_id").fetchall()
        return [_list_info(r) for r in rows]

    def info(self, list_id: str) -> ListInfo:
        return _list_info(self._list_row(self._reader(), list_id))

    def last_bundle(self, list_id: str) -> str | None:
        """Issue time of the last bundle imported into the list (None if none, or no such list)."""
        row = (
            self._reader()
            .execute("SELECT bundle_issued_at FROM lists WHERE list_id=?", (list_id,))
            .fetchone()
        )
        return row[0] if row else None

    # ---- entries -----------------------------------------------------------------------------------
    def add(self, list_id: str, entries: Sequence[NewEntry], *, replace: bool = False) -> list[int]:
        """Enrol ``entries`` in one new version of the list; returns their entry ids, in order.

        Refuses (changing nothing) duplicate external references in the batch, references already in the
        list unless ``replace`` (then the old entry is removed and the new one gets a new id), templates of
        another model or dimension, and bad metadata.
        """
        refs = [e.external_ref for e in entries]
        dups = sorted({r for r in refs if refs.count(r) > 1}) if len(set(refs)) != len(refs) else []
        if dups:
            raise WatchlistError(f"duplicate external references in the batch: {', '.join(dups[:10])}")
        if any(not r or len(r) > 200 for r in refs):
            raise WatchlistError("every entry needs an external reference of 1 to 200 characters")
        new_ids: list[int] = []

        def change(db: sqlite3.Connection, row: sqlite3.Row, index: object) -> tuple[object, bool]:
            existing = _existing_refs(db, list_id, refs)
            if existing and not replace:
                raise WatchlistError(
                    f"{len(existing)} external reference(s) already in list {list_id!r} "
                    f"(e.g. {next(iter(existing))!r}); use replace to update them"
                )
            if existing:
                old = sorted(existing.values())
                db.executemany("DELETE FROM entries WHERE entry_id=?", [(i,) for i in old])
                index.remove(np.array(old, dtype=np.int64))
            index = self._insert(db, row, index, entries, new_ids)
            return index, False

        self._change(list_id, change)
        return new_ids

    def remove(self, list_id: str, external_refs: Iterable[str]) -> int:
        """Remove entries by external reference in one new version; unknown references are refused."""
        refs = list(dict.fromkeys(external_refs))

        def change(db: sqlite3.Connection, row: sqlite3.Row, index: object) -> tuple[object, bool]:
            found = _existing_refs(db, list_id, refs)
            missing = [r for r in refs if r not in found]
            if missing:
                raise WatchlistError(f"not in list {list_id!r}: {', '.join(missing[:10])}")
            ids = np.array(sorted(found.values()), dtype=np.int64)
            if len(ids):
                db.execute(
                    f"DELETE FROM entries WHERE entry_id IN ({','.join('?' * len(ids))})",
                    [int(i) for i in ids],
                )
                index.remove(ids)
            return index, False

        self._change(list_id, change)
        return len(refs)

    def replace_contents(
        self, spec: ListSpec, entries: Sequence[NewEntry], *, bundle_issued_at: str | None = None
    ) -> ListInfo:
        """Make a list hold exactly ``entries`` with the metadata of ``spec`` (creating it if needed), as
        one new version. Unchanged entries (same reference, metadata and template) keep their ids.
        ``bundle_issued_at`` records the issue time of the bundle this content came from."""
        list_id = spec.list_id
        if not any(li.list_id == list_id for li in self.lists()):
            self.create_list(
                list_id,
                model_id=spec.model_id,
                dim=spec.dim,
                policy=spec.policy,
                owner=spec.owner,
                description=spec.description,
                severity=spec.severity,
                valid_until=spec.valid_until,
            )

        def change(db: sqlite3.Connection, row: sqlite3.Row, index: object) -> tuple[object, bool]:
            if row["model_id"] != spec.model_id or row["dim"] != spec.dim:
                raise TemplateMismatchError(
                    f"list {list_id!r} holds model {row['model_id']!r} ({row['dim']}-d); the new content is "
                    f"{spec.model_id!r} ({spec.dim}-d): delete the list first to change its model"
                )
            db.execute(
                "UPDATE lists SET owner=?, description=?, policy=?, severity=?, valid_until=?,"
                " bundle_issued_at=? WHERE list_id=?",
                (spec.owner, spec.description, spec.policy.to_json(), spec.severity,
                 normalise_time(spec.valid_until), bundle_issued_at, list_id),
            )  # fmt: skip
            current = {
                r["digest"]: r["entry_id"]
                for r in db.execute("SELECT entry_id, digest FROM entries WHERE list_id=?", (list_id,))
            }
            wanted = {}
            for e in entries:
                severity = e.severity or spec.severity
                wanted[_entry_digest(list_id, e, severity, normalise_time(e.valid_until))] = e
            gone = [current[d] for d in current.keys() - wanted.keys()]
            if gone:
                db.executemany("DELETE FROM entries WHERE entry_id=?", [(i,) for i in gone])
                index.remove(np.array(gone, dtype=np.int64))
            fresh = [e for d, e in wanted.items() if d not in current]
            return self._insert(db, row, index, fresh), False

        return self._change(list_id, change)

    def _insert(
        self,
        db: sqlite3.Connection,
        row: sqlite3.Row,
        index: object,
        entries: Sequence[NewEntry],
        new_ids: list[int] | None = None,
    ):
        """Validate every entry first, then insert rows and vectors; ``new_ids`` receives their ids."""
        if not entries:
            return index
        list_id, model_id, dim = row["list_id"], row["model_id"], row["dim"]
        clash = _existing_refs(db, list_id, [e.external_ref for e in entries])
        if clash:
            raise WatchlistError(f"external reference already in list {list_id!r}: {next(iter(clash))!r}")
        for e in entries:
            if e.template.model_id != model_id:
                raise TemplateMismatchError(
                    f"entry {e.external_ref!r}: template of model {e.template.model_id!r}, "
                    f"list {list_id!r} holds model {model_id!r}"
                )
            if e.template.dim != dim:
                raise TemplateMismatchError(
                    f"entry {e.external_ref!r}: template dimension {e.template.dim}, list has {dim}"
                )
            if (e.severity or row["severity"]) not in SEVERITIES:
                raise WatchlistError(
                    f"entry {e.external_ref!r}: severity must be one of {', '.join(SEVERITIES)}"
                )
        vectors = wl_index.check_vectors(np.stack([e.template.vector for e in entries]), dim)
        now, ids = _now_iso(), []
        for e in entries:
            severity = e.severity or row["severity"]
            valid_until = normalise_time(e.valid_until)
            cur = db.execute(
                "INSERT INTO entries (list_id, external_ref, category, severity, valid_until, added_at,"
                " source, model_id, digest, template) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (list_id, e.external_ref, e.category, severity, valid_until, now, e.source, model_id,
                 _entry_digest(list_id, e, severity, valid_until),
                 self._seal_template(list_id, e.external_ref, e.template.to_bytes())),
            )  # fmt: skip
            ids.append(int(cur.lastrowid))
        index.add(np.array(ids, dtype=np.int64), vectors)  # type: ignore[attr-defined]
        if new_ids is not None:
            new_ids.extend(ids)
        return index

    def entries(self, list_id: str) -> list[Entry]:
        """Metadata of every entry of a list, by entry id."""
        rows = self._reader().execute(
            "SELECT entry_id, list_id, external_ref, category, severity, valid_until, added_at, source,"
            " model_id FROM entries WHERE list_id=? ORDER BY entry_id",
            (list_id,),
        )
        return [Entry(**dict(r)) for r in rows]

    def iter_templates(self, list_id: str) -> Iterator[tuple[Entry, Template]]:
        """Every entry with its template (for export and rebuild)."""
        db = self._connect()
        try:
            rows = db.execute(
                "SELECT entry_id, list_id, external_ref, category, severity, valid_until, added_at, source,"
                " model_id, template FROM entries WHERE list_id=? ORDER BY entry_id",
                (list_id,),
            )
            for r in rows:
                data = dict(r)
                blob = data.pop("template")
                yield (
                    Entry(**data),
                    Template.from_bytes(self._open_template(list_id, r["external_ref"], blob)),
                )
        finally:
            db.close()

    def rebuild(self, list_id: str) -> ListInfo:
        """Recreate the list's index from the templates in SQLite (after corruption, or to retrain)."""
        return self._change(list_id, lambda db, row, index: (None, True), load_index=False)

    # ---- the change protocol -----------------------------------------------------------------------
    def _change(self, list_id: str, apply, *, load_index: bool = True) -> ListInfo:
        """Run ``apply(db, row, index) -> (index, force_rebuild)`` in a write transaction, then write the
        next index version beside the current one and commit the version bump. Nothing changes on error."""
        new_file: Path | None = None
        try:
            with self._write() as db:
                row = self._list_row(db, list_id)
                index = self._read_index(row) if load_index else None
                index, force = apply(db, row, index)
                ids, _ = _live_ids(db, list_id)
                policy = db.execute("SELECT policy FROM lists WHERE list_id=?", (list_id,)).fetchone()[0]
                counts = _category_counts(db, list_id)
                self.check_policy(list_id, row["model_id"], ThresholdPolicy.from_json(policy), counts)
                kind = wl_index.choose_kind(len(ids), self.exact_max)
                if force or index is None or index.kind != kind:
                    index = self._build_from_db(db, row, kind)
                version = row["version"] + 1
                new_file = self._index_path(list_id, version)
                sha = self._write_index(list_id, version, index)
                digests = [r[0] for r in db.execute("SELECT digest FROM entries WHERE list_id=?", (list_id,))]
                content_hash = _content_hash(list_id, row["model_id"], digests)
                db.execute(
                    "UPDATE lists SET version=?, content_hash=?, index_kind=?, index_sha256=?, entry_count=?,"
                    " updated_at=? WHERE list_id=?",
                    (version, content_hash, kind, sha, len(ids), _now_iso(), list_id),
                )
            new_file = None
        except BaseException:
            if new_file is not None:
                new_file.unlink(missing_ok=True)
            raise
        self._remove_old_files(list_id, version)
        return self.info(list_id)

    def _build_from_db(self, db: sqlite3.Connection, row: sqlite3.Row, kind: str):
        ids, vectors = [], []
        for r in db.execute(
            "SELECT entry_id, external_ref, template FROM entries WHERE list_id=? ORDER BY entry_id",
            (row["list_id"],),
        ):
            t = Template.from_bytes(self._open_template(row["list_id"], r["external_ref"], r["template"]))
            ids.append(r["entry_id"])
            vectors.append(t.vector)
        matrix = np.stack(vectors) if vectors else np.zeros((0, row["dim"]), np.float32)
        return wl_index.build(np.array(ids, dtype=np.int64), matrix, kind, self.pq)  # type: ignore[arg-type]

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

    # ---- searching ---------------------------------------------------------------------------------
    def refresh(self) -> dict[str, int]:
        """Load the lists whose version changed since the last refresh; returns list -> loaded version.

        Searches keep using the previous snapshots until each new one is completely loaded and checked. A
        list that fails to load (corrupt index, a threshold the model's calibration no longer reaches) keeps
        its previous snapshot if it had one, or is refused by :meth:`search`; the others load all the same,
        then the failure is raised.
        """
        with self._refresh_lock:
            rows = {r["list_id"]: r for r in self._reader().execute("SELECT * FROM lists")}
            current = dict(self._snapshots)
            fresh = {lid: snap for lid, snap in current.items() if lid in rows}
            failed: dict[str, MatcherError] = {}
            for list_id, row in rows.items():
                snap = current.get(list_id)
                if snap is None or snap.version != row["version"]:
                    try:
                        fresh[list_id] = self._load_snapshot(list_id)
                    except MatcherError as exc:  # this list only: the others still load their versions
                        failed[list_id] = exc
            self._snapshots = fresh  # one reference swap: searches see the old dict or the new one
            self._unloaded = {lid: str(exc) for lid, exc in failed.items()}
            if len(failed) == 1:
                raise next(iter(failed.values()))
            if failed:
                raise WatchlistError(
                    "; ".join(f"list {lid!r} not loaded: {why}" for lid, why in self._unloaded.items())
                )
            return {lid: s.version for lid, s in fresh.items()}

    def _load_snapshot(self, list_id: str, attempts: int = 3) -> ListSnapshot:
        for attempt in range(attempts):
            db = self._reader()
            db.execute("BEGIN")  # one read transaction: list row and entries of the same version
            try:
                row = self._list_row(db, list_id)
                ids, expiries = _live_ids(db, list_id)
                counts = _category_counts(db, list_id)
            finally:
                db.execute("COMMIT")
            try:
                index = self._read_index(row)
            except IndexCorruptError:
                if attempt + 1 < attempts and not self._index_path(list_id, row["version"]).exists():
                    continue  # a writer moved on twice while we read; try the newer version
                raise
            return self._snapshot(row, index, ids, expiries, counts)
        raise AssertionError("unreachable")

    def _snapshot(
        self, row: sqlite3.Row, index, ids: np.ndarray, expiries: np.ndarray, counts: Mapping[str, int]
    ) -> ListSnapshot:
        index_ids = np.sort(index.ids())
        if len(index_ids) != len(ids) or not np.array_equal(index_ids, ids):
            raise IndexCorruptError(
                f"index of list {row['list_id']!r} does not hold the entries SQLite holds; rebuild the list"
            )
        order = np.argsort(expiries, kind="stable")
        finite = np.isfinite(expiries[order])
        policy = ThresholdPolicy.from_json(row["policy"])
        table = None if policy.score is not None else self._threshold_table(row["model_id"])
        threshold, own = policy.resolve_all(counts, table)
        return ListSnapshot(
            list_id=row["list_id"],
            version=row["version"],
            model_id=row["model_id"],
            dim=row["dim"],
            threshold=threshold,
            category_thresholds=own,
            list_valid_until=to_epoch(row["valid_until"]),
            index=index,
            live_count=len(ids),
            expiry_times=expiries[order][finite],
            expiry_ids=ids[order][finite],
        )

    def check_policy(
        self, list_id: str, model_id: str, policy: ThresholdPolicy, counts: Mapping[str, int]
    ) -> tuple[float, dict[str, float]]:
        """The thresholds ``policy`` gives a list of ``model_id`` whose live entries are counted by category
        in ``counts`` (see :meth:`ThresholdPolicy.resolve_all`); WatchlistError (nothing is written) when they
        cannot be resolved, so that no list is stored that cannot be searched."""
        table = None if policy.score is not None else self._threshold_table(model_id)
        try:
            return policy.resolve_all(counts, table)
        except ModelError as exc:
            n = sum(counts.values())
            raise WatchlistError(
                f"list {list_id!r}: policy {policy.describe()} cannot apply to {n} entries: {exc}"
            ) from None

    def thresholds(self, list_id: str) -> tuple[float, dict[str, float]]:
        """A list's current thresholds from its stored policy and entries (see :meth:`check_policy`)."""
        db = self._reader()
        row = self._list_row(db, list_id)
        policy = ThresholdPolicy.from_json(row["policy"])
        return self.check_policy(list_id, row["model_id"], policy, _category_counts(db, list_id))

    def _threshold_table(self, model_id: str) -> Mapping[float, float] | None:
        if self._tables is not None:
            return self._tables.get(model_id)
        return manifest_threshold_table(model_id, self._manifest)

    def snapshot(self, list_id: str) -> ListSnapshot:
        """The snapshot searches currently use for a list (refreshing once if it is not loaded)."""
        if list_id not in self._snapshots:
            self.refresh()
        try:
            return self._snapshots[list_id]
        except KeyError:
            raise WatchlistError(f"no watchlist named {list_id!r}") from None

    def search(
        self,
        template: Template,
        *,
        top_k: int = 5,
        lists: Sequence[str] | None = None,
        now: datetime | None = None,
    ) -> list[Alert]:
        """Search every list (or ``lists``) with one template: candidates at or above each list's
        threshold, best first within each list; expired entries and expired lists never alert.

        Uses the loaded snapshots (call :meth:`refresh` to pick up changes; the first search loads them).
        Raises TemplateMismatchError when a list holds another model: a list that cannot be searched is
        an error, never silently skipped.
        """
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        snaps = self._snapshots
        if not snaps:
            with contextlib.suppress(WatchlistError):  # a list that fails is reported below if searched
                self.refresh()
            snaps = self._snapshots
        wanted = list(snaps | dict.fromkeys(self._unloaded)) if lists is None else list(lists)
        unknown = [lid for lid in wanted if lid not in snaps]
        if unknown:
            why = self._unloaded.get(unknown[0])
            if why is not None:
                raise WatchlistError(f"watchlist {unknown[0]!r} cannot be searched: {why}")
            raise WatchlistError(f"no watchlist named {unknown[0]!r}")
        now = now or datetime.now(UTC)
        t_now = (now if now.tzinfo else now.replace(tzinfo=UTC)).timestamp()
        candidates = [c for lid in sorted(wanted) for c in snaps[lid].search(template, top_k, t_now)]
        if not candidates:
            return []
        meta = self._entry_meta([c.entry_id for c in candidates])
        alerts = []
        for c in candidates:
            m = meta.get(c.entry_id)
            if m is None:  # removed since this snapshot was loaded: never alert on it
                continue
            threshold = snaps[c.list_id].threshold_for(m["category"])
            if c.score < threshold:  # above the list's lowest threshold, not its category's
                continue
            alerts.append(
                Alert(
                    list_id=c.list_id,
                    list_version=snaps[c.list_id].version,
                    entry_id=c.entry_id,
                    external_ref=m["external_ref"],
                    category=m["category"],
                    severity=m["severity"],
                    valid_until=m["valid_until"],
                    source=m["source"],
                    score=c.score,
                    threshold=threshold,
                    rank=c.rank,
                )
            )
        return alerts

    def _entry_meta(self, ids: list[int]) -> dict[int, sqlite3.Row]:
        rows = self._reader().execute(
            "SELECT entry_id, external_ref, category, severity, valid_until, source FROM entries"
            f" WHERE entry_id IN ({','.join('?' * len(ids))})",
            ids,
        )
        return {r["entry_id"]: r for r in rows}


def _existing_refs(db: sqlite3.Connection, list_id: str, refs: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(refs), 500):
        chunk = refs[start : start + 500]
        for r in db.execute(
            f"SELECT external_ref, entry_id FROM entries WHERE list_id=? AND external_ref IN "
            f"({','.join('?' * len(chunk))})",
            (list_id, *chunk),
        ):
            found[r[0]] = r[1]
    return found


def _category_counts(db: sqlite3.Connection, list_id: str) -> dict[str, int]:
    rows = db.execute("SELECT category, count(*) FROM entries WHERE list_id=? GROUP BY category", (list_id,))
    return {category: n for category, n in rows}


def _live_ids(db: sqlite3.Connection, list_id: str) -> tuple[np.ndarray, np.ndarray]:
    rows = db.execute(
        "SELECT entry_id, valid_until FROM entries WHERE list_id=? ORDER BY entry_id", (list_id,)
    )
    ids, expiries = [], []
    for entry_id, valid_until in rows:
        ids.append(entry_id)
        expiries.append(to_epoch(valid_until))
    return np.array(ids, dtype=np.int64), np.array(expiries, dtype=np.float64)


def content_hash_of(spec: ListSpec, entries: Sequence[NewEntry]) -> str:
    """The content hash a list defined by ``spec`` holding ``entries`` has (``ListInfo.content_hash``)."""
    digests = [
        _entry_digest(spec.list_id, e, e.severity or spec.severity, normalise_time(e.valid_until))
        for e in entries
    ]
    return _content_hash(spec.list_id, spec.model_id, digests)


def _content_hash(list_id: str, model_id: str, digests: Iterable[str]) -> str:
    h = hashlib.sha256(f"{list_id}\0{model_id}\0".encode())
    for d in sorted(digests):
        h.update(bytes.fromhex(d))
    return h.hexdigest()


def _list_info(row: sqlite3.Row) -> ListInfo:
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
