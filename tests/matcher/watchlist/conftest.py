"""Fixtures for watchlist tests: small stores of synthetic templates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from wl_helpers import MODEL, TABLE, entries, unit

from matcher.watchlist import ThresholdPolicy, WatchlistStore


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


@pytest.fixture
def store(tmp_path: Path) -> WatchlistStore:
    return WatchlistStore(tmp_path / "wl", threshold_tables={MODEL: TABLE}, create=True)


@pytest.fixture
def wanted(store: WatchlistStore, rng: np.random.Generator) -> tuple[WatchlistStore, np.ndarray]:
    """A store with list 'wanted' of 200 entries (per-comparison FMR 1e-3 -> threshold 0.30)."""
    vectors = unit(rng, 200)
    store.create_list(
        "wanted", model_id=MODEL, policy=ThresholdPolicy(fmr=1e-3, per="comparison"), owner="police"
    )
    store.add("wanted", entries(vectors, category="wanted"))
    return store, vectors
