"""1:1 comparison of two face images with per-stage timings: the function behind ``matcher compare``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import click

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


@click.command("compare")
@click.argument("image_a", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("image_b", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--fmr", type=float, default=1e-3, show_default=True, help="Target false match rate.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option(
    "--detector", default=None, help="Detector model name from the manifest (default: its default)."
)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Intra-op threads per model.")
def compare_command(
    image_a: Path, image_b: Path, fmr: float, as_json: bool, detector: str | None, threads: int | None
) -> None:
    """Compare the faces of IMAGE_A and IMAGE_B: score, calibrated threshold for --fmr, match or not, and
    per-stage timings (model loading excluded, reported apart). Exit 2 with a one-line error when an image
    is unreadable or holds no face or several faces."""
    import json

    if not 0.0 < fmr < 1.0:
        raise click.BadParameter("must lie in (0, 1)", param_hint="--fmr")
    start = time.perf_counter()
    engine = FaceEngine.load(detector=detector, threads=threads)
    load_ms = (time.perf_counter() - start) * 1000
    result = compare_images(image_a, image_b, engine=engine, fmr=fmr)
    if as_json:
        click.echo(json.dumps({**result.as_dict(), "load_ms": round(load_ms, 1)}))
        return
    click.echo(f"score      {result.score:.4f}")
    if result.threshold is None:
        click.echo(f"threshold  unavailable: {result.threshold_note}")
        click.echo("result     undecided (no calibrated threshold)")
    else:
        click.echo(f"threshold  {result.threshold:.4f} (FMR {fmr:g})")
        click.echo(f"result     {'MATCH' if result.match else 'NO MATCH'}")
    stages = "  ".join(f"{s} {result.timings_ms[s]:.1f}" for s in STAGES)
    click.echo(f"timings ms {stages}  | work {result.work_ms:.1f}  (model load {load_ms:.0f}, not counted)")
