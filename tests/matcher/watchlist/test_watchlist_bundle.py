"""Signed bundles: round trip, and refusal of unsigned, tampered, untrusted and replayed bundles."""

from __future__ import annotations

from pathlib import Path

import pytest
from wl_helpers import MODEL, TABLE, mate

from matcher.errors import TemplateMismatchError
from matcher.signing import generate_signing_key, load_signing_key, load_trusted_keys
from matcher.watchlist import NewEntry, WatchlistStore
from matcher.watchlist.bundle import MAGIC, BundleError, export_bundle, import_bundle
from matcher.watchlist.policy import ThresholdPolicy


@pytest.fixture
def keys(tmp_path: Path):
    generate_signing_key(tmp_path / "upstream.key", tmp_path / "upstream.pem")
    generate_signing_key(tmp_path / "rogue.key", tmp_path / "rogue.pem")
    return load_signing_key(tmp_path / "upstream.key"), load_trusted_keys([tmp_path / "upstream.pem"])


@pytest.fixture
def bundle(wanted, keys, tmp_path: Path) -> Path:
    store, _ = wanted
    path = tmp_path / "wanted.bundle"
    export_bundle(store, "wanted", path, keys[0])
    return path


@pytest.fixture
def kiosk(tmp_path: Path) -> WatchlistStore:
    return WatchlistStore(tmp_path / "kiosk", threshold_tables={MODEL: TABLE}, create=True)


def test_round_trip_keeps_content_hash_and_alerts(wanted, bundle, keys, kiosk, rng):
    store, vectors = wanted
    info, binfo = import_bundle(kiosk, bundle, keys[1])
    assert info.content_hash == store.info("wanted").content_hash
    assert binfo.entry_count == 200 and info.entry_count == 200
    assert [a.external_ref for a in kiosk.search(mate(vectors[9], 0.6, rng))] == ["P00009"]


def test_update_bundle_removes_and_adds_keeping_unchanged_ids(wanted, bundle, keys, kiosk, rng, tmp_path):
    store, vectors = wanted
    import_bundle(kiosk, bundle, keys[1])
    ids_before = {e.external_ref: e.entry_id for e in kiosk.entries("wanted")}
    store.remove("wanted", ["P00001"])
    store.add("wanted", [NewEntry("NEW", mate(vectors[1], 0.1, rng))])
    newer = tmp_path / "wanted2.bundle"
    export_bundle(store, "wanted", newer, keys[0])
    info, _ = import_bundle(kiosk, newer, keys[1])
    assert info.content_hash == store.info("wanted").content_hash
    after = {e.external_ref: e.entry_id for e in kiosk.entries("wanted")}
    assert "P00001" not in after and "NEW" in after
    assert after["P00002"] == ids_before["P00002"]
    with pytest.raises(BundleError, match="rollback"):
        import_bundle(kiosk, bundle, keys[1])  # replaying the older bundle
    assert kiosk.info("wanted").content_hash == info.content_hash


def _refused(kiosk: WatchlistStore, path: Path, trusted, match: str) -> None:
    before = [li.as_dict() for li in kiosk.lists()]
    with pytest.raises(BundleError, match=match):
        import_bundle(kiosk, path, trusted)
    assert [li.as_dict() for li in kiosk.lists()] == before


def test_tampered_bundle_is_refused_and_list_untouched(bundle, keys, kiosk, tmp_path):
    import_bundle(kiosk, bundle, keys[1])
    data = bytearray(bundle.read_bytes())
    data[len(MAGIC) + 500] ^= 0x01  # a byte of the header JSON
    bad = tmp_path / "bad.bundle"
    bad.write_bytes(bytes(data))
    _refused(kiosk, bad, keys[1], "does not verify")
    data = bytearray(bundle.read_bytes())
    data[-200] ^= 0x01  # a byte of the signature block
    bad.write_bytes(bytes(data))
    _refused(kiosk, bad, keys[1], "signature")


def test_unsigned_and_untrusted_bundles_are_refused(bundle, keys, kiosk, tmp_path):
    data = bundle.read_bytes()
    n_payload = int.from_bytes(data[len(MAGIC) : len(MAGIC) + 8], "little")
    unsigned = tmp_path / "unsigned.bundle"
    unsigned.write_bytes(data[: len(MAGIC) + 8 + n_payload])
    _refused(kiosk, unsigned, keys[1], "not signed")
    _refused(kiosk, bundle, load_trusted_keys([tmp_path / "rogue.pem"]), "not among the trusted keys")
    _refused(kiosk, bundle, {}, "no trusted keys")
    not_a_bundle = tmp_path / "x.bundle"
    not_a_bundle.write_bytes(b"hello")
    _refused(kiosk, not_a_bundle, keys[1], "not a watchlist bundle")
    assert kiosk.lists() == []


def test_bundle_of_another_model_does_not_replace_a_list(bundle, keys, kiosk):
    kiosk.create_list("wanted", model_id="othernet@aaaaaaaaaaaa", policy=ThresholdPolicy(score=0.5))

    with pytest.raises(TemplateMismatchError):
        import_bundle(kiosk, bundle, keys[1])
    assert kiosk.info("wanted").entry_count == 0


def test_reimporting_the_same_bundle_is_up_to_date_not_a_rollback(bundle, keys, kiosk):
    first, _ = import_bundle(kiosk, bundle, keys[1])
    again, binfo = import_bundle(kiosk, bundle, keys[1])  # a sync job retrying after a lost reply
    assert again == first and binfo.entry_count == 200
    assert kiosk.info("wanted").version == first.version


def test_older_bundle_with_other_content_is_still_a_rollback(bundle, keys, kiosk):
    import_bundle(kiosk, bundle, keys[1])
    kiosk.remove("wanted", ["P00003"])  # the kiosk's copy differs from the bundle now
    with pytest.raises(BundleError, match="rollback"):
        import_bundle(kiosk, bundle, keys[1])
