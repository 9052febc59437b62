"""1:1 comparison of two face images with per-stage timings: the function behind ``matcher compare``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from matcher.engine import FaceEngine
from matcher.errors import MatcherError, ModelError
from matcher.imageio import load_image
from matcher.types import Template

STAGES = ("decode", "detect", "align", "embed", "compare")


@dataclass
class CompareResult:
    """Score of two images, the calibrated threshold for ``fmr`` (None with ``threshold_note`` when there is
    no calibration) and the decision; ``timings_ms`` per stage, summed over both images."""

    score: float
    fmr: float
    threshold: float | None
    threshold_note: str | None
    match: bool | None
    timings_ms: dict[str, float]
    model_versions: dict[str, str] = field(default_factory=dict)

    @property
    def work_ms(self) -> float:
        return sum(self.timings_ms[s] for s in STAGES)

    def as_dict(self) -> dict[str, object]:
        return {
            "score": round(self.score, 6),
            "fmr": self.fmr,
            "threshold": None if self.threshold is None else round(self.threshold, 6),
            "threshold_note": self.threshold_note,
            "match": self.match,
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
            "work_ms": round(self.work_ms, 3),
            "model_versions": self.model_versions,
        }


def _template(engine: FaceEngine, source: str | Path | bytes, timings: dict[str, float]) -> Template:
    def lap(stage: str, start: float) -> float:
        now = time.perf_counter()
        timings[stage] += (now - start) * 1000
        return now

    start = time.perf_counter()
    image = load_image(source)
    start = lap("decode", start)
    face = engine.select_face(engine.detect(image), image.shape)
    start = lap("detect", start)
    aligned = engine.align(image, face)
    start = lap("align", start)
    vector = engine.embed(aligned)
    lap("embed", start)
    return Template(vector=vector, model_id=engine.model_id, face=face)


def compare_images(
    image_a: str | Path | bytes,
    image_b: str | Path | bytes,
    *,
    engine: FaceEngine | None = None,
    fmr: float = 1e-3,
) -> CompareResult:
    """Compare the one face of each image (paths or encoded bytes).

    Raises ImageError (unreadable), NoFaceError or MultipleFacesError, with the image named in the message.
    An uncalibrated embedder is not an error: ``threshold`` and ``match`` are then None and
    ``threshold_note`` says why.
    """
    if engine is None:
        engine = FaceEngine.load()
    timings = dict.fromkeys(STAGES, 0.0)
    templates = []
    for label, source in (("A", image_a), ("B", image_b)):
        try:
            templates.append(_template(engine, source, timings))
        except MatcherError as exc:
            name = Path(source).name if isinstance(source, str | Path) else f"image {label}"
            if name not in str(exc):
                exc.args = (f"{name}: {exc}",)
            raise
    start = time.perf_counter()
    score = engine.compare(templates[0], templates[1])
    timings["compare"] = (time.perf_counter() - start) * 1000
    threshold: float | None
    note: str | None = None
    try:
        threshold = engine.threshold(fmr)
    except ModelError as exc:
        threshold, note = None, str(exc)
    return CompareResult(
        score=score,
        fmr=fmr,
        threshold=threshold,
        threshold_note=note,
        match=None if threshold is None else score >= threshold,
        timings_ms=timings,
        model_versions=engine.model_versions,
    )
