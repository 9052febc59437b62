"""False match rate curve: the score threshold for each target FMR on a log grid, with confidence bounds.

Impostor pairs are weighted per person: each image of a person with ``n`` images weighs ``min(1, cap / n)``
and a pair weighs the product, so every person counts as at most ``cap`` images (George W Bush's 530 lfw-dev
images would otherwise make 11% of all impostor pairs) while every one of the ~45 million pairs of lfw-dev
still contributes. The FMR at threshold ``t`` is the weight of the impostor pairs scoring ``>= t`` over the
total weight.

- Where the weighted count of false matches is at least ``MIN_COUNT``, the threshold is read directly off
  the sorted impostor scores (midway between the neighbouring scores).
- Below that, a generalised Pareto distribution (GPD) fitted by weighted maximum likelihood to the Fisher-z
  (``atanh``) transformed scores above the ``TAIL_COUNT`` highest (weighted) impostor scores. Fisher z maps
  the bounded cosine to the real line, so the fitted tail cannot put mass beyond a score of 1; the logit of
  ``(1 + s) / 2`` is ``2 atanh(s)``, the same fit up to scale. The fit uses only the extreme tail because
  the lfw-dev tail is a mixture: look-alikes make the body (GPD shape about 0.1 above the 1e-3 point), twins
  and people listed under two names (Joseph and Sepp Blatter, Nan Wang and Wang Nan) make the top 1e-5 much
  heavier (shape about 1); a tail fitted on the body under-predicts the false matches beyond 1e-6.
- The fitted tail is used at most ``MAX_EXTRAPOLATION`` decades past the last empirical point.
- Bounds: percentiles of the curve over identity bootstrap replicates (people, not pairs, are resampled:
  pairs sharing a person are not independent).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

GRID = tuple(round(10 ** (-k / 4), 12) for k in range(4, 33))  # 1e-1 .. 1e-8, four points per decade
MIN_COUNT = 20.0  # weighted false matches for a threshold read directly off the data
TAIL_COUNT = 50.0  # weighted exceedances the tail fit uses (chosen by identity-disjoint 2-fold checks)
MIN_TAIL_PAIRS = 30  # distinct pairs the tail fit needs at least
MAX_EXTRAPOLATION = 2.0  # decades of FMR past the last empirical point the fit may reach
DEFAULT_CAP = 5
_BLOCK_ROWS = 1024


@dataclass(frozen=True)
class ImpostorPool:
    """Every impostor pair scoring at least ``floor``, best first, with the identities on both sides.

    ``image_weight[i]``: weight of each image of identity ``i``; ``person_weight[i]``: total weight of its
    enrolled images (``images * image_weight``)."""

    scores: np.ndarray  # float32, descending
    a: np.ndarray  # int32 identity of one side
    b: np.ndarray  # int32 identity of the other side
    image_weight: np.ndarray
    person_weight: np.ndarray
    floor: float
    pairs: int  # every impostor pair, pooled or not
    excluded: np.ndarray  # (k, 2) identity pairs left out: the same person under two names

    def tail(self, people: np.ndarray | None = None, multiplicity: np.ndarray | None = None) -> WeightedTail:
        """The pool restricted to pairs between ``people`` (boolean over identities), each person counted
        ``multiplicity`` times (a bootstrap replicate); the total weight covers all their pairs."""
        m = np.ones(len(self.person_weight)) if multiplicity is None else multiplicity.astype(np.float64)
        if people is not None:
            m = m * people
        s = m * self.person_weight
        total = (s.sum() ** 2 - (s**2).sum()) / 2
        if len(self.excluded):
            total -= float((s[self.excluded[:, 0]] * s[self.excluded[:, 1]]).sum())
        w = self.image_weight
        weights = w[self.a] * w[self.b] * m[self.a] * m[self.b]
        keep = weights > 0
        return WeightedTail(self.scores[keep], np.cumsum(weights[keep]), float(total), self.floor)


@dataclass(frozen=True)
class WeightedTail:
    """Impostor scores (descending) with the cumulative weight of the pairs at or above each."""

    scores: np.ndarray
    cum: np.ndarray
    total: float
    floor: float

    def count(self, threshold: float) -> float:
        """Weighted false matches at ``threshold`` (score >= threshold matches)."""
        if threshold < self.floor:
            raise ValueError(f"threshold {threshold:g} is below the pooled scores (>= {self.floor:g})")
        n = int(np.searchsorted(-self.scores, -threshold, side="right"))
        return float(self.cum[n - 1]) if n else 0.0

    def fmr(self, threshold: float) -> float:
        return self.count(threshold) / self.total

    def empirical(self, fmr: float) -> float | None:
        """Threshold letting at most ``fmr * total`` weight of false matches through; None when the pool
        does not reach that rate."""
        j = int(np.searchsorted(self.cum, fmr * self.total * (1 + 1e-12), side="right"))
        if j >= len(self.scores):
            return None
        below = float(self.scores[j])
        if j == 0:
            return below + 1e-6
        above = float(self.scores[j - 1])
        if above > below:
            return (above + below) / 2
        return float(np.nextafter(np.float32(below), np.float32(2.0)))


@dataclass(frozen=True)
class TailFit:
    """GPD over Fisher-z scores above ``u``: P(score >= t) = rate * (1 + shape * (z(t) - z(u)) / scale) ^
    (-1 / shape)."""

    u: float
    rate: float
    shape: float
    scale: float
    exceedances: int

    def threshold(self, fmr: float) -> float:
        zu = math.atanh(self.u)
        ratio = fmr / self.rate
        if abs(self.shape) < 1e-6:
            z = zu - self.scale * math.log(ratio)
        else:
            z = zu + self.scale / self.shape * (ratio ** (-self.shape) - 1)
            if self.shape < 0:
                z = min(z, zu - self.scale / self.shape)  # the fitted upper end point
        return min(1.0, math.tanh(z))


def fit_tail(tail: WeightedTail) -> TailFit | None:
    """Weighted GPD fit to the Fisher-z scores above the ``TAIL_COUNT`` highest weighted scores."""
    u = tail.empirical(TAIL_COUNT / tail.total) if tail.total > 0 else None
    if u is None:
        return None
    n = int(np.searchsorted(-tail.scores, -u, side="left"))
    if n < MIN_TAIL_PAIRS:
        return None
    weights = np.diff(np.concatenate([[0.0], tail.cum[:n]]))
    y = np.arctanh(np.clip(tail.scores[:n].astype(np.float64), -0.999999, 0.999999)) - math.atanh(u)
    y = np.maximum(y, 1e-9)
    wsum = weights.sum()

    def nll(params: np.ndarray) -> float:
        shape, scale = float(params[0]), math.exp(float(params[1]))
        if abs(shape) < 1e-6:
            return float((weights * (math.log(scale) + y / scale)).sum())
        q = 1 + shape * y / scale
        if np.any(q <= 0):
            return 1e300
        return float((weights * (math.log(scale) + (1 + 1 / shape) * np.log(q))).sum())

    start = np.array([0.1, math.log(float((weights * y).sum() / wsum) + 1e-9)])
    best = minimize(nll, start, method="Nelder-Mead", options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 4000})
    return TailFit(u, float(wsum / tail.total), float(best.x[0]), math.exp(float(best.x[1])), n)


def curve(tail: WeightedTail, grid: Sequence[float] = GRID) -> dict[float, float]:
    """Threshold per grid FMR: empirical where the data hold ``MIN_COUNT`` false matches, the fitted tail
    below (at most ``MAX_EXTRAPOLATION`` decades further); non-increasing in FMR."""
    out: dict[float, float] = {}
    last_empirical = None
    fit: TailFit | None = None
    fitted = False
    for f in sorted(grid, reverse=True):
        if f * tail.total >= MIN_COUNT:
            t = tail.empirical(f)
            if t is None:
                continue  # the pool does not reach this high a rate
            last_empirical = f
        else:
            if last_empirical is None or math.log10(last_empirical / f) > MAX_EXTRAPOLATION + 1e-9:
                break
            if not fitted:
                fit, fitted = fit_tail(tail), True
            if fit is None:
                break
            t = fit.threshold(f)
        out[f] = max(t, max(out.values(), default=-1.0))
    return out


def impostor_pool(
    vectors: np.ndarray,
    identity: np.ndarray,
    members: np.ndarray,
    *,
    cap: int | None = DEFAULT_CAP,
    max_fmr: float = 0.15,
    same_person: Sequence[tuple[int, int]] = (),
) -> ImpostorPool:
    """Every impostor pair among ``members`` (boolean over images) scoring above the weighted ``max_fmr``
    point, computed blockwise (memory: ``_BLOCK_ROWS x members`` scores plus the pool). ``same_person``:
    identity pairs that are one person under two names (data set label errors), not impostors."""
    idx = np.flatnonzero(members)
    vec = np.ascontiguousarray(vectors[idx], dtype=np.float32)
    ids = identity[idx].astype(np.int32)
    n_people = int(identity.max()) + 1 if len(identity) else 0
    counts = np.bincount(ids, minlength=n_people).astype(np.float64)
    image_weight = np.ones(n_people) if cap is None else np.minimum(1.0, cap / np.maximum(counts, 1.0))
    person_weight = counts * image_weight
    total = (person_weight.sum() ** 2 - (person_weight**2).sum()) / 2
    bins = 20_000
    hist = np.zeros(bins)
    for scores, rows, cols in _blocks(vec, ids):
        w = image_weight[ids[rows]] * image_weight[ids[cols]]
        hist += np.bincount(_bin(scores, bins), weights=w, minlength=bins)
    above = np.cumsum(hist[::-1])[::-1]  # weight at or above each bin's lower edge
    edge = (
        int(np.flatnonzero(above >= max_fmr * total)[-1]) if total > 0 and above[0] >= max_fmr * total else 0
    )
    floor = -1.0 + 2.0 * edge / bins
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    pairs = 0
    for scores, rows, cols in _blocks(vec, ids):
        pairs += len(scores)
        keep = scores >= floor
        parts.append((scores[keep], ids[rows[keep]], ids[cols[keep]]))
    scores = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.float32)
    a = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int32)
    b = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.int32)
    excluded = np.array(sorted({(min(x, y), max(x, y)) for x, y in same_person}), dtype=np.int64).reshape(
        -1, 2
    )
    if len(excluded):
        keys = excluded[:, 0] * n_people + excluded[:, 1]
        keep = ~np.isin(np.minimum(a, b).astype(np.int64) * n_people + np.maximum(a, b), keys)
        scores, a, b = scores[keep], a[keep], b[keep]
        pairs -= int((counts[excluded[:, 0]] * counts[excluded[:, 1]]).sum())
    order = np.argsort(-scores, kind="stable")
    return ImpostorPool(
        scores[order], a[order], b[order], image_weight, person_weight, floor, pairs, excluded
    )


def _blocks(vec: np.ndarray, ids: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(scores, rows, cols) of every impostor pair (i < j, different identities), block by block."""
    n = len(vec)
    for start in range(0, n, _BLOCK_ROWS):
        stop = min(n, start + _BLOCK_ROWS)
        sims = vec[start:stop] @ vec[start:].T
        r = np.arange(start, stop)[:, None]
        c = np.arange(start, n)[None, :]
        valid = (c > r) & (ids[start:stop, None] != ids[None, start:])
        rows, cols = np.nonzero(valid)
        yield sims[rows, cols], rows + start, cols + start


def _bin(scores: np.ndarray, bins: int) -> np.ndarray:
    return np.clip(((scores + 1.0) * (bins / 2)).astype(np.int64), 0, bins - 1)


def bootstrap_bounds(
    pool: ImpostorPool, grid: Sequence[float], *, replicates: int = 200, level: float = 0.90, seed: int = 0
) -> dict[float, tuple[float, float]]:
    """Two-sided ``level`` percentile interval of the threshold at each grid FMR over identity bootstrap
    replicates (people drawn with replacement); a grid point a replicate cannot reach counts as 1.0."""
    rng = np.random.default_rng(seed)
    present = np.flatnonzero(pool.person_weight > 0)
    rows = []
    for _ in range(replicates):
        mult = np.bincount(rng.choice(present, size=len(present)), minlength=len(pool.person_weight))
        c = curve(pool.tail(multiplicity=mult), grid)
        rows.append([c.get(f, 1.0) for f in grid])
    values = np.asarray(rows)
    lo = np.percentile(values, 100 * (1 - level) / 2, axis=0)
    hi = np.percentile(values, 100 * (1 + level) / 2, axis=0)
    return {f: (float(lo[i]), float(hi[i])) for i, f in enumerate(grid)}


@dataclass(frozen=True)
class HeldOutPoint:
    """Weighted false matches of held-out people at thresholds fitted without them, pooled over folds and
    repeats (repeats reuse the same pairs with other splits, so the pooled weight counts pairs repeatedly)."""

    fmr: float
    false_matches: float
    weight: float
    per_repeat: tuple[float, ...]  # achieved / target, one per repeat

    @property
    def achieved(self) -> float:
        return self.false_matches / self.weight if self.weight else float("nan")

    @property
    def ratio(self) -> float:
        return self.achieved / self.fmr

    @property
    def expected(self) -> float:
        """False matches the target predicts for the pooled held-out weight."""
        return self.fmr * self.weight


def held_out(
    pool: ImpostorPool, splits: Sequence[np.ndarray], grid: Sequence[float] = GRID
) -> dict[float, HeldOutPoint]:
    """For each split (fold number per identity) and each fold: the curve fitted on the other folds'
    people, its false matches counted among the fold's people. Only grid points every fit reaches."""
    found: dict[float, list[tuple[float, float, int]]] = {f: [] for f in grid}
    for r, fold_of in enumerate(splits):
        for k in np.unique(fold_of):
            fitted = curve(pool.tail(people=fold_of != k), grid)
            test = pool.tail(people=fold_of == k)
            for f in grid:
                t = fitted.get(f)
                found[f].append((test.count(t), test.total, r) if t is not None else (math.nan, 0.0, r))
    out = {}
    for f, rows in found.items():
        if not rows or any(math.isnan(c) for c, _, _ in rows):
            continue
        per = []
        for r in range(len(splits)):
            c = sum(x for x, _, rr in rows if rr == r)
            w = sum(x for _, x, rr in rows if rr == r)
            per.append(c / w / f)
        out[f] = HeldOutPoint(f, sum(c for c, _, _ in rows), sum(w for _, w, _ in rows), tuple(per))
    return out
