"""bench-search machinery at toy sizes: the generator keeps real statistics, recall is measured."""

from __future__ import annotations

import json
import sys

import numpy as np

from matcher.cli import main
from matcher.lab.watchlist_bench import TemplateModel, bench_size, real_identity_bench
from matcher.watchlist import index as wl_index
from matcher.watchlist.policy import ThresholdPolicy


def _clustered(rng: np.random.Generator, n_ids: int = 300, per_id: int = 3, dim: int = 64):
    """Anisotropic 'real-like' data: identities on a low-variance subspace plus per-image noise."""
    scale = np.linspace(2.0, 0.1, dim, dtype=np.float32)
    centres = rng.standard_normal((n_ids, dim)).astype(np.float32) * scale + 1.0
    vectors = np.repeat(centres, per_id, axis=0) + 0.6 * rng.standard_normal((n_ids * per_id, dim)).astype(
        np.float32
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, np.repeat(np.arange(n_ids), per_id)


def test_fitted_generator_reproduces_score_statistics(rng):
    vectors, identity = _clustered(rng)
    model = TemplateModel.fit(vectors, identity, "toy")
    real_ids = vectors[::3]
    fake = model.identities(300, rng)
    real_scores = (real_ids @ real_ids.T)[np.triu_indices(300, 1)]
    fake_scores = (fake @ fake.T)[np.triu_indices(300, 1)]
    assert abs(real_scores.mean() - fake_scores.mean()) < 0.05
    assert abs(real_scores.std() - fake_scores.std()) < 0.05
    probes, cos = model.mates(fake[:50], rng)
    np.testing.assert_allclose(np.sum(probes * fake[:50], axis=1), cos, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(probes, axis=1), 1.0, atol=1e-5)


def test_bench_rows_measure_recall_against_exact(rng):
    rows = bench_size(
        TemplateModel.isotropic(64),
        2000,
        n_queries=60,
        k_factors=(1, 20),
        pq=wl_index.PqParams(m=8),
        seed=1,
        exact_queries=10,
        log=lambda s: None,
    )
    exact, low, high = rows
    assert exact.index == "exact" and exact.recall_at_1_mated == 1.0 and exact.recall_at_10_nonmated == 1.0
    assert exact.mate_at_1 == 1.0  # mated probes are at cosine >= 0.3 in 64-d: the mate ranks first
    assert low.recall_at_10_nonmated < 1.0  # no re-ranking margin on coarse codes misses neighbours: measured
    assert high.recall_at_10_nonmated > low.recall_at_10_nonmated
    assert 1.0 <= high.memory_ratio < 2.0


def test_cli_bench_search_json(monkeypatch, capsys):
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "matcher",
            "bench-search",
            "--sizes",
            "1000",
            "--source",
            "random",
            "--queries",
            "20",
            "--exact-queries",
            "5",
            "--k-factor",
            "10",
            "--pq-m",
            "8",
            "--json",
        ],
    )
    main()
    data = json.loads(capsys.readouterr().out)
    assert data["source"].startswith("random unit vectors")
    assert [r["index"] for r in data["rows"]] == ["exact", "pq"]


def _clustered_people(n_people: int, per: int, dim: int = 256, noise: float = 0.5, seed: int = 0):
    rng = np.random.default_rng(seed)
    identity = np.repeat(np.arange(n_people), per)
    v = rng.standard_normal((n_people, dim))[identity] + noise * rng.standard_normal((n_people * per, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32), identity


def test_real_identity_bench_counts_mated_and_non_mated_searches():
    vectors, identity = _clustered_people(300, 3)
    usable = np.ones(len(identity), bool)
    model = TemplateModel.isotropic(256)
    common = dict(sizes=(100,), enrolled=100, splits=2, log=lambda s: None)
    (loose,) = real_identity_bench(
        vectors, identity, usable, {}, model, policy=ThresholdPolicy(score=0.5), **common
    )
    # 100 enrolled people with 2 more images each, 200 people not enrolled with 3 images each, per split.
    assert (loose.mated_searches, loose.nonmated_searches) == (2 * 200, 2 * 600)
    assert loose.fnir == 0.0 and loose.false_alarms == 0  # mates score ~0.8, strangers ~0 +- 0.06
    (strict,) = real_identity_bench(
        vectors, identity, usable, {}, model, policy=ThresholdPolicy(score=0.99), **common
    )
    assert strict.fnir == 1.0 and strict.fnir_at_fpir == {"0.003": 0.0, "0.01": 0.0}
    assert 0.1 < strict.threshold_at_fpir["0.003"] < 0.5
    usable[identity == 7] = False
    (filled,) = real_identity_bench(
        vectors,
        identity,
        usable,
        {},
        model,
        policy=ThresholdPolicy(score=0.5),
        sizes=(2000,),
        enrolled=100,
        splits=1,
        exact_max=1000,
        log=lambda s: None,
    )
    assert filled.index == "pq" and filled.entries == 2000 and 0.9 <= filled.recall_at_1 <= 1.0
    # synthetic fillers never false-alarm like real people: no FPIR is claimed for a filled list
    assert filled.synthetic_fillers == 1900 and filled.fpir is None and filled.false_alarms is None
    assert filled.fnir is not None
    assert filled.nonmated_searches + filled.mated_searches == 299 * 3 - 100


def test_real_identity_bench_reports_a_size_the_policy_refuses():
    vectors, identity = _clustered_people(300, 3)
    lines: list[str] = []
    (row,) = real_identity_bench(
        vectors,
        identity,
        np.ones(len(identity), bool),
        {1e-2: 0.2, 1e-3: 0.3},  # FPIR 1e-3 over 100 entries needs 1e-5 per comparison: not calibrated
        TemplateModel.isotropic(256),
        sizes=(100,),
        enrolled=100,
        splits=1,
        log=lines.append,
    )
    assert row.threshold is None and row.fpir is None and row.fnir is None
    assert row.fnir_at_fpir["0.01"] == 0.0  # the fixed-score figures do not depend on the policy
    assert "outside the calibrated range" in lines[0] and "refused at this size" in lines[1]


def test_recall_measures_on_the_probes_given(tmp_path, rng, monkeypatch, capsys):
    """`watchlist recall --probes-from`: the templates in the folder are the probes, and the output says what
    the probes were; a template of another model is refused."""
    from wl_helpers import MODEL, entries, mate, unit

    from matcher.lab.watchlist_bench import SYNTHETIC_PROBES, list_recall
    from matcher.types import Template
    from matcher.watchlist import WatchlistStore

    store = WatchlistStore(tmp_path / "wl", create=True, exact_max=500)
    vectors = unit(rng, 800)
    store.create_list("L", model_id=MODEL, policy=ThresholdPolicy(fmr=None, score=0.4))  # no calibration
    store.add("L", entries(vectors))
    assert store.info("L").index_kind == "pq"
    probes = tmp_path / "probes"
    probes.mkdir()
    for i in range(30):
        (probes / f"p{i}.tpl").write_bytes(mate(vectors[i], 0.5, rng).to_bytes())
    (probes / "notes.txt").write_text("ignored")
    given = np.stack([Template.from_bytes(p.read_bytes()).vector for p in sorted(probes.glob("*.tpl"))])
    measured = list_recall(store, "L", queries=given)
    assert measured.probes == 30 and measured.probe_source.startswith("real")
    assert list_recall(store, "L", probes=50).probe_source == SYNTHETIC_PROBES

    monkeypatch.setattr(
        sys, "argv", ["matcher", "watchlist", "--store", str(tmp_path / "wl"), "recall", "L", "--json",
                      "--probes-from", str(probes)]
    )  # fmt: skip
    main()
    out = json.loads(capsys.readouterr().out)
    assert (out["probes"], out["recall_at_1"], out["skipped"]) == (30, measured.recall_at_1, [])
    (probes / "other.tpl").write_bytes(Template(vectors[0], "othernet@00").to_bytes())
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    assert code != 0 and "template of model othernet@00" in capsys.readouterr().err
