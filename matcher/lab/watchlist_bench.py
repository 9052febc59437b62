"""``matcher bench-search``: build time, memory, latency and recall of watchlist indexes at 10k..1M entries.

Gallery and probes are synthetic 512-d templates *derived from real embeddings* when an LFW-format folder is
given (the default when ``$EGATE_SHARED`` is set): a Gaussian fitted to one real template per identity
(mean and full covariance) generates enrolled identities, and a Gaussian fitted to real within-identity
deviations generates the direction of a mated probe, placed at a cosine to its enrolled mate drawn from the
real genuine-pair scores. The synthetic impostor scores then match the real ones (on lfw-dev, mean 0.007
and sd 0.074 vs real 0.005 and 0.066; random unit vectors in 512-d give sd 0.044). ``--source random``
uses random unit vectors instead, and says so.

Recall is measured against exact search with the same probes, never assumed: recall@1 on *mated* probes is
what matters for a watchlist (is the enrolled mate, which exact search ranks first, also the approximate
index's first candidate); recall@10 is the overlap of the top-10 sets, for mated and non-mated probes.
Latency is one probe at a time through the store's own search path (:class:`WatchIndex.search`).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import faiss
import numpy as np

from matcher.errors import ModelError
from matcher.watchlist import index as wl_index
from matcher.watchlist.policy import SearchTable, ThresholdPolicy

if TYPE_CHECKING:
    from collections.abc import Callable

    from matcher.engine import FaceEngine
    from matcher.watchlist.store import WatchlistStore


@dataclass(frozen=True)
class TemplateModel:
    """Generator of synthetic templates with the first- and second-order statistics of real ones."""

    mean: np.ndarray  # (d,)
    between: np.ndarray  # (d, d): identity = normalise(mean + z @ between)
    within: np.ndarray  # (d, d): mated-probe direction = z @ within (made orthogonal to the mate)
    genuine_scores: np.ndarray  # cosines of real same-identity pairs, sampled for mated probes
    source: str

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    @classmethod
    def isotropic(cls, dim: int = 512) -> TemplateModel:
        eye = np.eye(dim, dtype=np.float32)
        return cls(
            np.zeros(dim, np.float32), eye, eye, np.linspace(0.5, 0.8, 31), f"random unit vectors ({dim}-d)"
        )

    @classmethod
    def fit(cls, vectors: np.ndarray, identity: np.ndarray, source: str) -> TemplateModel:
        """Fit to real templates ``vectors`` (unit-norm rows) labelled by ``identity``."""
        _, first = np.unique(identity, return_index=True)
        ids = vectors[first].astype(np.float64)
        mean = ids.mean(axis=0)
        between = _sqrt_cov(ids - mean)
        residuals, genuine = [], []
        for label in np.unique(identity):
            members = vectors[identity == label].astype(np.float64)
            if len(members) < 2:
                continue
            residuals.append(members - members.mean(axis=0))
            sims = members @ members.T
            genuine.extend(sims[np.triu_indices(len(members), 1)].tolist())
        within = _sqrt_cov(np.concatenate(residuals))
        desc = (
            f"derived from {len(vectors)} real templates of {len(first)} identities ({source}); "
            f"{len(genuine)} genuine pairs"
        )
        return cls(
            mean.astype(np.float32),
            between.astype(np.float32),
            within.astype(np.float32),
            np.asarray(genuine, np.float32),
            desc,
        )

    def identities(self, n: int, rng: np.random.Generator, chunk: int = 65_536) -> np.ndarray:
        out = np.empty((n, self.dim), np.float32)
        for start in range(0, n, chunk):
            z = rng.standard_normal((min(chunk, n - start), self.dim), dtype=np.float32)
            out[start : start + len(z)] = _normalise(self.mean + z @ self.between)
        return out

    def mates(self, enrolled: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A mated probe per row of ``enrolled`` and its cosine to it (from the real genuine scores)."""
        cos = rng.choice(self.genuine_scores, size=len(enrolled)).clip(0.3, 0.95).astype(np.float32)
        noise = rng.standard_normal(enrolled.shape, dtype=np.float32) @ self.within
        noise -= np.sum(noise * enrolled, axis=1, keepdims=True) * enrolled
        noise = _normalise(noise)
        probes = cos[:, None] * enrolled + np.sqrt(1 - cos**2)[:, None] * noise
        return _normalise(probes), cos


def _sqrt_cov(centred: np.ndarray) -> np.ndarray:
    """A matrix A with A.T @ A = covariance of the rows (z @ A then has that covariance)."""
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    return (s[:, None] / np.sqrt(max(1, len(centred) - 1))) * vt


def _normalise(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def model_from_lfw(lfw_dir: Path, max_images: int | None = None) -> TemplateModel:
    """Fit the generator on the FaceEngine's templates of an LFW-format folder (the first ``max_images``
    in people.txt order; embedded once and cached on disk by the calibration code)."""
    from matcher.engine import FaceEngine
    from matcher.lab.embed_cache import embed_dataset
    from matcher.lab.lfw import read_lfw

    dataset = read_lfw(lfw_dir)
    if max_images:
        dataset = replace(dataset, images=dataset.images[:max_images], identity=dataset.identity[:max_images])
    emb = embed_dataset(dataset, FaceEngine.load())
    ok = np.linalg.norm(emb.vectors, axis=1) > 0  # failed images have a zero vector
    return TemplateModel.fit(emb.vectors[ok], dataset.identity[ok], f"{lfw_dir.name}, {emb.model_id}")


@dataclass(frozen=True)
class SearchBench:
    entries: int
    index: str
    params: str
    build_s: float
    index_mib: float
    raw_mib: float
    memory_ratio: float
    median_ms: float
    p99_ms: float
    recall_at_1_mated: float
    recall_at_10_mated: float
    recall_at_10_nonmated: float
    mate_at_1: float  # mated probes whose approximate first candidate is the enrolled mate
    missed_mate_max_cos: float | None  # highest probe-mate cosine among mates missed at rank 1


def _latencies(index: wl_index.WatchIndex, probes: np.ndarray, k: int) -> tuple[list[float], np.ndarray]:
    times, found = [], np.empty((len(probes), k), np.int64)
    for i, q in enumerate(probes):
        start = time.perf_counter()
        _, ids = index.search(q[None, :], k)
        times.append((time.perf_counter() - start) * 1000)
        found[i] = ids[0]
    return times, found


def _recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth, strict=True)]))


def bench_size(
    model: TemplateModel,
    n: int,
    *,
    n_queries: int,
    k_factors: tuple[int, ...],
    pq: wl_index.PqParams,
    seed: int,
    exact_queries: int,
    search_threads: int = 1,
    log=print,
) -> list[SearchBench]:
    """Exact and PQ-scan rows for a gallery of ``n`` synthetic identities."""
    rng = np.random.default_rng(seed)
    gallery = model.identities(n, rng)
    ids = np.arange(1, n + 1, dtype=np.int64)
    mated_rows = rng.choice(n, size=n_queries // 2, replace=False)
    mated, mated_cos = model.mates(gallery[mated_rows], rng)
    probes = np.concatenate([mated, model.identities(n_queries - len(mated), rng)])
    raw_mib = gallery.nbytes / 2**20
    build_threads = faiss.omp_get_max_threads()

    def row(kind: str, params: str, build_s: float, index: wl_index.WatchIndex, times, found) -> SearchBench:
        t = np.asarray(times)
        index_mib = len(index.serialize()) / 2**20
        n_mated = len(mated)
        missed = found[:n_mated, 0] != ids[mated_rows]
        r = SearchBench(
            entries=n,
            index=kind,
            params=params,
            build_s=round(build_s, 2),
            index_mib=round(index_mib, 1),
            raw_mib=round(raw_mib, 1),
            memory_ratio=round(index_mib / raw_mib, 3),
            median_ms=round(float(np.median(t)), 3),
            p99_ms=round(float(np.percentile(t, 99)), 3),
            recall_at_1_mated=round(float(np.mean(found[:n_mated, 0] == truth[:n_mated, 0])), 4),
            recall_at_10_mated=round(_recall(found[:n_mated], truth[:n_mated], 10), 4),
            recall_at_10_nonmated=round(_recall(found[n_mated:], truth[n_mated:], 10), 4),
            mate_at_1=round(float(np.mean(~missed)), 4),
            missed_mate_max_cos=round(float(mated_cos[missed].max()), 3) if missed.any() else None,
        )
        log(_fmt(r))
        return r

    start = time.perf_counter()
    flat = wl_index.build(ids, gallery, "flat")
    flat_build = time.perf_counter() - start
    truth = flat.exact.search(probes, 10)[1]  # batched exact search: the ground truth
    faiss.omp_set_num_threads(search_threads)
    times, _ = _latencies(flat, probes[:exact_queries], 10)
    faiss.omp_set_num_threads(build_threads)
    rows = [row("exact", "IndexFlatIP", flat_build, flat, times, truth)]
    del flat

    start = time.perf_counter()
    approx = wl_index.build(ids, gallery, "pq", pq)
    build = time.perf_counter() - start
    del gallery
    faiss.omp_set_num_threads(search_threads)
    for k_factor in k_factors:
        approx.k_factor = k_factor
        times, found = _latencies(approx, probes, 10)
        rows.append(
            row("pq", f"PQ{pq.m}x4 fast-scan + exact top {10 * k_factor}", build, approx, times, found)
        )
    faiss.omp_set_num_threads(build_threads)
    return rows


def _fmt(r: SearchBench) -> str:
    return (
        f"{r.entries:>9,} {r.params:<34} build {r.build_s:8.1f} s  index {r.index_mib:8.1f} MiB "
        f"({r.memory_ratio:.2f}x raw)  median {r.median_ms:7.3f} ms  p99 {r.p99_ms:7.3f} ms  "
        f"R@1 {r.recall_at_1_mated:.4f}  R@10 {r.recall_at_10_mated:.4f}/{r.recall_at_10_nonmated:.4f}  "
        f"mate@1 {r.mate_at_1:.4f}"
        + (f" (missed mates at cos <= {r.missed_mate_max_cos})" if r.missed_mate_max_cos else "")
    )


def default_lfw_dir() -> Path | None:
    shared = os.environ.get("EGATE_SHARED")
    path = Path(shared) / "data" / "lfw-dev" if shared else None
    return path if path and (path / "people.txt").is_file() else None


# -- real identities (NIST FRTE 1:N style) ------------------------------------------------------------------

BENCH_FPIRS = (0.003, 0.01)


@dataclass(frozen=True)
class RealSearchBench:
    """1:N figures on real people: one enrolment image per enrolled person, mated searches with their other
    images, non-mated searches with people not enrolled, pooled over ``splits`` random splits of the people;
    the gallery filled up to ``entries`` with synthetic templates (:class:`TemplateModel`). Synthetic
    fillers never false-alarm like real people, so a filled list reports no FPIR (``fpir`` None,
    ``synthetic_fillers`` > 0); its FNIR still counts real mates at the policy's threshold."""

    entries: int
    enrolled_people: int
    splits: int
    mated_searches: int
    nonmated_searches: int
    policy: str
    threshold: float | None  # the default policy's threshold at this list size (None: policy refused)
    false_alarms: int | None  # non-mated searches alerting under the default policy
    fpir: float | None
    fpir_ci95: tuple[float, float] | None
    fnir: float | None  # mated searches whose mate is not among the top-5 alerts under the default policy
    threshold_at_fpir: dict[str, float]  # fixed score giving each FPIR on these non-mated searches
    fnir_at_fpir: dict[str, float]
    index: str
    recall_at_1: float  # mated probes whose first candidate from the store's index is exact search's
    synthetic_fillers: int = 0  # entries that are not real people (then no FPIR is reported)


def _split_people(
    identity: np.ndarray, usable: np.ndarray, enrolled: int, cap: int, rng: np.random.Generator
):
    """(gallery rows, mated probe rows with their mate's gallery position, non-mated probe rows)."""
    people = np.unique(identity[usable])
    rows = {p: rng.permutation(np.flatnonzero(usable & (identity == p))) for p in people}
    several = np.array([p for p in people if len(rows[p]) >= 2])
    if len(several) < enrolled:
        raise ValueError(f"only {len(several)} people have two usable images; enrol fewer")
    chosen = rng.choice(several, size=enrolled, replace=False)
    gallery = np.array([rows[p][0] for p in chosen])
    mated = [(r, i) for i, p in enumerate(chosen) for r in rows[p][1 : 1 + cap]]
    others = np.setdiff1d(people, chosen)
    nonmated = np.array([r for p in others for r in rows[p][:cap]])
    return gallery, np.array([m[0] for m in mated]), np.array([m[1] for m in mated]), nonmated


def real_identity_bench(
    vectors: np.ndarray,
    identity: np.ndarray,
    usable: np.ndarray,
    table: dict[float, float],
    model: TemplateModel,
    *,
    search: SearchTable | None = None,
    sizes: tuple[int, ...] = (1000, 100_000),
    enrolled: int = 1000,
    splits: int = 5,
    cap: int = 5,
    seed: int = 0,
    policy: ThresholdPolicy | None = None,
    exact_max: int = wl_index.EXACT_MAX_ENTRIES,
    log=print,
) -> list[RealSearchBench]:
    """FPIR of ``policy`` (default: the watchlist default, with the model's FMR ``table`` and FPIR table
    ``search``), FNIR at fixed FPIRs and index recall@1 on real templates ``vectors`` (``usable`` rows only)
    labelled by ``identity``; each person gives at most ``cap`` probe images, so that no one (George W Bush
    has 530 lfw-dev images) dominates the rates."""
    policy = policy or ThresholdPolicy()
    rng = np.random.default_rng(seed)
    fillers = model.identities(max(sizes) - enrolled, rng) if max(sizes) > enrolled else None
    out = []
    for n in sizes:
        if n < enrolled:
            raise ValueError(f"list size {n} is smaller than the {enrolled} enrolled people")
        try:
            threshold: float | None = policy.resolve(n, table, search=search)
        except ModelError as exc:  # the list would be refused at this size: no default-policy figures
            threshold = None
            log(f"{n:>9,} entries: {exc}")
        alert_at = threshold if threshold is not None else math.inf
        mated_scores, in_top, mate_found, nonmated_top, recall = [], [], [], [], []
        kind = wl_index.choose_kind(n, exact_max)
        for split in range(splits):
            gallery, mated, mate_pos, nonmated = _split_people(
                identity, usable, enrolled, cap, np.random.default_rng([seed, split])
            )
            enrolled_vectors = vectors[gallery]
            if n > enrolled:
                assert fillers is not None
                enrolled_vectors = np.concatenate([enrolled_vectors, fillers[: n - enrolled]])
            ids = np.arange(n, dtype=np.int64)
            exact = wl_index.build(ids, enrolled_vectors, "flat")
            probes = np.ascontiguousarray(vectors[mated])
            scores, found = exact.search(probes, 5)
            mated_scores.append(np.einsum("ij,ij->i", probes, enrolled_vectors[mate_pos]))
            in_top.append(np.any(found == mate_pos[:, None], axis=1))  # among the 5 best candidates
            mate_found.append(np.any((found == mate_pos[:, None]) & (scores >= alert_at), axis=1))
            nonmated_top.append(exact.search(np.ascontiguousarray(vectors[nonmated]), 1)[0][:, 0])
            if kind != "flat" and split == 0:
                approx = wl_index.build(ids, enrolled_vectors, kind)
                # the gate asks for its top 5 (kiosk policy watchlist_top_k): 5 x k_factor re-scored exactly
                recall.append(float(np.mean(approx.search(probes, 5)[1][:, 0] == found[:, 0])))
        mated_all = np.where(np.concatenate(in_top), np.concatenate(mated_scores), -np.inf)
        found_all = np.concatenate(mate_found)
        top = np.sort(np.concatenate(nonmated_top))[::-1]
        alarms = int(np.count_nonzero(top >= alert_at))
        policy_ok = threshold is not None
        measured = policy_ok and n <= enrolled  # only real people can false-alarm like real people
        at, fnir_at = {}, {}
        for fpir in BENCH_FPIRS:
            k = int(fpir * len(top))  # at most k non-mated searches alert
            t = float(top[k]) + 1e-6 if k < len(top) else float(top[-1])
            at[f"{fpir:g}"] = round(t, 5)
            fnir_at[f"{fpir:g}"] = round(float(np.mean(mated_all < t)), 5)
        from matcher.lab.scores import clopper_pearson

        r = RealSearchBench(
            entries=n,
            enrolled_people=enrolled,
            splits=splits,
            mated_searches=len(mated_all),
            nonmated_searches=len(top),
            policy=policy.describe(),
            threshold=round(threshold, 5) if threshold is not None else None,
            false_alarms=alarms if measured else None,
            fpir=round(alarms / len(top), 6) if measured else None,
            fpir_ci95=tuple(round(v, 6) for v in clopper_pearson(alarms, len(top))) if measured else None,  # type: ignore[arg-type]
            fnir=round(1 - float(np.mean(found_all)), 5) if policy_ok else None,
            threshold_at_fpir=at,
            fnir_at_fpir=fnir_at,
            index=kind,
            recall_at_1=round(recall[0], 5) if recall else 1.0,
            synthetic_fillers=max(0, n - enrolled),
        )
        log(_fmt_real(r))
        out.append(r)
    return out


def _fmt_real(r: RealSearchBench) -> str:
    at = "  ".join(
        f"FNIR {r.fnir_at_fpir[k]:.2%} at FPIR {k} (score {r.threshold_at_fpir[k]:.3f})"
        for k in r.fnir_at_fpir
    )
    default = f"{r.policy} refused at this size"
    if r.threshold is not None and r.fpir is not None and r.fpir_ci95 is not None and r.fnir is not None:
        default = (
            f"{r.policy} -> threshold {r.threshold:.4f}: FPIR {r.fpir:.4%} ({r.false_alarms}/"
            f"{r.nonmated_searches}, 95% {r.fpir_ci95[0]:.4%}..{r.fpir_ci95[1]:.4%}), FNIR {r.fnir:.2%}"
        )
    elif r.threshold is not None and r.fnir is not None:
        default = (
            f"{r.policy} -> threshold {r.threshold:.4f}: FPIR not measured "
            f"({r.synthetic_fillers:,} synthetic fillers), FNIR {r.fnir:.2%}"
        )
    return (
        f"{r.entries:>9,} entries ({r.enrolled_people} real, {r.index}): {default} of {r.mated_searches} "
        f"mated, {r.nonmated_searches} non-mated; {at}; recall@1 vs exact {r.recall_at_1:.4f}"
    )


def real_bench_from_lfw(lfw_dir: Path, **kwargs) -> tuple[list[RealSearchBench], str]:
    """:func:`real_identity_bench` on an LFW-format folder with the engine's templates (cached on disk) and
    the manifest's calibrated curve; people of ``LFW_SAME_PERSON`` (label errors) are left out."""
    from matcher.engine import FaceEngine
    from matcher.lab.embed_cache import embed_dataset
    from matcher.lab.lfw import read_lfw, same_person_pairs
    from matcher.watchlist.policy import manifest_search_table, manifest_threshold_table

    engine = FaceEngine.load()
    dataset = read_lfw(lfw_dir)
    emb = embed_dataset(dataset, engine)
    usable = emb.enrolled(several_faces_fail=True)  # what a kiosk would search or enrol
    for a, b in same_person_pairs(dataset):
        usable &= (dataset.identity != a) & (dataset.identity != b)
    table = manifest_threshold_table(engine.model_id)
    if not table:
        raise ValueError(f"{engine.model_id} has no calibrated curve in the manifest")
    ok = np.linalg.norm(emb.vectors, axis=1) > 0
    model = TemplateModel.fit(emb.vectors[ok], dataset.identity[ok], f"{lfw_dir.name}, {emb.model_id}")
    people = len(np.unique(dataset.identity[usable]))
    source = f"{lfw_dir.name}: {int(usable.sum())} usable images of {people} people"
    search = manifest_search_table(engine.model_id)
    rows = real_identity_bench(emb.vectors, dataset.identity, usable, table, model, search=search, **kwargs)
    return rows, source


@dataclass(frozen=True)
class ListRecall:
    list_id: str
    version: int
    index: str
    probes: int
    recall_at_1: float
    recall_at_10: float
    probe_source: str  # what the probes were (see list_recall)


SYNTHETIC_PROBES = "synthetic: list entries perturbed at random to cosine 0.5-0.8"


def list_recall(
    store: WatchlistStore,
    list_id: str,
    *,
    probes: int = 200,
    seed: int = 0,
    queries: np.ndarray | None = None,
) -> ListRecall:
    """How often the list's served index returns exact search's first candidate (recall@1) and how much of
    exact search's top 10 it returns (recall@10), over the same live entries. Exact indexes score 1.0.

    ``queries`` are the probes when given: templates of real captures (of people on the list, for mated
    searches, as a gate sees them). Without, ``probes`` synthetic mated probes are made from the list's own
    entries by random perturbation to cosine 0.5-0.8: noise in random directions leaves such a probe nearly
    unrelated to every other entry, unlike a real face, so it tends to overstate recall (the README's figures
    on real lfw-dev probes are lower than the synthetic ones at the same list sizes)."""
    snap = store.snapshot(list_id)
    ids, vectors = snap.index.ids(), snap.index.vectors()
    source = SYNTHETIC_PROBES if queries is None else "real: the templates given"
    if len(ids) == 0:
        return ListRecall(list_id, snap.version, snap.kind, 0, 1.0, 1.0, source)
    if queries is None:
        rng = np.random.default_rng(seed)
        chosen = vectors[rng.choice(len(ids), size=min(probes, len(ids)), replace=False)]
        model = TemplateModel(
            np.zeros(snap.dim, np.float32),
            np.eye(snap.dim, dtype=np.float32),
            np.eye(snap.dim, dtype=np.float32),
            np.linspace(0.5, 0.8, 31),
            "list entries",
        )
        queries, _ = model.mates(chosen, rng)
    elif queries.ndim != 2 or queries.shape[1] != snap.dim or len(queries) == 0:
        raise ValueError(f"recall probes must be a non-empty n x {snap.dim} matrix, not {queries.shape}")
    k = min(10, len(ids))
    truth = snap.index.exact.search(queries, k)[1]
    found = snap.index.search(queries, k)[1]
    return ListRecall(
        list_id,
        snap.version,
        snap.kind,
        len(queries),
        round(float(np.mean(found[:, 0] == truth[:, 0])), 4),
        round(_recall(found, truth, k), 4),
        source,
    )


def probe_templates(
    folder: Path, model_id: str, engine: Callable[[], FaceEngine]
) -> tuple[np.ndarray, list[str]]:
    """Recall probes from a folder of images and ``.tpl`` templates (e.g. captures of people on the list):
    (n x dim matrix, names of the images skipped for want of one usable face). ValueError for a template of
    another model, or when no probe is left. ``engine`` is called once, for the first image."""
    from matcher.errors import ImageError, MultipleFacesError, NoFaceError, PoorQualityError
    from matcher.imageio import IMAGE_SUFFIXES
    from matcher.types import Template
    from matcher.watchlist.enrol import TEMPLATE_SUFFIX, image_template

    vectors, skipped, loaded = [], [], None
    for path in sorted(folder.iterdir()):
        suffix = path.suffix.lower()
        if suffix == TEMPLATE_SUFFIX:
            template = Template.from_bytes(path.read_bytes())
            if template.model_id != model_id:
                raise ValueError(f"{path}: template of model {template.model_id}, the list's is {model_id}")
        elif suffix in IMAGE_SUFFIXES:
            loaded = loaded or engine()
            try:
                template = image_template(loaded, path)
            except (ImageError, NoFaceError, MultipleFacesError, PoorQualityError):
                skipped.append(path.name)
                continue
        else:
            continue
        vectors.append(np.asarray(template.vector, np.float32))
    if not vectors:
        raise ValueError(f"{folder}: no image with one usable face and no .tpl template to probe with")
    return np.stack(vectors), skipped
