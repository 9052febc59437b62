"""Score statistics: impostor tallies (blockwise, memory-bounded: a histogram and the exact top scores),
genuine scores, identity-disjoint folds, exact binomial intervals and the system false non-match rate."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

CALIBRATION_FMRS = (1e-2, 1e-3, 1e-4)  # the rates the tallies keep exact top scores for
HIST_BINS = 20_000  # 1e-4 wide bins over cosine scores in [-1, 1]
_BLOCK_ROWS = 1024


@dataclass(frozen=True)
class ImpostorTally:
    """A large set of impostor scores: its size, a histogram (1e-4 wide bins) and the exact top scores."""

    count: int
    hist: np.ndarray
    top: np.ndarray  # descending

    @classmethod
    def from_scores(cls, scores: np.ndarray, *, max_fmr: float = max(CALIBRATION_FMRS)) -> ImpostorTally:
        """Tally of scores already in memory (small sets, tests)."""
        flat = np.asarray(scores, dtype=np.float32).ravel()
        keep = math.floor(max_fmr * len(flat)) + 2
        return cls(len(flat), np.bincount(_bins(flat), minlength=HIST_BINS), np.sort(flat)[::-1][:keep])

    def threshold(self, fmr: float) -> float:
        """Score threshold at which at most ``floor(fmr * count)`` of these impostor scores match."""
        if self.count == 0:
            raise ValueError("no impostor comparisons")
        return threshold_from_top(self.top, self.count, fmr)

    def false_matches(self, threshold: float) -> int:
        """Impostor scores reaching ``threshold``: exact in the kept top scores, else from the histogram."""
        if len(self.top) and threshold > self.top[-1]:
            return int(np.count_nonzero(self.top >= threshold))
        edge = int(np.clip(math.ceil((threshold + 1.0) * HIST_BINS / 2), 0, HIST_BINS))
        return int(self.hist[edge:].sum())

    def fmr(self, threshold: float) -> float:
        return self.false_matches(threshold) / self.count if self.count else float("nan")


def threshold_from_top(top_desc: np.ndarray, count: int, fmr: float) -> float:
    """Threshold allowing ``k = floor(fmr * count)`` false matches among ``count`` impostor scores whose
    largest values are ``top_desc`` (descending): midway between the k-th and (k+1)-th largest score."""
    if not 0.0 < fmr < 1.0:
        raise ValueError(f"false match rate must lie in (0, 1), got {fmr}")
    k = math.floor(fmr * count + 1e-9)
    if k >= len(top_desc):
        raise ValueError(f"need the top {k + 1} impostor scores, only {len(top_desc)} kept")
    above = float(top_desc[k - 1]) if k >= 1 else float(top_desc[0]) + 2e-6
    below = float(top_desc[k])
    if above > below:
        return (above + below) / 2
    return float(np.nextafter(np.float32(below), np.float32(2.0)))  # tie: just above the tied scores


def impostor_tally(
    vectors: np.ndarray, identity: np.ndarray, members: np.ndarray, *, max_fmr: float = max(CALIBRATION_FMRS)
) -> ImpostorTally:
    """Every comparison between two member images of different identities (each pair once), blockwise:
    memory stays at ``_BLOCK_ROWS x len(members)`` scores plus the kept top ``max_fmr * count``."""
    idx = np.flatnonzero(members)
    vec = np.ascontiguousarray(vectors[idx], dtype=np.float32)
    ids = identity[idx]
    n = len(idx)
    counts = np.bincount(ids)
    total = (n * n - int((counts.astype(np.int64) ** 2).sum())) // 2
    keep = math.floor(max_fmr * total) + 2
    hist = np.zeros(HIST_BINS, dtype=np.int64)
    pool = np.empty(0, dtype=np.float32)
    floor_score = -np.inf
    for start in range(0, n, _BLOCK_ROWS):
        stop = min(n, start + _BLOCK_ROWS)
        scores = vec[start:stop] @ vec[start:].T  # pairs (i, j) with j >= start
        cols = np.arange(start, n)
        rows = np.arange(start, stop)[:, None]
        valid = (cols[None, :] > rows) & (ids[start:stop, None] != ids[None, start:])
        flat = scores[valid]
        hist += np.bincount(_bins(flat), minlength=HIST_BINS)
        pool = np.concatenate([pool, flat[flat >= floor_score]])
        if len(pool) > 2 * keep:
            pool = np.partition(pool, len(pool) - keep)[-keep:]
            floor_score = float(pool.min())
    top = np.sort(pool)[::-1][:keep]
    assert int(hist.sum()) == total
    return ImpostorTally(total, hist, top)


def _bins(scores: np.ndarray) -> np.ndarray:
    return np.clip(((scores + 1.0) * (HIST_BINS / 2)).astype(np.int64), 0, HIST_BINS - 1)


def genuine_scores(vectors: np.ndarray, identity: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Scores of every same-identity pair among ``members`` (each pair once)."""
    out = []
    order = np.flatnonzero(members)
    ids = identity[order]
    for person in np.unique(ids):
        rows = order[ids == person]
        if len(rows) < 2:
            continue
        sims = vectors[rows] @ vectors[rows].T
        out.append(sims[np.triu_indices(len(rows), k=1)])
    return np.concatenate(out).astype(np.float32) if out else np.empty(0, np.float32)


def first_images(identity: np.ndarray, members: np.ndarray, cap: int | None) -> np.ndarray:
    """``members`` restricted to the first ``cap`` member images of each person (None: no limit)."""
    if cap is None:
        return members.copy()
    order = np.flatnonzero(members)
    ids = identity[order]
    sort = np.argsort(ids, kind="stable")
    sorted_ids = ids[sort]
    starts = np.searchsorted(sorted_ids, sorted_ids, side="left")
    rank = np.empty(len(order), dtype=np.int64)
    rank[sort] = np.arange(len(order)) - starts
    out = np.zeros_like(members)
    out[order[rank < cap]] = True
    return out


def genuine_pair_count(identity: np.ndarray, members: np.ndarray) -> int:
    counts = np.bincount(identity[members]) if members.any() else np.zeros(0, np.int64)
    return int((counts.astype(np.int64) * (counts - 1) // 2).sum())


def identity_folds(names: tuple[str, ...], folds: int, seed: int = 0) -> np.ndarray:
    """Fold number of each identity, from a keyed hash of the name: reproducible, independent of order."""
    if folds < 2:
        raise ValueError("need at least 2 folds")
    return np.array(
        [int.from_bytes(hashlib.sha256(f"{seed}:{n}".encode()).digest()[:8], "big") % folds for n in names],
        dtype=np.int32,
    )


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact binomial confidence interval of a proportion k/n."""
    from scipy.stats import beta  # scipy comes with scikit-image

    alpha = 1.0 - confidence
    low = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return low, high


def system_fnmr(genuine: np.ndarray, failed_pairs: int, threshold: float) -> float:
    """Share of genuine pairs that do not match: scores under ``threshold`` plus pairs with a failed image."""
    total = len(genuine) + failed_pairs
    return (int(np.count_nonzero(genuine < threshold)) + failed_pairs) / total if total else float("nan")
