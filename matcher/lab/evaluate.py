"""Accuracy of the face pipeline on an LFW-format folder: the function behind ``matcher eval``.

Reported figures:

- LFW pairs accuracy on ``pairs.txt`` with the 10-fold protocol: for each fold, the threshold that is best
  on the other nine folds, accuracy on this one; mean and standard deviation over folds. A pair with an
  image that could not be enrolled is a non-match (right for a different pair, wrong for a same pair).
- FNMR at FMR 1e-2 .. 1e-5 over *all* pairs of the folder (every same-identity pair, every different-identity
  pair), at thresholds fitted on those same impostor scores, and at the thresholds shipped in the manifest
  when the embedder is calibrated (FMR measured over all impostor pairs, and with at most 5 images per
  person as the calibration counts them). FNMR is given three ways: over enrolled pairs only
  (the comparator), system-level with failed enrolments as non-matches, and the kiosk's policy where an
  image with several faces also fails.
- Enrolment failures by code, the quality measures' rejection rates (live and enrolment limits), and a DET
  curve (FNMR against FMR, log axes, operating points marked) as a PNG.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from matcher.engine import FaceEngine
from matcher.errors import ModelError
from matcher.lab.embed_cache import Embeddings, embed_dataset
from matcher.lab.lfw import DatasetError, LfwDataset, read_lfw
from matcher.lab.scores import (
    HIST_BINS,
    ImpostorTally,
    first_images,
    genuine_pair_count,
    genuine_scores,
    impostor_tally,
    system_fnmr,
)
from matcher.models import fmr_key
from matcher.quality import QualityLimits, check

EVAL_FMRS = (1e-2, 1e-3, 1e-4, 1e-5)
SHIPPED_FMRS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)  # points of the manifest's curve reported
FAILED_SCORE = -2.0  # below every cosine score: a pair with a failed enrolment never matches


@dataclass(frozen=True)
class PairList:
    """Pairs of image indices, whether they show the same person, and their protocol fold."""

    a: np.ndarray
    b: np.ndarray
    same: np.ndarray
    fold: np.ndarray


def read_pairs(dataset: LfwDataset, folds: int = 10) -> PairList:
    """Read ``pairs.txt``: header ``n`` (n same pairs then n different pairs, as in LFW's DevTrain/DevTest
    files; each list is cut into ``folds`` consecutive parts, alphabetical order keeping folds nearly
    identity-disjoint) or ``folds n`` (LFW's 10-fold file: per fold n same then n different pairs)."""
    path = dataset.root / "pairs.txt"
    if not path.is_file():
        raise DatasetError(f"{dataset.root} has no pairs.txt")
    lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    header, body = lines[0], lines[1:]
    a, b, same = [], [], []
    for lineno, parts in enumerate(body, 2):
        if len(parts) == 3:
            a.append(dataset.index_of(parts[0], int(parts[1])))
            b.append(dataset.index_of(parts[0], int(parts[2])))
            same.append(True)
        elif len(parts) == 4:
            a.append(dataset.index_of(parts[0], int(parts[1])))
            b.append(dataset.index_of(parts[2], int(parts[3])))
            same.append(False)
        else:
            raise DatasetError(f"{path}:{lineno}: expected 'Name i j' or 'Name1 i Name2 j'")
    same_arr = np.array(same, dtype=bool)
    fold = np.zeros(len(same), dtype=np.int32)
    if len(header) == 2:
        n_folds, per = int(header[0]), int(header[1])
        if len(same) != 2 * n_folds * per:
            raise DatasetError(f"{path}: header promises {n_folds} folds of 2x{per} pairs, found {len(same)}")
        fold = np.repeat(np.arange(n_folds), 2 * per).astype(np.int32)
    else:
        for flag in (True, False):
            where = np.flatnonzero(same_arr == flag)
            fold[where] = np.arange(len(where)) * folds // max(1, len(where))
    return PairList(np.array(a), np.array(b), same_arr, fold)


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """Threshold maximising accuracy (``score >= t`` means same), midway between neighbouring scores."""
    order = np.argsort(scores, kind="stable")
    s, y = scores[order], same[order]
    # Threshold placed just above position i: pairs 0..i say "different", the rest "same".
    correct_below = np.concatenate([[0], np.cumsum(~y)])
    correct_above = np.concatenate([np.cumsum(y[::-1])[::-1], [0]])
    accuracy = correct_below + correct_above
    cut = int(np.argmax(accuracy))
    if cut == 0:
        return float(s[0]) - 1e-6
    if cut == len(s):
        return float(s[-1]) + 1e-6
    return float((s[cut - 1] + s[cut]) / 2)


def kfold_accuracy(
    scores: np.ndarray, same: np.ndarray, fold: np.ndarray
) -> tuple[float, float, list[float]]:
    """LFW protocol: per fold, the best threshold on the other folds; accuracy on the fold."""
    accs = []
    for k in np.unique(fold):
        train, test = fold != k, fold == k
        t = best_threshold(scores[train], same[train])
        accs.append(float(np.mean((scores[test] >= t) == same[test])))
    return float(np.mean(accs)), float(np.std(accs)), accs


@dataclass(frozen=True)
class OperatingPoint:
    fmr_target: float
    threshold: float
    fmr: float  # measured on all impostor pairs of the folder
    fmr_per_person: float  # ... with at most 5 images per person, as the calibration counts them
    fnmr: float  # enrolled genuine pairs only
    fnmr_system: float  # failed enrolments count as non-matches
    fnmr_kiosk: float  # ... and so do images with several faces


@dataclass(frozen=True)
class EvalResult:
    dataset: str
    model_versions: dict[str, str]
    flip_fusion: bool
    images: int
    identities: int
    enrolment_failures: dict[str, int]
    pairs_accuracy: float
    pairs_accuracy_std: float
    pairs_fold_accuracies: list[float]
    pairs_failed: int
    genuine_pairs: int
    impostor_pairs: int
    fitted: tuple[OperatingPoint, ...]
    shipped: tuple[OperatingPoint, ...]
    shipped_note: str | None
    quality_rejection: dict[str, dict[str, float]]
    embedded: int
    embed_seconds: float
    det_png: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        def points(ops: tuple[OperatingPoint, ...]) -> dict[str, dict[str, float]]:
            return {
                fmr_key(p.fmr_target): {
                    "threshold": round(p.threshold, 6),
                    "fmr": p.fmr,
                    "fmr_per_person": p.fmr_per_person,
                    "fnmr": p.fnmr,
                    "fnmr_system": p.fnmr_system,
                    "fnmr_kiosk": p.fnmr_kiosk,
                }
                for p in ops
            }

        return {
            "dataset": self.dataset,
            "model_versions": self.model_versions,
            "flip_fusion": self.flip_fusion,
            "images": self.images,
            "identities": self.identities,
            "enrolment_failures": self.enrolment_failures,
            "pairs": {
                "accuracy": self.pairs_accuracy,
                "std": self.pairs_accuracy_std,
                "folds": self.pairs_fold_accuracies,
                "pairs_with_failed_image": self.pairs_failed,
            },
            "all_pairs": {"genuine": self.genuine_pairs, "impostor": self.impostor_pairs},
            "fitted": points(self.fitted),
            "shipped": points(self.shipped),
            "shipped_note": self.shipped_note,
            "quality_rejection": self.quality_rejection,
            "embedded": self.embedded,
            "embed_seconds": round(self.embed_seconds, 2),
            "det_png": self.det_png,
        }


def quality_rejection(emb: Embeddings) -> dict[str, dict[str, float]]:
    """Share of enrolled images failing each quality measure under live and enrolment limits."""
    rows = [q for q in emb.quality if q]
    if not rows:
        return {}
    out: dict[str, dict[str, float]] = {}
    for label, limits in (
        ("live", QualityLimits.for_live_capture()),
        ("enrolment", QualityLimits.for_enrolment()),
    ):
        failed: dict[str, int] = {}
        overall = 0
        for values in rows:
            measures = check(values, limits).measures
            bad = [m.name for m in measures if not m.passed]
            overall += bool(bad)
            for name in bad:
                failed[name] = failed.get(name, 0) + 1
        out[label] = {name: round(failed.get(name, 0) / len(rows), 5) for name in rows[0]}
        out[label]["any"] = round(overall / len(rows), 5)
    return out


def evaluate_embeddings(
    dataset: LfwDataset,
    emb: Embeddings,
    *,
    shipped_thresholds: dict[float, float] | None = None,
    shipped_note: str | None = None,
    model_versions: dict[str, str] | None = None,
    flip_fusion: bool = False,
) -> tuple[EvalResult, np.ndarray, ImpostorTally]:
    """All figures from precomputed embeddings; also returns the genuine scores and impostor tally (DET)."""
    central = emb.enrolled()
    kiosk = emb.enrolled(several_faces_fail=True)
    ids = dataset.identity
    pairs = read_pairs(dataset)
    pair_ok = central[pairs.a] & central[pairs.b]
    scores = np.einsum("ij,ij->i", emb.vectors[pairs.a], emb.vectors[pairs.b])
    scores = np.where(pair_ok, scores, FAILED_SCORE)
    acc, acc_std, accs = kfold_accuracy(scores, pairs.same, pairs.fold)

    every = np.ones(len(ids), dtype=bool)
    genuine_total = genuine_pair_count(ids, every)
    genuine = genuine_scores(emb.vectors, ids, central)
    genuine_kiosk = genuine_scores(emb.vectors, ids, kiosk)
    tally = impostor_tally(emb.vectors, ids, central, max_fmr=max(EVAL_FMRS))
    per_person = impostor_tally(emb.vectors, ids, first_images(ids, central, 5), max_fmr=max(EVAL_FMRS))

    def point(target: float, threshold: float) -> OperatingPoint:
        return OperatingPoint(
            fmr_target=target,
            threshold=threshold,
            fmr=tally.fmr(threshold),
            fmr_per_person=per_person.fmr(threshold),
            fnmr=float(np.mean(genuine < threshold)) if len(genuine) else float("nan"),
            fnmr_system=system_fnmr(genuine, genuine_total - len(genuine), threshold),
            fnmr_kiosk=system_fnmr(genuine_kiosk, genuine_total - len(genuine_kiosk), threshold),
        )

    fitted = tuple(point(f, tally.threshold(f)) for f in EVAL_FMRS if f * tally.count >= 1)
    shipped = tuple(point(f, t) for f, t in sorted((shipped_thresholds or {}).items(), reverse=True))
    result = EvalResult(
        dataset=dataset.root.name,
        model_versions=model_versions or {},
        flip_fusion=flip_fusion,
        images=len(ids),
        identities=len(dataset.names),
        enrolment_failures=emb.failures(),
        pairs_accuracy=acc,
        pairs_accuracy_std=acc_std,
        pairs_fold_accuracies=accs,
        pairs_failed=int(np.count_nonzero(~pair_ok)),
        genuine_pairs=genuine_total,
        impostor_pairs=tally.count,
        fitted=fitted,
        shipped=shipped,
        shipped_note=shipped_note,
        quality_rejection=quality_rejection(emb),
        embedded=emb.embedded,
        embed_seconds=emb.seconds,
    )
    return result, genuine, tally


def plot_det(
    genuine: np.ndarray, tally: ImpostorTally, points: tuple[OperatingPoint, ...], path: Path, title: str
) -> None:
    """DET curve (FNMR against FMR, both log) with the operating points marked, written as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    g = np.sort(genuine)
    # Exact tail from the kept top impostor scores, the rest from the histogram's bin edges.
    tail_t = tally.top.astype(np.float64)
    tail_fmr = np.arange(1, len(tail_t) + 1) / tally.count
    edges = -1.0 + 2.0 * np.arange(HIST_BINS) / HIST_BINS
    cum = np.cumsum(tally.hist[::-1])[::-1] / tally.count
    keep = edges < (tail_t[-1] if len(tail_t) else 1.0)
    thr = np.concatenate([tail_t, edges[keep][::-1]])
    fmr = np.concatenate([tail_fmr, cum[keep][::-1]])
    fnmr = np.searchsorted(g, thr, side="left") / max(1, len(g))
    floor = 0.5 / max(1, len(g))

    fig, ax = plt.subplots(figsize=(6.4, 5.2), dpi=110)
    ax.plot(np.maximum(fmr, 1e-9), np.maximum(fnmr, floor), lw=1.6, label="all pairs")
    for p in points:  # where the threshold lands on this curve (its measured FMR), labelled with its target
        ax.plot(max(p.fmr, 1e-9), max(p.fnmr, floor), "o", ms=6)
        ax.annotate(
            f"FMR {p.fmr_target:g}: thr {p.threshold:.3f}, FNMR {p.fnmr:.2%}",
            (max(p.fmr, 1e-9), max(p.fnmr, floor)),
            textcoords="offset points",
            xytext=(6, 6),  # above and right of the point: the curve falls to the right, so that is clear
            ha="left",
            va="bottom",
            fontsize=7,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(max(1.0 / tally.count, 1e-7), 1.0)
    ax.set_ylim(floor, 1.0)
    ax.set_xlabel("false match rate (FMR)")
    ax.set_ylabel("false non-match rate (FNMR)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def evaluate(
    root: Path | str,
    *,
    engine: FaceEngine | None = None,
    manifest: Path | None = None,
    cache_dir: Path | None = None,
    det_path: Path | None = None,
    progress: Any = None,
) -> EvalResult:
    """Evaluate ``engine`` (default: loaded from ``manifest``) on an LFW-format folder; see the module doc."""
    engine = engine or FaceEngine.load(manifest)
    dataset = read_lfw(root)
    emb = embed_dataset(dataset, engine, cache_dir=cache_dir, progress=progress)
    if emb.enrolled().sum() < 2:
        raise DatasetError(f"fewer than two images of {root} could be enrolled")
    shipped: dict[float, float] = {}
    note = None
    table = (engine.embedder_spec.thresholds or {}).get("fmr") or {}
    try:
        calibrated = [float(k) for k in table]
        shipped = {f: engine.threshold(f) for f in SHIPPED_FMRS if min(calibrated) <= f <= max(calibrated)}
        if not table:
            note = "embedder not calibrated"
    except ModelError as exc:
        note = str(exc)
    result, genuine, tally = evaluate_embeddings(
        dataset,
        emb,
        shipped_thresholds=shipped,
        shipped_note=note,
        model_versions=engine.model_versions,
        flip_fusion=engine.flip_fusion,
    )
    if det_path is not None:
        title = f"{dataset.root.name}: {engine.model_id}, flip fusion {engine.flip_fusion}"
        plot_det(genuine, tally, result.shipped or result.fitted[:3], det_path, title)
        result = replace(result, det_png=str(det_path))
    return result


def format_eval(r: EvalResult) -> str:
    lines = [
        f"data set     {r.dataset}: {r.images} images, {r.identities} people; flip fusion {r.flip_fusion}",
        f"models       {', '.join(f'{k} {v}' for k, v in r.model_versions.items())}",
        f"enrolment    {sum(r.enrolment_failures.values())} failures {r.enrolment_failures or ''}",
        f"pairs.txt    accuracy {r.pairs_accuracy:.4%} +- {r.pairs_accuracy_std:.4%} (10-fold; "
        f"{r.pairs_failed} pairs with a failed image count as non-matches)",
        f"all pairs    {r.genuine_pairs:,} genuine, {r.impostor_pairs:,} impostor",
        "             target FMR  threshold  FMR        FMR<=5/pp  FNMR     FNMR system  FNMR kiosk",
    ]
    for label, ops in (("fitted", r.fitted), ("shipped", r.shipped)):
        for p in ops:
            lines.append(
                f"{label:<12} {p.fmr_target:<11g} {p.threshold:.5f}    {p.fmr:.2e}   "
                f"{p.fmr_per_person:.2e}   {p.fnmr:7.3%}  {p.fnmr_system:7.3%}      {p.fnmr_kiosk:7.3%}"
            )
    if r.shipped_note:
        lines.append(f"shipped      {r.shipped_note}")
    for label, rates in r.quality_rejection.items():
        text = ", ".join(f"{k} {v:.2%}" for k, v in rates.items())
        lines.append(f"quality      {label} limits reject: {text}")
    if r.embedded:
        lines.append(f"embedding    {r.embedded} images in {r.embed_seconds:.1f} s")
    if r.det_png:
        lines.append(f"DET curve    {r.det_png}")
    return "\n".join(lines)
