"""The watchlist store's schema version: recorded on disk, a store from before the version existed is
migrated on open without losing a row, a newer schema is refused; and the searcher alone serves the gate."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from wl_helpers import MODEL, TABLE, mate

from matcher import sqlite
from matcher.watchlist import WatchlistError, WatchlistSearcher, WatchlistStore
from matcher.watchlist.disk import DB_NAME, SCHEMA_VERSION


def _version(folder: Path) -> int:
    db = sqlite3.connect(folder / DB_NAME)
    try:
        return sqlite.current_version(db)
    finally:
        db.close()


def test_a_new_store_records_its_schema_version(store: WatchlistStore) -> None:
    assert SCHEMA_VERSION == 1
    assert _version(store.path) == SCHEMA_VERSION


def test_a_store_from_before_the_schema_version_is_migrated_with_its_rows(
    wanted: tuple[WatchlistStore, np.ndarray],
) -> None:
    store, _ = wanted
    before = store.info("wanted")
    db = sqlite3.connect(store.path / DB_NAME)
    db.execute("DROP TABLE schema_version")  # as every store made before the version was recorded
    db.commit()
    db.close()
    assert _version(store.path) == 0
    reopened = WatchlistStore(store.path, threshold_tables={MODEL: TABLE})
    assert _version(store.path) == SCHEMA_VERSION
    assert reopened.info("wanted") == before
    assert len(reopened.entries("wanted")) == 200


def test_a_newer_schema_is_refused(store: WatchlistStore) -> None:
    db = sqlite3.connect(store.path / DB_NAME)
    db.execute("INSERT INTO schema_version (version, applied_utc) VALUES (?, '')", (SCHEMA_VERSION + 1,))
    db.commit()
    db.close()
    with pytest.raises(WatchlistError, match="newer than this program"):
        WatchlistStore(store.path, threshold_tables={MODEL: TABLE})


def test_the_searcher_finds_what_the_store_wrote(
    wanted: tuple[WatchlistStore, np.ndarray], rng: np.random.Generator
) -> None:
    store, vectors = wanted
    searcher = WatchlistSearcher(store.path, threshold_tables={MODEL: TABLE})
    alerts = searcher.search(mate(vectors[3], 0.9, rng))
    assert [a.external_ref for a in alerts][:1] == ["P00003"]
    assert not hasattr(searcher, "add")
