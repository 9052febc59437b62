"""False positive identification rate (FPIR) of a watchlist as a function of its size N and threshold t.

A traveller on no list (a non-mated probe q) raises a false alarm on a list of N people when any of the N
entries scores at or above t. With the entries drawn at random from a population of people,
``FPIR_N(t) = mean over probes of 1 - (1 - p_q(t)) ^ N`` exactly, where ``p_q(t)`` is probe q's own chance
that a random person's entry scores ``>= t`` against it. The union bound ``N * mean p`` (a per-comparison FMR
of FPIR / N) adds every probe's rate N times over; this model saturates each probe at one alarm.

``p_q(t)`` comes from the probe's scores against every image of every other person of a data set (each
person weighs one entry: an image of a person with n images weighs 1 / n). Probes differ in where their
impostor scores lie and how widely they spread (on lfw-dev the per-probe standard deviation of the cosine
ranges from 0.058 to 0.083); the shape of their tail is taken as common (a probe's few thousand scores cannot
show its own extreme tail), so each probe's Fisher-z scores are standardised by its own weighted mean and
standard deviation and the standardised scores of all probes pooled into one exceedance function G:
``p_q(t) = G((atanh t - mean_q) / sd_q)``. G is read off the pooled pairs while at least ``TAIL_MIN_PAIRS``
lie beyond (lfw-dev: down to about 5e-7) and continued below as an exponential tail fitted over the last
decade read off, which twins, relatives and label errors make heavy.

Measured per-probe rates were tried instead of G where counts allow (each probe's own share of the people at
or above t): they overstate small rates (one person in P is the smallest non-zero share) and saturate the
probes with a twin in the fit while a larger list finds twins for other probes, so on people left out of the
fit they gave 0.4-0.5 of the target on lists of 250 and 1.9-3.7 times it on lists larger than the fit.

What is measured and what is extrapolated: rates down to G's last read-off point rest on pairs of real
people; below it (a list of 100,000 at FPIR 1e-3 needs typical rates near 1e-8) the exponential tail is an
extrapolation, and the model treats the data set's people as the population lists are drawn from.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

SCORE_GRID = np.round(np.arange(0.0, 1.0 + 1e-9, 0.0025), 4)  # thresholds the FPIR curves are tabulated at
Z_GRID = np.round(np.arange(-8.0, 40.0 + 1e-9, 0.01), 2)  # standardised Fisher-z scores
TAIL_MIN_PAIRS = 20  # G is read off the pooled pairs while at least this many lie beyond
ENTRY_GRID = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000)
ENTRY_GRID += (100_000, 200_000, 500_000, 1_000_000)
FPIR_GRID = tuple(round(10 ** (-k / 4), 12) for k in range(4, 17))  # 1e-1 .. 1e-4, four per decade
DEFAULT_CAP = 5  # probe images per person: no one (530 images of George W Bush) dominates the rates
_BLOCK_ROWS = 512


@dataclass(frozen=True)
class PooledTail:
    """Exceedance function G of standardised Fisher-z impostor scores, pooled over probes: read off the
    pairs down to rate ``read_to`` (at z = ``z_end``), exponential below: G falls tenfold per ``decade_z``."""

    exceed: np.ndarray  # G on Z_GRID up to z_end (the read-off part)
    z_end: float
    read_to: float
    decade_z: float

    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        inside = np.interp(z, Z_GRID[: len(self.exceed)], self.exceed)
        beyond = self.read_to * 10.0 ** (-(z - self.z_end) / self.decade_z)
        return np.where(z <= self.z_end, inside, beyond)


@dataclass(frozen=True)
class SearchModel:
    """Each non-mated probe's Fisher-z impostor mean and standard deviation against a population of
    ``people`` people, and the pooled standardised tail G."""

    mean: np.ndarray
    sd: np.ndarray
    tail: PooledTail
    people: int
    pairs: int  # probe-entry pairs behind G

    @property
    def probes(self) -> int:
        return len(self.mean)

    def rates(self) -> np.ndarray:
        """``p_q(t)`` on ``SCORE_GRID``, one row per probe."""
        z = (np.arctanh(np.clip(SCORE_GRID, -0.999999, 0.999999))[None, :] - self.mean[:, None]) / self.sd[
            :, None
        ]
        return np.clip(self.tail(z), 0.0, 1.0 - 1e-12)

    def fpir(self, entries: int, rates: np.ndarray | None = None) -> np.ndarray:
        """Predicted FPIR on ``SCORE_GRID`` for a list of ``entries`` people drawn from the population."""
        p = self.rates() if rates is None else rates
        return -np.expm1(entries * np.log1p(-p)).mean(axis=0)

    def threshold(self, entries: int, fpir: float) -> float | None:
        """Lowest threshold whose predicted FPIR at ``entries`` is at most ``fpir``; None when even a score
        of 1 predicts more."""
        return threshold_on_grid(self.fpir(entries), fpir)

    def table(
        self, entries: Sequence[int] = ENTRY_GRID, fpirs: Sequence[float] = FPIR_GRID
    ) -> dict[float, list[float | None]]:
        """Threshold per target FPIR (key) and list size (``entries``, in order)."""
        rates = self.rates()
        curves = {n: self.fpir(n, rates) for n in entries}
        return {f: [threshold_on_grid(curves[n], f) for n in entries] for f in fpirs}


def threshold_on_grid(curve: np.ndarray, target: float) -> float | None:
    """Score where a non-increasing ``curve`` over ``SCORE_GRID`` falls to ``target`` (linear in log FPIR
    between grid scores)."""
    below = np.flatnonzero(curve <= target)
    if not len(below):
        return None
    k = int(below[0])
    if k == 0:
        return float(SCORE_GRID[0])
    hi, lo = float(curve[k - 1]), float(curve[k])
    if lo <= 0.0:
        return float(SCORE_GRID[k])
    frac = (math.log(hi) - math.log(target)) / (math.log(hi) - math.log(lo))
    return float(SCORE_GRID[k - 1] + frac * (SCORE_GRID[k] - SCORE_GRID[k - 1]))


def probe_rows(identity: np.ndarray, members: np.ndarray, cap: int | None = DEFAULT_CAP) -> np.ndarray:
    """Rows used as probes: the first ``cap`` member images of each person."""
    from matcher.lab.scores import first_images

    return np.flatnonzero(first_images(identity, members, cap))


def fit_search_model(
    vectors: np.ndarray, identity: np.ndarray, members: np.ndarray, *, cap: int | None = DEFAULT_CAP
) -> SearchModel:
    """The model over the people of ``members`` (boolean over images): each person's first ``cap`` images
    are probes, every image of every other person the population. Memory: ``_BLOCK_ROWS x members``."""
    pop = np.flatnonzero(members)
    probe_idx = probe_rows(identity, members, cap)
    pop_ids = identity[pop]
    people, inv, counts = np.unique(pop_ids, return_inverse=True, return_counts=True)
    if len(people) < 2:
        raise ValueError("the FPIR model needs at least two people")
    weight = 1.0 / counts[inv]  # each person weighs one entry
    pop_vec = np.ascontiguousarray(vectors[pop], dtype=np.float32)
    mean = np.empty(len(probe_idx))
    sd = np.empty(len(probe_idx))
    for rows, x, w in _probe_blocks(vectors, identity, probe_idx, pop_vec, pop_ids, weight):
        m = (w * x).sum(axis=1)
        mean[rows] = m
        sd[rows] = np.sqrt(np.maximum((w * (x - m[:, None]) ** 2).sum(axis=1), 1e-12))
    exceed = np.zeros(len(Z_GRID) + 1)
    pairs = np.zeros(len(Z_GRID) + 1)
    for rows, x, w in _probe_blocks(vectors, identity, probe_idx, pop_vec, pop_ids, weight):
        col = np.searchsorted(Z_GRID, ((x - mean[rows, None]) / sd[rows, None]).ravel(), side="right")
        exceed += np.bincount(col, weights=w.ravel() / len(probe_idx), minlength=len(Z_GRID) + 1)
        pairs += np.bincount(col[w.ravel() > 0], minlength=len(Z_GRID) + 1)
    above = np.cumsum(exceed[::-1])[::-1][1:]  # G(z): weight at or above each grid z
    pairs_above = np.cumsum(pairs[::-1])[::-1][1:]
    return SearchModel(mean, sd, _pooled_tail(above, pairs_above), len(people), int(pairs.sum()))


def _probe_blocks(
    vectors: np.ndarray,
    identity: np.ndarray,
    probe_idx: np.ndarray,
    pop_vec: np.ndarray,
    pop_ids: np.ndarray,
    weight: np.ndarray,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(probe positions, Fisher-z scores against the population, entry weights normalised over the other
    people, zero for the probe's own person)."""
    for start in range(0, len(probe_idx), _BLOCK_ROWS):
        rows = np.arange(start, min(len(probe_idx), start + _BLOCK_ROWS))
        q = probe_idx[rows]
        s = np.ascontiguousarray(vectors[q], dtype=np.float32) @ pop_vec.T
        w = np.where(identity[q][:, None] == pop_ids[None, :], 0.0, weight[None, :])
        w /= w.sum(axis=1, keepdims=True)
        yield rows, np.arctanh(np.clip(s, -0.999999, 0.999999)), w


def _pooled_tail(exceed: np.ndarray, pairs: np.ndarray) -> PooledTail:
    """G read off while ``TAIL_MIN_PAIRS`` pairs lie beyond, then exponential, fitted by least squares to
    log10 G over the last decade read off."""
    ok = np.flatnonzero((pairs >= TAIL_MIN_PAIRS) & (exceed > 0))
    end = int(ok[-1])
    fit = ok[exceed[ok] <= 10 * exceed[end]]
    if len(fit) < 3:
        raise ValueError("too few impostor pairs for the tail of the FPIR model")
    slope = float(np.polyfit(Z_GRID[fit], np.log10(exceed[fit]), 1)[0])
    if slope >= 0:
        raise ValueError("the pooled impostor tail does not fall: it cannot be extrapolated")
    return PooledTail(exceed[: end + 1].copy(), float(Z_GRID[end]), float(exceed[end]), -1.0 / slope)


# -- the check on real galleries of people left out of the fit ----------------------------------------------


@dataclass
class HeldOutFpir:
    """Pooled false alarms of held-out non-mated searches on real galleries of ``entries`` people, at the
    thresholds a model fitted on other people gives for ``target`` (``model``: "per-probe" or
    "union-bound"); ``refused``: galleries for which the model gave no threshold."""

    model: str
    entries: int
    target: float
    alarms: int = 0
    searches: int = 0
    galleries: int = 0
    refused: int = 0
    thresholds: list[float] | None = None

    @property
    def achieved(self) -> float:
        return self.alarms / self.searches if self.searches else float("nan")

    @property
    def ratio(self) -> float:
        return self.achieved / self.target

    def ci95(self) -> tuple[float, float]:
        from matcher.lab.scores import clopper_pearson

        return clopper_pearson(self.alarms, self.searches)


def held_out_check(
    vectors: np.ndarray,
    identity: np.ndarray,
    usable: np.ndarray,
    *,
    fit_people: int,
    sizes: Sequence[int],
    targets: Sequence[float],
    splits: int = 5,
    draws: int = 2,
    cap: int = DEFAULT_CAP,
    seed: int = 0,
    log=print,
) -> list[HeldOutFpir]:
    """Fit the model (and, for comparison, the per-comparison FMR curve with the union bound) on
    ``fit_people`` random people; on the others, build ``draws`` real galleries of each size (one random
    image per enrolled person) and search with the images (at most ``cap`` per person) of everyone left."""
    from matcher.errors import ModelError
    from matcher.lab import fmr_curve
    from matcher.watchlist.policy import ThresholdPolicy

    people = np.unique(identity[usable])
    out = {
        (m, n, f): HeldOutFpir(m, n, f, thresholds=[])
        for m in ("per-probe", "union-bound")
        for n in sizes
        for f in targets
    }
    union = ThresholdPolicy()
    for split in range(splits):
        rng = np.random.default_rng([seed, split])
        order = rng.permutation(people)
        fit, test = order[:fit_people], order[fit_people:]
        in_fit = usable & np.isin(identity, fit)
        model = fit_search_model(vectors, identity, in_fit, cap=cap)
        fmr_table = fmr_curve.curve(fmr_curve.impostor_pool(vectors, identity, in_fit).tail())
        log(
            f"split {split}: fitted on {fit_people} people ({model.probes} probes), tail read off to "
            f"{model.tail.read_to:.2g}, then tenfold per {model.tail.decade_z:.2f} z"
        )
        for _draw in range(draws):
            for n in sizes:
                if n >= len(test):
                    raise ValueError(f"a gallery of {n} leaves no held-out probe among {len(test)} people")
                enrolled = rng.choice(test, size=n, replace=False)
                rows = [rng.choice(np.flatnonzero(usable & (identity == p))) for p in enrolled]
                gallery = np.ascontiguousarray(vectors[rows], dtype=np.float32)
                probe_mask = usable & np.isin(identity, test) & ~np.isin(identity, enrolled)
                probes = probe_rows(identity, probe_mask, cap)
                best = (np.ascontiguousarray(vectors[probes], dtype=np.float32) @ gallery.T).max(axis=1)
                for f in targets:
                    thresholds = {"per-probe": model.threshold(n, f)}
                    try:
                        thresholds["union-bound"] = union.resolve(n, fmr_table, rate=f)
                    except ModelError:
                        thresholds["union-bound"] = None
                    for name, t in thresholds.items():
                        h = out[(name, n, f)]
                        h.galleries += 1
                        if t is None:
                            h.refused += 1
                            continue
                        assert h.thresholds is not None
                        h.thresholds.append(t)
                        h.alarms += int(np.count_nonzero(best >= t))
                        h.searches += len(best)
    return list(out.values())


# -- fitting on an LFW-format folder and storing the table in the manifest ----------------------------------

TARGETS = (1e-3, 3e-3, 1e-2)  # FPIRs the held-out check measures
_SHOWN = (FPIR_GRID[8], FPIR_GRID[6], FPIR_GRID[4])  # 1e-3, 3.2e-3, 1e-2
CHECKS = ((2000, (250, 500, 1000, 1500)), (500, (250, 500, 1000, 2000, 3000)))  # (fit people, list sizes)


@dataclass(frozen=True)
class SearchCalibration:
    dataset: str
    model_id: str
    people: int
    probes: int
    pairs: int
    tail: PooledTail
    table: dict[float, list[float | None]]  # FPIR -> threshold per ENTRY_GRID size
    checks: dict[int, list[HeldOutFpir]]  # fit people -> pooled held-out results
    verified_to: int  # largest list size within 2x at every target in the largest fit's check
    splits: int
    date: str

    def manifest_meta(self, model_sha256: str) -> dict[str, object]:
        from matcher.models import fmr_key

        checks = {
            str(fit): [
                {
                    "model": h.model,
                    "entries": h.entries,
                    "fpir": h.target,
                    "alarms": h.alarms,
                    "searches": h.searches,
                    "ratio": round(h.ratio, 3) if h.searches else None,
                    "refused_galleries": h.refused,
                }
                for h in rows
            ]
            for fit, rows in self.checks.items()
        }
        return {
            "entries": list(ENTRY_GRID),
            "score": {
                fmr_key(f): [None if t is None else round(t, 6) for t in row] for f, row in self.table.items()
            },
            "verified_to_entries": self.verified_to,
            "model_sha256": model_sha256,
            "dataset": self.dataset,
            "date": self.date,
            "people": self.people,
            "probes": self.probes,
            "pairs": self.pairs,
            "tail": {
                "domain": "fisher_z standardised per probe",
                "read_to": self.tail.read_to,
                "z_end": self.tail.z_end,
                "decade_z": round(self.tail.decade_z, 5),
            },
            "held_out": {"splits": self.splits, "galleries_per_split": 2, "by_fit_people": checks},
            "method": (
                "FPIR_N(t) = mean over non-mated probes (at most 5 images per person) of 1 - (1 - p_q(t))^N, "
                "p_q(t) = G((atanh t - mean_q) / sd_q) with each probe's own weighted Fisher-z mean and sd "
                "against every other person (one entry per person) and G the standardised scores pooled "
                f"over probes, read off while {TAIL_MIN_PAIRS} pairs lie beyond, exponential below; "
                "held_out: fitted on some people, achieved FPIR on real galleries of the others"
            ),
        }


def usable_templates(lfw_dir) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, str]:
    """(templates, identity, usable, data set label, model id) of an LFW-format folder: the images a kiosk
    would search or enrol (one face), without the people of ``LFW_SAME_PERSON`` (label errors)."""
    from matcher.engine import FaceEngine
    from matcher.lab.embed_cache import embed_dataset
    from matcher.lab.lfw import dataset_label, read_lfw, same_person_pairs

    dataset = read_lfw(lfw_dir)
    emb = embed_dataset(dataset, FaceEngine.load())
    usable = emb.enrolled(several_faces_fail=True)
    for a, b in same_person_pairs(dataset):
        usable &= (dataset.identity != a) & (dataset.identity != b)
    return emb.vectors, dataset.identity, usable, dataset_label(dataset), emb.model_id


def calibrate_search(
    vectors: np.ndarray,
    identity: np.ndarray,
    usable: np.ndarray,
    *,
    dataset: str,
    model_id: str,
    splits: int = 10,
    checks: Sequence[tuple[int, Sequence[int]]] = CHECKS,
    log=print,
) -> SearchCalibration:
    """The model over every usable image, its FPIR table, and the held-out checks."""
    from matcher.utc import iso_utc, utc_now

    model = fit_search_model(vectors, identity, usable)
    found: dict[int, list[HeldOutFpir]] = {}
    for fit, sizes in checks:
        found[fit] = held_out_check(
            vectors, identity, usable, fit_people=fit, sizes=sizes, targets=TARGETS, splits=splits, log=log
        )
    largest = found[max(found)]
    verified = 0
    for n in sorted({h.entries for h in largest}):
        rows = [h for h in largest if h.model == "per-probe" and h.entries == n]
        if not all(h.searches and 0.5 <= h.ratio <= 2.0 for h in rows):
            break
        verified = n
    return SearchCalibration(
        dataset=dataset,
        model_id=model_id,
        people=model.people,
        probes=model.probes,
        pairs=model.pairs,
        tail=model.tail,
        table=model.table(),
        checks=found,
        verified_to=verified,
        splits=splits,
        date=iso_utc(utc_now(), "seconds"),
    )


def format_search_calibration(result: SearchCalibration) -> str:
    lines = [
        f"data set      {result.dataset}: {result.people} people, {result.probes} non-mated probes, "
        f"{result.pairs:,} probe-entry pairs",
        f"pooled tail   read off down to {result.tail.read_to:.2g} (standardised z {result.tail.z_end:.2f}), "
        f"then tenfold per {result.tail.decade_z:.2f} z",
        "threshold     FPIR:  " + "  ".join(f"{f:<7.2g}" for f in _SHOWN),
    ]
    for i, n in enumerate(ENTRY_GRID):
        row = [result.table[f][i] for f in _SHOWN]
        lines.append(f"  {n:>9,} entries " + "  ".join("   -   " if t is None else f"{t:.4f} " for t in row))
    for fit, rows in result.checks.items():
        lines.append(
            f"held out      fitted on {fit} people, {result.splits} splits x 2 real galleries per size:"
        )
        for h in rows:
            if not h.searches:
                lines.append(
                    f"  {h.model:<11} {h.entries:>5} entries FPIR {h.target:g}: refused (curve too short)"
                )
                continue
            lo, hi = h.ci95()
            mean_t = float(np.mean(h.thresholds)) if h.thresholds else float("nan")
            lines.append(
                f"  {h.model:<11} {h.entries:>5} entries FPIR {h.target:<6g} threshold {mean_t:.4f}: "
                f"{h.alarms}/{h.searches} = {h.achieved:.2e}, {h.ratio:.2f}x target "
                f"(95% {lo / h.target:.2f}-{hi / h.target:.2f})"
            )
    lines.append(f"verified      within 2x at every target up to {result.verified_to:,} entries")
    return "\n".join(lines)


def write_search_table(result: SearchCalibration, manifest=None) -> None:
    """Store the table under the default embedder's ``thresholds.search`` in the manifest."""
    from matcher.models import load_manifest, set_search_table

    spec = load_manifest(manifest, verify=False).default("embedder")
    if spec.model_id != result.model_id:
        raise ValueError(f"fitted for {result.model_id}, the manifest's embedder is {spec.model_id}")
    set_search_table(spec.name, result.manifest_meta(spec.sha256), path=manifest)
