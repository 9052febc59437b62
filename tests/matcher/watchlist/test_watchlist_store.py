"""Watchlist store: enrolment, search, thresholds, expiry, versions, crash safety and bad input."""

from __future__ import annotations

import json
import math
import sys
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from wl_helpers import MODEL, TABLE, entries, mate, unit

from matcher.cli import main
from matcher.errors import ModelError, TemplateMismatchError
from matcher.lab.watchlist_bench import list_recall
from matcher.types import Template
from matcher.watchlist import (
    IndexCorruptError,
    NewEntry,
    ThresholdPolicy,
    WatchlistError,
    WatchlistStore,
)
from matcher.watchlist import index as wl_index
from matcher.watchlist.policy import SearchTable, interpolate_threshold


def test_mated_probe_alerts_with_metadata_and_rank(wanted, rng):
    store, vectors = wanted
    alerts = store.search(mate(vectors[17], 0.6, rng), top_k=5)
    assert len(alerts) == 1
    a = alerts[0]
    assert (a.list_id, a.external_ref, a.category, a.rank) == ("wanted", "P00017", "wanted", 1)
    assert a.score == pytest.approx(0.6, abs=1e-4)
    assert a.threshold == pytest.approx(0.30)
    assert a.severity == "high"


def test_non_mated_probe_does_not_alert(wanted, rng):
    store, _ = wanted
    assert store.search(Template(unit(rng, 1)[0], MODEL)) == []


def test_probe_below_threshold_does_not_alert(wanted, rng):
    store, vectors = wanted
    assert store.search(mate(vectors[3], 0.25, rng)) == []


def test_per_search_policy_raises_threshold_with_list_size(store, rng):
    store.create_list("big", model_id=MODEL, policy=ThresholdPolicy(fmr=1e-2, per="search"))
    store.add("big", entries(unit(rng, 10)))
    # 1e-2 per search over 10 entries -> 1e-3 per comparison -> 0.30
    assert store.snapshot("big").threshold == pytest.approx(0.30)
    store.add("big", entries(unit(rng, 90), prefix="Q"))
    store.refresh()
    assert store.snapshot("big").threshold == pytest.approx(0.40)  # 1e-4 per comparison
    store.remove("big", [f"Q{i:05d}" for i in range(60)])
    store.refresh()  # 40 entries: 2.5e-4 per comparison
    assert store.snapshot("big").threshold == pytest.approx(0.30 + 0.10 * math.log10(4))


def test_a_list_too_large_for_its_policy_is_refused_and_breaks_no_search(store, rng):
    """Formerly accepted: from then on every search of the store failed, other lists included."""
    other = unit(rng, 5)
    store.create_list("other", model_id=MODEL, policy=ThresholdPolicy(fmr=1e-3, per="comparison"))
    store.add("other", entries(other))
    store.create_list("big", model_id=MODEL, policy=ThresholdPolicy(fmr=1e-6, per="search"))
    store.add("big", entries(unit(rng, 10)))
    with pytest.raises(WatchlistError, match=r"FPIR 1e-06 over 110 entries needs FMR 9\.09e-09"):
        store.add("big", entries(unit(rng, 100), prefix="Q"))
    assert store.info("big").entry_count == 10 and store.info("big").version == 2  # nothing changed
    store.refresh()
    assert [a.list_id for a in store.search(Template(other[0], MODEL))] == ["other"]


def test_policies_are_checked_at_create_and_change(store, wanted):
    store, _ = wanted
    with pytest.raises(WatchlistError, match="cannot apply to 0 entries"):
        store.create_list("wide", model_id=MODEL, policy=ThresholdPolicy(fmr=0.5, per="search"))
    assert "wide" not in [li.list_id for li in store.lists()]
    with pytest.raises(WatchlistError, match="FPIR 1e-07 over 200 entries"):
        store.update_list("wanted", policy=ThresholdPolicy(fmr=1e-7, per="search"))
    assert store.info("wanted").policy == ThresholdPolicy(fmr=1e-3, per="comparison")
    info = store.update_list("wanted", policy=ThresholdPolicy(fmr=1e-2, per="search"))
    store.refresh()
    assert info.version == 3 and store.snapshot("wanted").threshold == pytest.approx(
        0.40 + 0.1 * math.log10(2)
    )


def test_a_list_that_cannot_load_leaves_the_others_loading(store, rng, tmp_path):
    """A recalibrated manifest that no longer reaches a list's rate: that list alone is not loaded."""
    store.create_list("small", model_id=MODEL, policy=ThresholdPolicy(fmr=1e-3, per="comparison"))
    store.create_list("big", model_id=MODEL, policy=ThresholdPolicy(fmr=1e-2, per="search"))
    store.add("big", entries(unit(rng, 50)))
    vectors = unit(rng, 3)
    narrower = WatchlistStore(store.path, threshold_tables={MODEL: {1e-2: 0.20, 1e-3: 0.30}})
    with pytest.raises(ModelError, match=r"FPIR 0\.01 over 50 entries needs FMR 0\.0002"):
        narrower.refresh()
    narrower.add("small", entries(vectors))
    with pytest.raises(ModelError, match=r"FPIR 0\.01 over 50 entries"):
        narrower.refresh()
    assert narrower.snapshot("small").live_count == 3  # the new version of the other list is loaded
    assert len(narrower.search(Template(vectors[0], MODEL), lists=["small"])) == 1
    with pytest.raises(WatchlistError, match="watchlist 'big' cannot be searched"):
        narrower.search(Template(vectors[0], MODEL))  # never silently skipped


def test_per_search_thresholds_come_from_the_fpir_table_when_the_model_has_one(tmp_path, rng):
    search = SearchTable((1, 10, 100), {1e-3: (0.25, 0.33, 0.45), 1e-2: (0.2, 0.28, 0.36)}, verified_to=10)
    st = WatchlistStore(
        tmp_path / "wl", threshold_tables={MODEL: TABLE}, search_tables={MODEL: search}, create=True
    )
    st.create_list("L", model_id=MODEL)  # the default: FPIR 1e-3 per search
    st.add("L", entries(unit(rng, 10)))
    assert st.snapshot("L").threshold == pytest.approx(0.33)  # the union bound would say 0.40 (1e-4)
    st.add("L", entries(unit(rng, 90), prefix="Q"))
    st.refresh()
    assert st.snapshot("L").threshold == pytest.approx(0.45)
    with pytest.raises(WatchlistError, match=r"lists of 1\.\.100 entries, not 101"):
        st.add("L", entries(unit(rng, 1), prefix="R"))  # beyond the table: refused, nothing written
    assert st.info("L").entry_count == 100
    with pytest.raises(WatchlistError, match=r"FPIR 1e-05 is outside the calibrated range"):
        st.update_list("L", policy=ThresholdPolicy(fmr=1e-5))
    assert st.search_table(MODEL) is search


def test_default_policy_is_a_false_alarm_rate_per_search():
    assert ThresholdPolicy() == ThresholdPolicy(fmr=1e-3, per="search")
    assert ThresholdPolicy().comparison_fmr(1000) == pytest.approx(1e-6)


def test_threshold_interpolates_log_linearly():
    assert interpolate_threshold(TABLE, 10**-2.5) == pytest.approx(0.25)
    with pytest.raises(ModelError):
        interpolate_threshold(TABLE, 1e-9)


def test_expired_entries_and_lists_never_alert(store, rng):
    vectors = unit(rng, 3)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    store.create_list("missing", model_id=MODEL)
    store.add(
        "missing",
        [
            NewEntry("old", Template(vectors[0], MODEL), valid_until=now - timedelta(days=1)),
            NewEntry("current", Template(vectors[1], MODEL), valid_until="2026-06-01"),
            NewEntry("open", Template(vectors[2], MODEL)),
        ],
    )
    assert store.search(Template(vectors[0], MODEL), now=now) == []
    assert [a.external_ref for a in store.search(Template(vectors[1], MODEL), now=now)] == ["current"]
    assert store.search(Template(vectors[1], MODEL), now=now + timedelta(days=1)) == []
    # an expired entry that is the nearest neighbour must not hide a valid one behind it
    store.create_list("twins", model_id=MODEL, valid_until="2030-01-01")
    store.add(
        "twins",
        [
            NewEntry("expired", Template(vectors[2], MODEL), valid_until="2020-01-01"),
            NewEntry("valid", Template(mate(vectors[2], 0.9, rng).vector, MODEL)),
        ],
    )
    store.refresh()
    hits = store.search(Template(vectors[2], MODEL), lists=["twins"], top_k=1, now=now)
    assert [a.external_ref for a in hits] == ["valid"]
    assert store.search(Template(vectors[2], MODEL), lists=["twins"], now=datetime(2031, 1, 1)) == []


def test_several_lists_each_with_own_threshold(wanted, rng):
    store, vectors = wanted
    store.create_list("refused", model_id=MODEL, policy=ThresholdPolicy(score=0.7), severity="medium")
    store.add("refused", [NewEntry("R1", Template(vectors[5], MODEL))])
    store.refresh()
    probe = mate(vectors[5], 0.65, rng)
    alerts = store.search(probe)
    assert [(a.list_id, a.external_ref) for a in alerts] == [("wanted", "P00005")]
    probe = mate(vectors[5], 0.8, rng)
    assert {a.list_id for a in store.search(probe)} == {"wanted", "refused"}


def test_remove_and_replace_change_version_and_hash(wanted, rng):
    store, vectors = wanted
    before = store.info("wanted")
    assert store.remove("wanted", ["P00017"]) == 1
    after = store.info("wanted")
    assert after.version == before.version + 1 and after.content_hash != before.content_hash
    assert after.entry_count == 199
    store.refresh()
    assert store.search(Template(vectors[17], MODEL)) == []
    new = unit(rng, 1)[0]
    with pytest.raises(WatchlistError, match="already in list"):
        store.add("wanted", [NewEntry("P00018", Template(new, MODEL))])
    store.add("wanted", [NewEntry("P00018", Template(new, MODEL))], replace=True)
    store.refresh()
    assert store.search(Template(vectors[18], MODEL)) == []
    assert [a.external_ref for a in store.search(Template(new, MODEL))] == ["P00018"]
    with pytest.raises(WatchlistError, match="not in list"):
        store.remove("wanted", ["nobody"])


def test_content_hash_is_independent_of_history(tmp_path, rng):
    vectors = unit(rng, 20)
    a = WatchlistStore(tmp_path / "a", threshold_tables={MODEL: TABLE}, create=True)
    b = WatchlistStore(tmp_path / "b", threshold_tables={MODEL: TABLE}, create=True)
    for s in (a, b):
        s.create_list("L", model_id=MODEL)
    a.add("L", entries(vectors))
    b.add("L", entries(vectors[10:])[::-1] if False else [e for e in entries(vectors)][10:])
    b.add("L", entries(vectors)[:10])
    assert a.info("L").content_hash == b.info("L").content_hash
    assert a.info("L").version != b.info("L").version


def test_wrong_model_and_dimension_are_refused_and_list_kept(wanted, rng):
    store, vectors = wanted
    before = store.info("wanted")
    with pytest.raises(TemplateMismatchError, match="model"):
        store.add("wanted", [NewEntry("X", Template(unit(rng, 1)[0], "othernet@aaaaaaaaaaaa"))])
    with pytest.raises(TemplateMismatchError, match="dimension"):
        store.add("wanted", [NewEntry("X", Template(unit(rng, 1, dim=128)[0], MODEL))])
    with pytest.raises(TemplateMismatchError):
        store.search(Template(unit(rng, 1)[0], "othernet@aaaaaaaaaaaa"))
    with pytest.raises(TemplateMismatchError):
        store.search(Template(unit(rng, 1, dim=128)[0], MODEL))
    assert store.info("wanted") == before
    store.refresh()
    assert len(store.search(Template(vectors[0], MODEL))) == 1


def test_duplicate_refs_in_batch_are_refused(store, rng):
    store.create_list("L", model_id=MODEL)
    batch = entries(unit(rng, 3))
    batch.append(batch[0])
    with pytest.raises(WatchlistError, match="duplicate"):
        store.add("L", batch)
    assert store.info("L").entry_count == 0


def test_corrupt_index_is_a_clear_error_and_rebuild_restores(wanted, tmp_path, rng):
    store, vectors = wanted
    info = store.info("wanted")
    path = store.path / "indexes" / f"wanted.v{info.version}.faiss"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    fresh = WatchlistStore(store.path, threshold_tables={MODEL: TABLE})
    with pytest.raises(IndexCorruptError, match="rebuild"):
        fresh.refresh()
    with pytest.raises(IndexCorruptError):  # a change to a corrupt list is refused, entries kept
        fresh.remove("wanted", ["P00001"])
    assert fresh.info("wanted").entry_count == 200
    fresh.rebuild("wanted")
    fresh.refresh()
    assert [a.external_ref for a in fresh.search(Template(vectors[1], MODEL))] == ["P00001"]


def test_crash_before_commit_leaves_previous_version(wanted, rng, monkeypatch):
    store, vectors = wanted
    before = store.info("wanted")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(store, "_write_index", crash)
    with pytest.raises(OSError):
        store.add("wanted", entries(unit(rng, 5), prefix="N"))
    assert store.info("wanted") == before
    fresh = WatchlistStore(store.path, threshold_tables={MODEL: TABLE})
    assert len(fresh.search(Template(vectors[0], MODEL))) == 1
    assert fresh.info("wanted").entry_count == 200


def test_reader_keeps_old_snapshot_until_refresh(wanted, rng):
    store, vectors = wanted
    store.refresh()
    writer = WatchlistStore(store.path, threshold_tables={MODEL: TABLE})
    writer.remove("wanted", ["P00000"])
    old = store.snapshot("wanted")
    assert len(store.search(Template(vectors[1], MODEL))) == 1  # still the old version, other entries fine
    store.refresh()
    assert store.snapshot("wanted").version == old.version + 1
    assert store.search(Template(vectors[0], MODEL)) == []


def test_concurrent_search_during_updates(wanted, rng):
    store, vectors = wanted
    store.refresh()
    writer = WatchlistStore(store.path, threshold_tables={MODEL: TABLE})
    errors: list[BaseException] = []
    stop = threading.Event()

    def searcher() -> None:
        try:
            while not stop.is_set():
                hits = store.search(Template(vectors[42], MODEL))
                assert [a.external_ref for a in hits] == ["P00042"]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(5):
        writer.add("wanted", entries(unit(rng, 20), prefix=f"U{i}_"))
        store.refresh()
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert store.snapshot("wanted").live_count == 300


def test_large_lists_use_pq_scan_with_exact_rescoring(tmp_path, rng):
    store = WatchlistStore(tmp_path / "pq", threshold_tables={MODEL: TABLE}, exact_max=500, create=True)
    vectors = unit(rng, 800)
    store.create_list("L", model_id=MODEL, policy=ThresholdPolicy(fmr=1e-3, per="comparison"))
    store.add("L", entries(vectors[:400]))
    assert store.info("L").index_kind == "flat"
    store.add("L", entries(vectors[400:], prefix="Q"))  # crosses exact_max: rebuilt as PQ
    assert store.info("L").index_kind == "pq"
    probe = mate(vectors[650], 0.55, rng)
    alerts = store.search(probe)
    assert [a.external_ref for a in alerts] == ["Q00250"]
    assert alerts[0].score == pytest.approx(0.55, abs=1e-4)  # exact score, not the PQ approximation
    store.remove("L", ["Q00250"])  # real removal from both parts
    store.refresh()
    assert store.search(probe) == [] and store.snapshot("L").index.ntotal == 799
    measured = list_recall(store, "L", probes=100)
    assert (measured.index, measured.probes) == ("pq", 100)
    assert measured.recall_at_1 >= 0.98
    store.remove("L", [f"P{i:05d}" for i in range(300)])  # back under exact_max -> exact index
    assert store.info("L").index_kind == "flat"


def test_encrypted_store_needs_its_key(tmp_path, rng):
    key = bytes(range(32))
    store = WatchlistStore(tmp_path / "enc", key=key, threshold_tables={MODEL: TABLE}, create=True)
    vectors = unit(rng, 5)
    store.create_list("L", model_id=MODEL)
    store.add("L", entries(vectors))
    raw = (tmp_path / "enc" / "watchlists.db").read_bytes()
    assert vectors[0].astype("<f4").tobytes()[:64] not in raw
    assert [a.external_ref for a in store.search(Template(vectors[2], MODEL))] == ["P00002"]
    other = WatchlistStore(tmp_path / "enc", key=bytes(32), threshold_tables={MODEL: TABLE}, create=True)
    with pytest.raises(Exception, match="wrong key"):
        other.refresh()


def test_bad_list_parameters(store):
    with pytest.raises(WatchlistError):
        store.create_list("../etc", model_id=MODEL)
    with pytest.raises(ValueError):
        ThresholdPolicy(fmr=2.0)
    store.create_list("L", model_id=MODEL)
    with pytest.raises(WatchlistError, match="already exists"):
        store.create_list("L", model_id=MODEL)
    with pytest.raises(WatchlistError, match="no watchlist"):
        store.add("nope", [])


@pytest.mark.parametrize("kind", ["flat", "pq"])
def test_excluded_entries_never_hide_valid_ones(kind, rng):
    vectors = unit(rng, 600)
    near = mate(vectors[0], 0.9, rng).vector
    vectors[1:40] = np.stack([mate(vectors[0], 0.95, rng).vector for _ in range(39)])  # 39 closer decoys
    index = wl_index.build(np.arange(600, dtype=np.int64), vectors, kind)
    index.add(np.array([600], dtype=np.int64), near[None])
    excluded = np.arange(0, 40, dtype=np.int64)  # e.g. expired: the mate itself and all the decoys
    scores, ids = index.search(vectors[0][None], 3, excluded=excluded)
    assert ids[0, 0] == 600 and not set(ids[0]) & set(excluded.tolist())
    assert scores[0, 0] == pytest.approx(0.9, abs=1e-4)


def test_policy_command_changes_or_refuses_with_one_line(tmp_path, monkeypatch, capsys):
    st = ["watchlist", "--store", str(tmp_path / "wl")]

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["matcher", *st, *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    assert run("create", "L")[0] == 0
    code, out, _ = run("info", "L", "--json")
    assert json.loads(out)[0]["policy"] == {"fmr": 1e-3, "per": "search", "score": None}
    code, out, _ = run("policy", "L", "--fmr", "0.01")
    assert code == 0 and "policy FPIR 0.01 per search, threshold" in out and "version 2" in out
    code, out, _ = run("policy", "L", "--fmr", "0.01", "--category-fmr", "wanted=0.05")
    assert code == 0 and "(wanted: FPIR 0.05 per search), threshold" in out and ", wanted 0." in out
    code, _, err = run("policy", "L", "--category-fmr", "wanted")
    assert code == 2 and "CATEGORY=RATE" in err
    code, out, err = run("policy", "L", "--fmr", "1e-12", "--per", "comparison")
    assert code == 2 and err.startswith("error: list 'L': policy FMR 1e-12 per comparison") and not out
    code, out, _ = run("info", "L", "--json")
    assert json.loads(out)[0]["policy"]["fmr"] == 0.01 and json.loads(out)[0]["version"] == 3
    row = json.loads(out)[0]
    assert row["comparison_fmr"] is None  # per search: the manifest's FPIR model, not a union bound
    assert row["threshold_basis"].startswith("per-probe FPIR model, checked on real galleries up to")


def test_a_category_with_its_own_rate_gets_its_own_threshold(store, rng):
    policy = ThresholdPolicy(fmr=1e-3, per="search", categories={"wanted": 1e-2})
    assert ThresholdPolicy(**json.loads(policy.to_json())) == policy  # as bundles carry it
    assert ThresholdPolicy.from_json(policy.to_json()) == policy
    store.create_list("L", model_id=MODEL, policy=policy)
    missing, wanted = unit(rng, 10), unit(rng, 10)
    store.add(
        "L", entries(missing, prefix="M", category="missing") + entries(wanted, prefix="W", category="wanted")
    )
    snap = store.snapshot("L")
    # 1e-3 over the 10 other entries -> 1e-4 -> 0.40; 'wanted': 1e-2 over its 10 -> 1e-3 -> 0.30
    assert snap.threshold == pytest.approx(0.40) and snap.category_thresholds == {
        "wanted": pytest.approx(0.30)
    }
    alerts = store.search(mate(wanted[3], 0.35, rng))
    assert [(a.external_ref, a.threshold) for a in alerts] == [("W00003", pytest.approx(0.30))]
    assert store.search(mate(missing[3], 0.35, rng)) == []  # the same score is no alert for 'missing'
    with pytest.raises(WatchlistError, match="category 'wanted': FPIR 1e-08 over 10 entries"):
        store.update_list("L", policy=ThresholdPolicy(fmr=1e-3, per="search", categories={"wanted": 1e-8}))
    with pytest.raises(ValueError, match="fixed score"):
        ThresholdPolicy(score=0.5, categories={"wanted": 1e-2})
