"""``kiosk document bench``: the OCR benchmark on generated data pages and, beside it, on real images
(see ``kiosk.documents.ocr.bench``)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import click

from kiosk.documents.ocr.bench import DEFAULT_FONTS, DEFAULT_FORMATS, run_benchmark, run_real_benchmark
from kiosk.documents.synth import UNSEEN_FONTS, Degradation, available_fonts
from kiosk.documents.synth.layout import LAYOUTS


def _names(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _default_real_folder() -> Path | None:
    """``$EGATE_SHARED/data/mrz-real-dev`` when it holds a truth.json."""
    shared = os.environ.get("EGATE_SHARED")
    folder = Path(shared) / "data" / "mrz-real-dev" if shared else None
    return folder if folder is not None and (folder / "truth.json").is_file() else None


@click.command("bench")
@click.option("--count", default=200, show_default=True, type=click.IntRange(1), help="Pages to generate.")
@click.option("--seed", default=20261123, show_default=True, type=int, help="Seed of the page generator.")
@click.option(
    "--fonts", default=",".join(DEFAULT_FONTS), show_default=True, help="Comma-separated MRZ fonts."
)
@click.option("--unseen-font", is_flag=True, help="Use only fonts the classifier was not trained on.")
@click.option("--formats", default=",".join(DEFAULT_FORMATS), show_default=True, help="TD1, TD2, TD3 mix.")
@click.option(
    "--max-perspective",
    default=Degradation.max_perspective,
    show_default=True,
    type=click.FloatRange(0, 0.2),
    help="Largest corner displacement, as a fraction of the page size.",
)
@click.option(
    "--max-blur",
    default=Degradation.max_blur_sigma,
    show_default=True,
    type=click.FloatRange(0.3, 5),
    help="Largest Gaussian blur sigma, pixels.",
)
@click.option(
    "--max-noise",
    default=Degradation.max_noise_sigma,
    show_default=True,
    type=click.FloatRange(1, 60),
    help="Largest sensor noise sigma, grey levels.",
)
@click.option(
    "--min-jpeg",
    default=Degradation.min_jpeg_quality,
    show_default=True,
    type=click.IntRange(5, 95),
    help="Lowest JPEG quality.",
)
@click.option(
    "--real",
    "real_folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of real images with truth.json [default: $EGATE_SHARED/data/mrz-real-dev when present].",
)
@click.option("--no-real", is_flag=True, help="Skip the real images.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--progress", is_flag=True, help="Print running counts every 20 pages.")
def bench(
    count: int,
    seed: int,
    fonts: str,
    unseen_font: bool,
    formats: str,
    max_perspective: float,
    max_blur: float,
    max_noise: float,
    min_jpeg: int,
    real_folder: Path | None,
    no_real: bool,
    as_json: bool,
    progress: bool,
) -> None:
    """Generate data pages and read them (150-600 dpi, blur, noise, rotation up to 5 degrees, perspective,
    uneven light, glare, JPEG) and report the exact-read rate, the silently-wrong rate (every check
    passed but the MRZ differs from the truth; must be 0), the rejection rate and the time per page; then the
    same figures on the real images of ``--real`` (per image with ``--json``)."""
    chosen = available_fonts(UNSEEN_FONTS) if unseen_font else _names(fonts)
    missing = set(chosen) - set(available_fonts(chosen))
    if missing or not chosen:
        names = ", ".join(sorted(missing)) or "none given"
        raise click.BadParameter(f"fonts not installed or unknown: {names}", param_hint="--fonts")
    unknown = set(_names(formats)) - set(LAYOUTS)
    if unknown or not _names(formats):
        raise click.BadParameter(f"formats must be among {', '.join(LAYOUTS)}", param_hint="--formats")
    spec = Degradation(
        max_perspective=max_perspective,
        max_blur_sigma=max_blur,
        max_noise_sigma=max_noise,
        min_jpeg_quality=min_jpeg,
    )
    result = run_benchmark(
        count=count,
        seed=seed,
        fonts=chosen,
        formats=_names(formats),
        spec=spec,
        progress=progress and not as_json,
    )
    folder = None if no_real else real_folder or _default_real_folder()
    real = run_real_benchmark(folder) if folder is not None else None
    if as_json:
        figures = {**asdict(result), "fonts": list(chosen), "degradation": asdict(spec)}
        figures["real"] = real.as_dict() if real else None
        click.echo(json.dumps(figures, indent=2))
    else:
        click.echo(f"fonts: {', '.join(chosen)}")
        click.echo(result.summary())
        click.echo(real.summary() if real else "real images: none (--real DIR or EGATE_SHARED)")
