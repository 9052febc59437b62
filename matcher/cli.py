"""``matcher`` command line: each command is a thin shell over a documented function of the package."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from matcher.compare import STAGES, compare_images
from matcher.console import run_console
from matcher.engine import FaceEngine
from matcher.errors import MatcherError, ModelError
from matcher.lab.cli import (
    bench_command,
    bench_search_command,
    calibrate_command,
    calibrate_search_command,
    eval_command,
    pad_eval_command,
)
from matcher.models import check_models
from matcher.watchlist.cli import watchlist
from matcher.watchlist.documents_cli import doclist


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


@click.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def models_command(as_json: bool) -> None:
    """Verify the model files of the manifest (EGATE_MODELS_MANIFEST or models/manifest.json): id, licence,
    location and sha256 check of each. Exit 2 when a non-optional model is missing or altered."""
    statuses = check_models()
    if as_json:
        click.echo(json.dumps([s.__dict__ for s in statuses], indent=1))
    else:
        for s in statuses:
            tags = ", ".join(t for t, on in (("default", s.is_default), ("optional", s.optional)) if on)
            state = "ok" if s.ok else "absent" if s.optional else "FAILED"
            click.echo(f"{s.role:<9}{s.model_id:<30}{state:<8}{tags}")
            click.echo(f"         licence: {s.licence}")
            click.echo(f"         {s.path if s.ok else s.problem}")
    failed = [s.name for s in statuses if not s.ok and not s.optional]
    if failed:
        raise ModelError(f"model verification failed: {', '.join(failed)}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Biometric core of the e-gate: compare faces, evaluate, calibrate, benchmark, manage watchlists."""


for _command in (
    compare_command,
    eval_command,
    calibrate_command,
    calibrate_search_command,
    bench_command,
    models_command,
    pad_eval_command,
    watchlist,
    bench_search_command,
    doclist,
):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry: a one-line error and a non-zero exit for every expected failure."""
    run_console(cli, (MatcherError, OSError, ValueError))
