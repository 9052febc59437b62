"""What the gate holds of the watchlists: a snapshot per list (its index and thresholds), refreshed when a
writer publishes a new list version, and the 1:N search over them.

Searches keep using the previous snapshots until each new one is completely loaded and checked; a list that
cannot be loaded is refused by :meth:`WatchlistSearcher.search`, never silently skipped.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from matcher.errors import MatcherError, ModelError
from matcher.types import Template
from matcher.watchlist.disk import StoreFolder, category_counts, live_ids
from matcher.watchlist.errors import IndexCorruptError, WatchlistError
from matcher.watchlist.policy import (
    SearchTable,
    ThresholdPolicy,
    manifest_search_table,
    manifest_threshold_table,
)
from matcher.watchlist.search import Alert, ListSnapshot, to_epoch


class WatchlistSearcher(StoreFolder):
    """Searches the watchlists of a store folder. Writers may be other processes; call :meth:`refresh` to pick
    up new versions (the first search loads them).

    ``threshold_tables`` maps model id -> {fmr: score} and ``search_tables`` model id -> its FPIR table;
    without them the model manifest supplies both (``matcher.models.load_manifest``). ``key`` (32 bytes)
    opens sealed templates and index files.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        key: bytes | None = None,
        threshold_tables: Mapping[str, Mapping[float, float]] | None = None,
        search_tables: Mapping[str, SearchTable] | None = None,
        manifest: Path | None = None,
        create: bool = False,
    ) -> None:
        super().__init__(path, key=key, create=create)
        self._tables = dict(threshold_tables) if threshold_tables is not None else None
        self._search_tables = dict(search_tables or {})
        self._manifest = manifest
        self._snapshots: dict[str, ListSnapshot] = {}
        self._unloaded: dict[str, str] = {}  # list id -> why its current version could not be loaded
        self._refresh_lock = threading.Lock()

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
                ids, expiries = live_ids(db, list_id)
                counts = category_counts(db, list_id)
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
        threshold, own = policy.resolve_all(counts, *self._tables_for(policy, row["model_id"]))
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
        try:
            return policy.resolve_all(counts, *self._tables_for(policy, model_id))
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
        return self.check_policy(list_id, row["model_id"], policy, category_counts(db, list_id))

    def search_table(self, model_id: str) -> SearchTable | None:
        """The FPIR table per-search policies of ``model_id`` use (None: the union bound)."""
        if self._tables is not None or self._search_tables:
            return self._search_tables.get(model_id)
        return manifest_search_table(model_id, self._manifest)

    def _tables_for(
        self, policy: ThresholdPolicy, model_id: str
    ) -> tuple[Mapping[float, float] | None, SearchTable | None]:
        if policy.score is not None:
            return None, None
        search = self.search_table(model_id) if policy.per == "search" else None
        return self._threshold_table(model_id), search

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
