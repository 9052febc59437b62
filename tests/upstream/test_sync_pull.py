"""Kiosks pull what the upstream distributes: signed watchlist bundles (imported, verified against the
store's trusted keys; a bundle by another key refused, the list untouched) and chip trust lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from upstream_helpers import Tls, new_kiosk

from kiosk.sync.client import SyncClient
from kiosk.sync.pull import pull
from kiosk.upstream.app import ServiceOptions
from kiosk.upstream.db import UpstreamDB
from kiosk.upstream.server import ServiceThread
from matcher.signing import generate_signing_key, load_signing_key, load_trusted_keys
from matcher.types import Template
from matcher.watchlist import NewEntry, WatchlistStore
from matcher.watchlist.bundle import export_bundle
from matcher.watchlist.policy import ThresholdPolicy

MODEL = "testnet@0123456789ab"
TABLE = {10.0**-k: k / 10 for k in range(2, 9)}


def _list(path: Path, list_id: str, n: int) -> WatchlistStore:
    store = WatchlistStore(path, threshold_tables={MODEL: TABLE}, create=True)
    store.create_list(list_id, model_id=MODEL, policy=ThresholdPolicy(fmr=1e-3, per="comparison"))
    vectors = np.random.default_rng(5).standard_normal((n, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store.add(list_id, [NewEntry(f"P{i:03d}", Template(v, MODEL)) for i, v in enumerate(vectors)])
    return store


def test_pull_imports_trusted_bundles_and_refuses_others(db: UpstreamDB, tls: Tls, tmp_path: Path) -> None:
    served = tmp_path / "served"
    (served / "bundles").mkdir(parents=True)
    (served / "trust").mkdir()
    (served / "trust" / "UTO.ml").write_bytes(b"a signed master list")
    generate_signing_key(tmp_path / "upstream.key", tmp_path / "upstream.pub")
    generate_signing_key(tmp_path / "rogue.key", tmp_path / "rogue.pub")
    export_bundle(_list(tmp_path / "u1", "wanted", 30), "wanted", served / "bundles" / "wanted.bundle",
                  load_signing_key(tmp_path / "upstream.key"))  # fmt: skip
    export_bundle(_list(tmp_path / "u2", "rogue", 5), "rogue", served / "bundles" / "rogue.bundle",
                  load_signing_key(tmp_path / "rogue.key"))  # fmt: skip
    kiosk = new_kiosk(db, tmp_path / "k", "gate-w")
    store = WatchlistStore(tmp_path / "kiosk-lists", threshold_tables={MODEL: TABLE}, create=True)
    trusted = load_trusted_keys([tmp_path / "upstream.pub"])
    options = ServiceOptions(watchlist_dir=served / "bundles", trust_dir=served / "trust")
    service = ServiceThread(db, tls.cert, tls.key, options=options).start()
    try:
        with SyncClient(kiosk.log_path, kiosk.id, kiosk.sync_config(service.url, tls)) as client:
            first = pull(client, tmp_path / "pulled", store=store, trusted_keys=trusted)
            again = pull(client, tmp_path / "pulled", store=store, trusted_keys=trusted)
    finally:
        service.stop()
    assert sorted(first.downloaded) == ["UTO.ml", "rogue.bundle", "wanted.bundle"]
    version = f"wanted v{store.info('wanted').version}"
    assert first.imported == [version] and len(first.refused) == 1 and "rogue.bundle" in first.refused[0]
    assert [li.list_id for li in store.lists()] == ["wanted"] and store.info("wanted").entry_count == 30
    assert (
        store.info("wanted").content_hash
        == WatchlistStore(tmp_path / "u1", threshold_tables={MODEL: TABLE}).info("wanted").content_hash
    )
    assert again.downloaded == [] and again.imported == [version]  # unchanged: no new version
    assert (tmp_path / "pulled" / "trust" / "UTO.ml").read_bytes() == b"a signed master list"
