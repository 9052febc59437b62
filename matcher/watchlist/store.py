"""Watchlists and their entries: create, update and delete lists; add, remove and replace entries; and the
change protocol that publishes each change as a new list version.

A change to a list runs in one write transaction: the new index is written *beside* the current one under the
next version number, fsynced and renamed, and the version bump commits only after that. A crash before the
commit leaves an orphan file (removed on the next change); a crash after leaves the previous file (also
removed later). The folder, its schema and index files are :mod:`matcher.watchlist.disk`'s; snapshots and
search are :mod:`matcher.watchlist.searcher`'s.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from matcher.errors import TemplateMismatchError
from matcher.types import Template
from matcher.watchlist import index as wl_index
from matcher.watchlist.disk import ListInfo, category_counts, list_info, live_ids, now_iso
from matcher.watchlist.errors import WatchlistError
from matcher.watchlist.policy import SearchTable, ThresholdPolicy
from matcher.watchlist.search import normalise_time
from matcher.watchlist.searcher import WatchlistSearcher

SEVERITIES = ("low", "medium", "high", "critical")
_LIST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


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


def _entry_digest(list_id: str, e: NewEntry, severity: str, valid_until: str | None) -> str:
    meta = json.dumps(
        [e.external_ref, e.category, severity, valid_until, e.source, e.template.model_id], ensure_ascii=False
    )
    return hashlib.sha256(meta.encode() + b"\0" + e.template.to_bytes()).hexdigest()


class WatchlistStore(WatchlistSearcher):
    """Watchlists in a folder, to administer and to search. Writers may be other processes; searchers call
    :meth:`refresh` to pick up new versions and keep serving the previous snapshot until the new one is
    loaded.

    ``threshold_tables`` maps model id -> {fmr: score} and ``search_tables`` model id -> its FPIR table;
    without them the model manifest supplies both (``matcher.models.load_manifest``). ``key`` (32 bytes)
    seals templates and index files with AES-GCM.
    ``create`` makes the store when it does not exist; without it a missing store is an error.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        key: bytes | None = None,
        threshold_tables: Mapping[str, Mapping[float, float]] | None = None,
        search_tables: Mapping[str, SearchTable] | None = None,
        manifest: Path | None = None,
        exact_max: int = wl_index.EXACT_MAX_ENTRIES,
        pq: wl_index.PqParams = wl_index.DEFAULT_PQ,
        create: bool = False,
    ) -> None:
        super().__init__(
            path,
            key=key,
            threshold_tables=threshold_tables,
            search_tables=search_tables,
            manifest=manifest,
            create=create,
        )
        self.exact_max = exact_max
        self.pq = pq

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
        now = now_iso()
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
        return [list_info(r) for r in rows]

    def info(self, list_id: str) -> ListInfo:
        return list_info(self._list_row(self._reader(), list_id))

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
        now, ids = now_iso(), []
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
                ids, _ = live_ids(db, list_id)
                policy = db.execute("SELECT policy FROM lists WHERE list_id=?", (list_id,)).fetchone()[0]
                counts = category_counts(db, list_id)
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
                    (version, content_hash, kind, sha, len(ids), now_iso(), list_id),
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
