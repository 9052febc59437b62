"""Calibration maths on synthetic scores and embeddings with known answers (no models, no shared data)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from matcher.lab.calibrate import calibrate_embeddings
from matcher.lab.embed_cache import Embeddings as Emb
from matcher.lab.evaluate import best_threshold, kfold_accuracy
from matcher.lab.lfw import LfwDataset
from matcher.lab.scores import (
    ImpostorTally,
    clopper_pearson,
    genuine_pair_count,
    genuine_scores,
    identity_folds,
    impostor_tally,
    system_fnmr,
    threshold_from_top,
)
from matcher.models import DEFAULT_MANIFEST, fmr_key, interpolate_threshold, load_manifest, set_thresholds


def test_threshold_allows_exactly_floor_fmr_n_false_matches() -> None:
    scores = np.arange(10_000, dtype=np.float32) / 10_000  # distinct, known order
    tally = ImpostorTally.from_scores(scores)
    for fmr in (1e-2, 1e-3, 1e-4, 3.3e-3):
        t = tally.threshold(fmr)
        allowed = math.floor(fmr * len(scores))
        assert int(np.count_nonzero(scores >= t)) == allowed
        assert tally.false_matches(t) == allowed
    # Midway between the neighbouring scores: 10 false matches allowed at 1e-3, the 10th largest is 0.9990.
    assert tally.threshold(1e-3) == pytest.approx((0.9990 + 0.9989) / 2, abs=1e-6)


def test_threshold_with_ties_never_exceeds_the_rate() -> None:
    scores = np.array([0.9] * 5 + [0.5] * 995, dtype=np.float32)
    t = threshold_from_top(np.sort(scores)[::-1], len(scores), 1e-3)  # one false match allowed, five tied
    assert np.count_nonzero(scores >= t) <= 1


def test_threshold_recovers_known_gaussian_quantiles() -> None:
    rng = np.random.default_rng(7)
    scores = rng.normal(0.0, 0.1, 2_000_000).astype(np.float32)
    tally = ImpostorTally.from_scores(scores)
    for fmr in (1e-2, 1e-3, 1e-4):
        expected = 0.1 * norm.isf(fmr)
        # Sampling error of a quantile: sqrt(p(1-p)/n) / density, at a 4-sigma tolerance.
        sd = math.sqrt(fmr * (1 - fmr) / len(scores)) / (norm.pdf(norm.isf(fmr)) / 0.1)
        assert tally.threshold(fmr) == pytest.approx(expected, abs=4 * sd)


def _synthetic(people: int, per_person: int, dim: int = 32, noise: float = 0.9, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, dim))
    identity = np.repeat(np.arange(people), per_person).astype(np.int32)
    vectors = centres[identity] + noise * rng.normal(size=(len(identity), dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32), identity


def test_blockwise_impostor_tally_equals_brute_force(monkeypatch: pytest.MonkeyPatch) -> None:
    import matcher.lab.scores as cal

    vectors, identity = _synthetic(60, 5)
    identity[::7] = 59  # uneven identity sizes
    members = np.ones(len(identity), dtype=bool)
    members[::11] = False
    monkeypatch.setattr(cal, "_BLOCK_ROWS", 17)  # many blocks, ragged last one
    tally = impostor_tally(vectors, identity, members, max_fmr=0.05)

    idx = np.flatnonzero(members)
    sims = vectors[idx] @ vectors[idx].T
    iu = np.triu_indices(len(idx), k=1)
    brute = sims[iu][identity[idx][iu[0]] != identity[idx][iu[1]]]
    assert tally.count == len(brute) == int(tally.hist.sum())
    assert np.allclose(tally.top, np.sort(brute)[::-1][: len(tally.top)], atol=1e-6)
    assert len(tally.top) >= math.floor(0.05 * len(brute)) + 1
    for fmr in (0.05, 0.01, 0.001):
        assert tally.threshold(fmr) == pytest.approx(
            ImpostorTally.from_scores(brute, max_fmr=0.05).threshold(fmr)
        )

    gen = genuine_scores(vectors, identity, members)
    same = identity[idx][iu[0]] == identity[idx][iu[1]]
    assert np.allclose(np.sort(gen), np.sort(sims[iu][same]), atol=1e-6)


def test_failed_enrolments_count_as_false_non_matches() -> None:
    genuine = np.array([0.9, 0.8, 0.2, 0.7], dtype=np.float32)
    assert system_fnmr(genuine, 0, 0.5) == pytest.approx(1 / 4)
    assert system_fnmr(genuine, 4, 0.5) == pytest.approx(5 / 8)
    identity = np.array([0, 0, 0, 1, 1, 2])
    assert genuine_pair_count(identity, np.ones(6, bool)) == 3 + 1
    assert genuine_pair_count(identity, np.array([1, 1, 0, 1, 1, 1], bool)) == 1 + 1


def test_identity_folds_are_stable_and_balanced() -> None:
    names = tuple(f"Person_{i}" for i in range(5000))
    folds = identity_folds(names, 5, seed=0)
    assert np.array_equal(folds, identity_folds(names, 5, seed=0))
    assert np.array_equal(folds[::-1], identity_folds(names[::-1], 5, seed=0))  # by name, not by position
    assert np.all(np.abs(np.bincount(folds) - 1000) < 100)
    assert not np.array_equal(folds, identity_folds(names, 5, seed=1))


def test_clopper_pearson_known_values() -> None:
    low, high = clopper_pearson(0, 3)
    assert low == 0.0 and high == pytest.approx(0.7076, abs=1e-4)
    low, high = clopper_pearson(10, 10_000)
    assert low < 1e-3 < high and high - low < 2e-3


def test_best_threshold_and_kfold_accuracy() -> None:
    rng = np.random.default_rng(3)
    same = np.repeat([True, False], 3000)
    scores = np.where(same, rng.normal(1.0, 0.5, 6000), rng.normal(-1.0, 0.5, 6000))
    t = best_threshold(scores, same)
    assert abs(t) < 0.1  # equal priors and spreads: the optimum is midway
    acc, std, folds = kfold_accuracy(scores, same, np.arange(6000) % 10)
    assert acc == pytest.approx(norm.cdf(2.0), abs=0.01) and len(folds) == 10 and std < 0.02
    separable = np.where(same, 0.9, 0.1)
    assert kfold_accuracy(separable, same, np.arange(6000) % 10)[0] == 1.0


def _dataset(identity: np.ndarray) -> LfwDataset:
    names = tuple(f"P{i:04d}" for i in range(identity.max() + 1))
    return LfwDataset(
        Path("synthetic"), names, tuple(Path(f"{i}.jpg") for i in range(len(identity))), identity, {}
    )


def test_calibration_holds_on_held_out_people() -> None:
    vectors, identity = _synthetic(1000, 4, dim=24, noise=0.8, seed=11)
    status = ["ok"] * len(identity)
    status[5] = "NO_FACE"
    vectors[5] = 0
    emb = Emb(vectors, tuple(status), (None,) * len(status), "synthetic@0", {}, 0, 0.0)
    dataset = _dataset(identity)
    dataset = LfwDataset(dataset.root, dataset.names, dataset.images, identity, {})
    result = calibrate_embeddings(dataset, emb, folds=2, repeats=3, replicates=20)
    assert result.enrolment_failures == {"NO_FACE": 1}
    assert result.genuine_pairs == 1000 * 6
    assert result.impostor_pairs == (3999 * 3998 - 999 * 12 - 3 * 2) // 2
    thresholds = [result.curve[f] for f in sorted(result.curve, reverse=True)]
    assert thresholds == sorted(thresholds) and max(result.curve) == 0.1
    checked = [f for f in result.held_out if result.testable(f)]
    assert 1e-4 in checked
    for f in checked:  # exchangeable synthetic people: thresholds fitted on some hold on the others
        assert 0.5 <= result.held_out[f].ratio <= 2.0, (f, result.held_out[f])
    for f, (lo, hi) in result.bounds.items():
        if f >= result.empirical_to:  # read off the data: the bootstrap interval holds the estimate
            assert lo <= result.curve[f] <= hi
    # The failed image's three genuine pairs are false non-matches: FNMR is at least 3 / 6000.
    assert all(v >= 3 / 6000 for v in result.fnmr.values())
    meta = result.manifest_meta()
    assert set(meta["bounds90"]) == {fmr_key(f) for f in result.curve}
    written = json.loads(json.dumps(result.as_dict()))  # --json output
    assert written["curve"] == {fmr_key(f): t for f, t in result.curve.items()}


def test_manifest_round_trip_and_interpolation(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    shutil.copy(DEFAULT_MANIFEST, manifest)
    embedder = load_manifest(manifest, verify=False).defaults["embedder"]
    table = {1e-2: 0.20, 1e-3: 0.30, 1e-4: 0.40}
    set_thresholds(embedder, table, {"dataset": "synthetic", "flip_fusion": False}, path=manifest)
    written = json.loads(manifest.read_text())["models"][embedder]["thresholds"]
    assert written["fmr"] == {"0.01": 0.2, "0.001": 0.3, "0.0001": 0.4}
    assert written["dataset"] == "synthetic"
    spec = load_manifest(manifest, verify=False).get(embedder)
    assert interpolate_threshold(spec.thresholds["fmr"], 1e-3) == pytest.approx(0.30)
    # Log-linear: half-way in log10 between 1e-3 and 1e-4 is half-way in score.
    assert interpolate_threshold(spec.thresholds["fmr"], 10**-3.5) == pytest.approx(0.35)
    with pytest.raises(ValueError, match="outside the calibrated range"):
        interpolate_threshold(spec.thresholds["fmr"], 1e-5)
