"""Score-threshold calibration on an LFW-format folder, checked on people the calibration never saw.

The folder holds ``people.txt`` (name and image count per line), ``pairs.txt`` (for evaluation) and
``images/<Name>/<Name>_NNNN.jpg``. Every image is embedded once (templates cached on disk, keyed by the
pipeline configuration and the file's content hash), then:

- genuine comparisons: every pair of images of the same person;
- impostor comparisons: every pair of images of different people, each person with at most 5 images
  (see :func:`calibrate_embeddings` for why; about 21 million pairs for lfw-dev, 45 million without the
  cap), computed blockwise with numpy, memory-bounded, keeping a fine histogram and the exact top scores;
- the threshold for a false match rate ``f`` is the score below which all but ``floor(f * n)`` impostor
  comparisons fall (midway between the two neighbouring impostor scores; a comparison matches when
  ``score >= threshold``).

Impostor score tails depend on *which* people are compared (look-alikes, relatives, label errors), so a
threshold that holds on the people it was fitted on may not hold on others. Identities are therefore split
into ``folds`` groups: for each, thresholds are fitted on the impostor pairs among the other groups and the
false match rate is measured on the impostor pairs among the held-out group. The shipped threshold is the
largest of the all-data threshold, the threshold over every impostor pair without the per-person cap, and
the per-fold held-out thresholds' mean shifted up by their spread (see :func:`calibrate`), so it errs
towards fewer false matches.

Enrolment failures (no face, several faces, unreadable file) are counted, never dropped: every genuine pair
that involves one counts as a false non-match at the system level; impostor pairs that involve one are
left out of the false match rate (no comparison is made, so no false match can occur).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from matcher.engine import FaceEngine
from matcher.lab import fmr_curve
from matcher.lab.embed_cache import (
    Embeddings,
    embed_dataset,
)
from matcher.lab.lfw import (
    DatasetError,
    LfwDataset,
    dataset_label,
    read_lfw,
    same_person_pairs,
)
from matcher.lab.scores import (
    genuine_pair_count,
    genuine_scores,
    identity_folds,
    system_fnmr,
)
from matcher.models import fmr_key, set_thresholds
from matcher.utc import iso_utc, utc_now


@dataclass(frozen=True)
class CalibrationResult:
    dataset: str
    model_id: str
    detector_id: str
    flip_fusion: bool
    images: int
    identities: int
    enrolment_failures: dict[str, int]
    genuine_pairs: int  # every same-identity pair, failures included
    impostor_pairs: int  # every different-identity pair among the enrolled images
    impostor_weight: float  # their total weight (each person counts as at most ``max_images_per_person``)
    max_images_per_person: int | None
    curve: dict[float, float]  # FMR -> threshold, descending FMR
    bounds: dict[float, tuple[float, float]]  # FMR -> 90% identity-bootstrap interval of the threshold
    empirical_to: float  # smallest FMR read directly off the data; the fitted tail below
    tail: fmr_curve.TailFit | None
    fnmr: dict[float, float]  # system-level FNMR at the curve (failures count as non-matches)
    held_out: dict[float, fmr_curve.HeldOutPoint]
    folds: int
    repeats: int
    embed_seconds: float
    embedded: int
    date: str

    def testable(self, fmr: float) -> bool:
        """Whether held-out people give at least ``MIN_HELD_OUT`` expected false matches per repeat."""
        h = self.held_out.get(fmr)
        return h is not None and h.expected / self.repeats >= MIN_HELD_OUT

    def manifest_meta(self) -> dict[str, Any]:
        tail = None
        if self.tail is not None:
            tail = {
                "domain": "fisher_z",
                "distribution": "generalised_pareto",
                "u": round(self.tail.u, 6),
                "rate_above_u": self.tail.rate,
                "shape": round(self.tail.shape, 5),
                "scale": round(self.tail.scale, 6),
                "exceedances": self.tail.exceedances,
            }
        return {
            "dataset": self.dataset,
            "date": self.date,
            "model_id": self.model_id,
            "detector_id": self.detector_id,
            "flip_fusion": self.flip_fusion,
            "images": self.images,
            "identities": self.identities,
            "enrolment_failures": self.enrolment_failures,
            "enrolment_policy": (
                "an image with several faces is enrolled with its central face (LFW protocol); any other "
                "failure counts as a false non-match in fnmr"
            ),
            "genuine_pairs": self.genuine_pairs,
            "impostor_pairs": self.impostor_pairs,
            "impostor_weight": round(self.impostor_weight, 1),
            "max_images_per_person": self.max_images_per_person,
            "empirical_to_fmr": self.empirical_to,
            "tail": tail,
            "bounds90": {fmr_key(f): [round(lo, 6), round(hi, 6)] for f, (lo, hi) in self.bounds.items()},
            "fnmr": {fmr_key(f): round(v, 6) for f, v in self.fnmr.items()},
            "held_out": {
                "folds": self.folds,
                "repeats": self.repeats,
                "ratio": {fmr_key(f): round(h.ratio, 3) for f, h in self.held_out.items()},
                "expected_false_matches_per_repeat": {
                    fmr_key(f): round(h.expected / self.repeats, 1) for f, h in self.held_out.items()
                },
            },
            "method": (
                "every impostor pair of different people (bar the LFW_SAME_PERSON label errors), each "
                "image weighted min(1, max_images_per_person / images of its person); threshold read off "
                f"the weighted scores down to {fmr_curve.MIN_COUNT:g} weighted false matches, below that "
                f"a generalised Pareto tail fitted to the Fisher-z scores above the top "
                f"{fmr_curve.TAIL_COUNT:g}, at most {fmr_curve.MAX_EXTRAPOLATION:g} decades further; "
                f"bounds90 from {BOOTSTRAP_REPLICATES} identity bootstrap replicates; held_out: "
                f"{self.folds}-fold identity-disjoint splits repeated {self.repeats} times, achieved FMR / "
                "target on the people left out of the fit"
            ),
        }

    def as_dict(self) -> dict[str, Any]:
        out = self.manifest_meta()
        out["curve"] = {fmr_key(f): t for f, t in self.curve.items()}
        out["held_out_points"] = {
            fmr_key(f): {
                "achieved": h.achieved,
                "ratio": h.ratio,
                "expected": h.expected,
                "per_repeat": h.per_repeat,
                "testable": self.testable(f),
            }
            for f, h in self.held_out.items()
        }
        out["embed_seconds"] = round(self.embed_seconds, 2)
        out["embedded"] = self.embedded
        return out


MIN_HELD_OUT = 10.0  # expected held-out false matches per repeat for a rate to count as checked
BOOTSTRAP_REPLICATES = 200


def calibrate_embeddings(
    dataset: LfwDataset,
    emb: Embeddings,
    *,
    folds: int = 2,
    repeats: int = 5,
    detector_id: str = "",
    flip_fusion: bool = False,
    max_images_per_person: int | None = fmr_curve.DEFAULT_CAP,
    images: np.ndarray | None = None,
    replicates: int = BOOTSTRAP_REPLICATES,
) -> CalibrationResult:
    """The threshold curve of :mod:`matcher.lab.fmr_curve` over every impostor pair of the enrolled images,
    its identity-bootstrap bounds, and its check on people left out of the fit.

    Why the per-person weight: a pair-level false match rate is dominated by the people with most images.
    On lfw-dev, George W Bush's 530 images make 11% of all impostor pairs, and his pairs with Jeb Bush's 12
    images alone make 56% of the false matches at FMR 1e-4; a threshold fitted on one half of the people
    then gives 0.4 to 2.1 times the target rate on the other half. A kiosk sees each traveller once, so each
    person weighs at most ``max_images_per_person`` images.

    Held-out check: ``repeats`` random splits of the people into ``folds`` groups (two by default, so that
    the held-out groups are as large as possible for the rare rates); for each group, the curve fitted on
    the others and the weighted false matches among the group's own people.
    ``images``: calibrate on this subset only (boolean mask over the images), e.g. half of the people.
    """
    ids = dataset.identity
    every = np.ones(len(ids), dtype=bool) if images is None else np.asarray(images, dtype=bool)
    ok = emb.enrolled() & every
    pool = fmr_curve.impostor_pool(
        emb.vectors, ids, ok, cap=max_images_per_person, same_person=same_person_pairs(dataset)
    )
    tail = pool.tail()
    curve = fmr_curve.curve(tail)
    if not curve:
        raise DatasetError(
            f"too few impostor pairs ({pool.pairs}) for a threshold at FMR {max(fmr_curve.GRID)}"
        )
    genuine = genuine_scores(emb.vectors, ids, ok)
    failed_pairs = genuine_pair_count(ids, every) - len(genuine)
    splits = [identity_folds(dataset.names, folds, seed) for seed in range(repeats)]
    last_empirical = min(f for f in curve if f * tail.total >= fmr_curve.MIN_COUNT)
    return CalibrationResult(
        dataset=dataset_label(dataset),
        model_id=emb.model_id,
        detector_id=detector_id,
        flip_fusion=flip_fusion,
        images=int(every.sum()),
        identities=len(np.unique(ids[every])),
        enrolment_failures=dict(
            Counter(s for s, keep in zip(emb.status, every, strict=True) if keep and s != "ok")
        ),
        genuine_pairs=genuine_pair_count(ids, every),
        impostor_pairs=pool.pairs,
        impostor_weight=tail.total,
        max_images_per_person=max_images_per_person,
        curve=curve,
        bounds=fmr_curve.bootstrap_bounds(pool, list(curve), replicates=replicates),
        empirical_to=last_empirical,
        tail=fmr_curve.fit_tail(tail) if len(curve) and min(curve) < last_empirical else None,
        fnmr={f: system_fnmr(genuine, failed_pairs, t) for f, t in curve.items()},
        held_out=fmr_curve.held_out(pool, splits, list(curve)),
        folds=folds,
        repeats=repeats,
        embed_seconds=emb.seconds,
        embedded=emb.embedded,
        date=iso_utc(utc_now(), "seconds"),
    )


def calibrate(
    root: Path | str,
    *,
    manifest: Path | None = None,
    engine: FaceEngine | None = None,
    cache_dir: Path | None = None,
    folds: int = 2,
    repeats: int = 5,
    write: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> CalibrationResult:
    """Calibrate the default embedder of ``manifest`` on an LFW-format folder and, with ``write``, store the
    threshold curve, its bounds and provenance in the manifest (``matcher.models.set_thresholds``)."""
    engine = engine or FaceEngine.load(manifest)
    dataset = read_lfw(root)
    emb = embed_dataset(dataset, engine, cache_dir=cache_dir, progress=progress)
    if emb.enrolled().sum() < 2:
        raise DatasetError(f"fewer than two images of {root} could be enrolled")
    result = calibrate_embeddings(
        dataset,
        emb,
        folds=folds,
        repeats=repeats,
        detector_id=engine.detector_spec.model_id,
        flip_fusion=engine.flip_fusion,
    )
    if write:
        set_thresholds(
            engine.embedder_spec.name,
            {f: math.ceil(t * 1e6) / 1e6 for f, t in result.curve.items()},  # rounded up: never laxer
            result.manifest_meta(),
            path=manifest,
        )
    return result


def format_calibration(result: CalibrationResult) -> str:
    lines = [
        f"data set      {result.dataset}: {result.images} images, {result.identities} people",
        f"model         {result.model_id} (detector {result.detector_id}, flip fusion {result.flip_fusion})",
        f"enrolment     {sum(result.enrolment_failures.values())} failures {result.enrolment_failures or ''}",
        f"comparisons   {result.genuine_pairs:,} genuine, {result.impostor_pairs:,} impostor (weight "
        f"{result.impostor_weight:,.0f} at <= {result.max_images_per_person} images per person)",
        f"curve         read off the data down to FMR {result.empirical_to:g}, fitted tail below"
        + (
            f" (GPD on Fisher z above {result.tail.u:.4f}: shape {result.tail.shape:.3f}, "
            f"scale {result.tail.scale:.4f}, {result.tail.exceedances} pairs)"
            if result.tail
            else ""
        ),
        f"held out      {result.folds}-fold identity-disjoint splits x {result.repeats}; achieved FMR / "
        f"target (checked: >= {MIN_HELD_OUT:g} expected false matches per split)",
        "target FMR   threshold  90% bounds         FNMR      held-out ratio  expected/split  per split",
    ]
    for f, t in result.curve.items():
        lo, hi = result.bounds[f]
        h = result.held_out.get(f)
        held = "-"
        if h is not None:
            mark = "" if result.testable(f) else " (unchecked)"
            per = " ".join(f"{v:.2f}" for v in h.per_repeat)
            held = f"{h.ratio:5.2f}x{mark:<12} {h.expected / result.repeats:10.1f}      {per}"
        lines.append(f"{f:<12.3g} {t:.5f}    {lo:.4f}..{hi:.4f}    {result.fnmr[f]:7.3%}   {held}")
    return "\n".join(lines)
