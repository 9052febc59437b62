"""The FMR curve (matcher.lab.fmr_curve) on synthetic data with known answers: weighted pool, empirical
points, fitted tail, bootstrap bounds and the held-out check (no models, no shared data)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import genpareto

import matcher.lab.fmr_curve as fc
from matcher.lab.scores import identity_folds


def _people(n_people: int, sizes: np.ndarray, dim: int = 24, noise: float = 0.8, seed: int = 0):
    rng = np.random.default_rng(seed)
    identity = np.repeat(np.arange(n_people), sizes).astype(np.int32)
    vectors = rng.normal(size=(n_people, dim))[identity] + noise * rng.normal(size=(len(identity), dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32), identity


def test_weighted_pool_equals_brute_force(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes = np.array([12, 1, 3, 7, 1, 2, 5, 9] * 5)
    vectors, identity = _people(len(sizes), sizes)
    members = np.ones(len(identity), bool)
    members[::13] = False
    monkeypatch.setattr(fc, "_BLOCK_ROWS", 17)  # many blocks, ragged last one
    pool = fc.impostor_pool(vectors, identity, members, cap=5, max_fmr=1.0, same_person=[(0, 3)])

    idx = np.flatnonzero(members)
    ids = identity[idx]
    counts = np.bincount(ids, minlength=len(sizes))
    w = np.minimum(1.0, 5 / np.maximum(counts, 1))
    i, j = np.triu_indices(len(idx), k=1)
    a, b = ids[i], ids[j]
    keep = (a != b) & ~(((a == 0) & (b == 3)) | ((a == 3) & (b == 0)))
    scores = np.einsum("ij,ij->i", vectors[idx[i]], vectors[idx[j]])[keep]
    weights = (w[a] * w[b])[keep]
    tail = pool.tail()
    assert pool.pairs == int(keep.sum())
    assert tail.total == pytest.approx(weights.sum())
    for t in (0.0, 0.2, 0.5):
        assert tail.count(t) == pytest.approx(weights[scores >= t].sum(), rel=1e-9)
    # Each person weighs at most 5 images: the 12-image person's images weigh 5/12 each.
    assert pool.person_weight[0] == pytest.approx(min(counts[0], 5))


def test_empirical_points_let_through_at_most_the_target_weight() -> None:
    rng = np.random.default_rng(1)
    scores = np.sort(rng.normal(0, 0.1, 200_000).astype(np.float32))[::-1]
    tail = fc.WeightedTail(scores, np.arange(1, len(scores) + 1, dtype=np.float64), float(len(scores)), -1.0)
    for f in (1e-2, 1e-3, 1e-4):
        t = tail.empirical(f)
        assert t is not None
        assert int(np.count_nonzero(scores >= t)) == math.floor(f * len(scores))


def test_tail_fit_extrapolates_a_known_generalised_pareto_tail(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scores whose Fisher z beyond 0.3 follows a GPD (shape 0.2, scale 0.03) with rate 1e-3: the curve
    read off 1e-3..5e-6 and fitted below holds the true rate within 25% down to 5e-8. The fit is given
    2,000 exceedances here to test the maths; the shipped 50 trade variance for a fit nearest the tail."""
    monkeypatch.setattr(fc, "TAIL_COUNT", 2000.0)
    rng = np.random.default_rng(5)
    n = 4_000_000
    body = rng.uniform(-0.3, 0.3, n - 4000)
    z = 0.3 + genpareto.rvs(0.2, scale=0.03, size=4000, random_state=rng)
    scores = np.sort(np.concatenate([body, np.tanh(z)]).astype(np.float32))[::-1]
    tail = fc.WeightedTail(scores, np.arange(1, n + 1, dtype=np.float64), float(n), -1.0)
    c = fc.curve(tail)
    assert min(c) < 1e-6  # reached by the fit: 20 / 4e6 = 5e-6 is the last empirical point
    for f, t in c.items():
        if f < 1e-3:  # the true rate at the curve's threshold, within a factor 2 of the target
            true = 1e-3 * genpareto.sf(math.atanh(t) - 0.3, 0.2, scale=0.03)
            assert 0.8 <= true / f <= 1.25, (f, true)
    values = [c[f] for f in sorted(c, reverse=True)]
    assert values == sorted(values)  # never decreasing as the FMR falls
    assert math.log10(min(f for f in c if f * n >= fc.MIN_COUNT) / min(c)) <= fc.MAX_EXTRAPOLATION + 1e-9


def test_held_out_rates_stay_within_a_factor_two_on_exchangeable_people() -> None:
    sizes = np.random.default_rng(2).integers(1, 6, 3000)
    vectors, identity = _people(len(sizes), sizes, dim=24, noise=0.9, seed=3)
    pool = fc.impostor_pool(vectors, identity, np.ones(len(identity), bool))
    names = tuple(f"P{i}" for i in range(len(sizes)))
    held = fc.held_out(pool, [identity_folds(names, 2, seed) for seed in range(3)])
    checked = [h for h in held.values() if h.expected / 3 >= 10]
    assert len(checked) >= 10
    for h in checked:
        assert 0.5 <= h.ratio <= 2.0, (h.fmr, h.ratio)
    bounds = fc.bootstrap_bounds(pool, list(fc.curve(pool.tail()))[:8], replicates=30)
    for f, (lo, hi) in bounds.items():
        assert lo <= fc.curve(pool.tail())[f] <= hi
