"""The lab's commands, registered by ``matcher/cli.py``: ``matcher eval``, ``calibrate``,
``calibrate-search``, ``bench``, ``bench-search``, ``pad-eval``."""

from __future__ import annotations

import json
import resource
import sys
from dataclasses import asdict, replace
from pathlib import Path

import click
import faiss

from matcher.engine import FaceEngine
from matcher.lab.bench import run_bench
from matcher.lab.calibrate import calibrate, format_calibration
from matcher.lab.evaluate import evaluate, format_eval
from matcher.lab.fpir_model import (
    calibrate_search,
    format_search_calibration,
    usable_templates,
    write_search_table,
)
from matcher.lab.lfw import read_lfw
from matcher.lab.pad_eval import evaluate_pad, format_pad
from matcher.lab.watchlist_bench import (
    RealSearchBench,
    SearchBench,
    TemplateModel,
    bench_size,
    default_lfw_dir,
    model_from_lfw,
    real_bench_from_lfw,
)
from matcher.models import manifest_path
from matcher.watchlist import index as wl_index


@click.command("calibrate")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), help="Manifest to update.")
@click.option("--folds", default=2, show_default=True, help="Identity-disjoint folds for the held-out check.")
@click.option("--repeats", default=5, show_default=True, help="Random fold splits for the held-out check.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), help="Template cache folder.")
@click.option("--threads", type=int, help="onnxruntime threads per model (default: all cores).")
@click.option("--dry-run", is_flag=True, help="Report only; do not write the manifest.")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
def calibrate_command(
    directory: Path,
    manifest: Path | None,
    folds: int,
    repeats: int,
    cache_dir: Path | None,
    threads: int | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Fit the embedder's threshold curve (FMR 1e-1 down to 1e-8 where the data allow) on an LFW-format
    DIRECTORY (all genuine and impostor pairs), with bootstrap bounds, check it on held-out people, and write
    it into the manifest."""
    read_lfw(directory)  # a bad folder fails before the models load
    engine = FaceEngine.load(manifest, threads=threads)
    result = calibrate(
        directory,
        manifest=manifest,
        engine=engine,
        cache_dir=cache_dir,
        folds=folds,
        repeats=repeats,
        write=not dry_run,
        progress=_progress if sys.stderr.isatty() else None,
    )
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo(format_calibration(result))
        if not dry_run:
            click.echo(f"thresholds written to {manifest_path(manifest)}")


@click.command("calibrate-search")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), help="Manifest to update.")
@click.option("--splits", default=10, show_default=True, help="Random splits of the people per check.")
@click.option("--dry-run", is_flag=True, help="Report only; do not write the manifest.")
def calibrate_search_command(directory: Path, manifest: Path | None, splits: int, dry_run: bool) -> None:
    """Fit the per-search FPIR model (threshold per list size and FPIR) on an LFW-format DIRECTORY, check it
    on real galleries of people left out of the fit, and write its table into the manifest."""
    vectors, identity, usable, dataset, model_id = usable_templates(directory)
    result = calibrate_search(
        vectors,
        identity,
        usable,
        dataset=dataset,
        model_id=model_id,
        splits=splits,
        log=lambda s: click.echo(s, err=True),
    )
    click.echo(format_search_calibration(result))
    if not dry_run:
        write_search_table(result, manifest)
        click.echo(f"FPIR table written to {manifest_path(manifest)}")


def _progress(done: int, total: int) -> None:
    click.echo(f"embedded {done}/{total} images", err=True)


@click.command("eval")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--det", "det_path", type=click.Path(dir_okay=False, path_type=Path), help="Write a DET PNG.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Manifest.")
@click.option("--detector", help="Detector model name from the manifest (default: the manifest's).")
@click.option("--flip-fusion/--no-flip-fusion", default=None, help="Override the manifest's flip fusion.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), help="Template cache folder.")
@click.option("--threads", type=int, help="onnxruntime threads per model (default: all cores).")
def eval_command(
    directory: Path,
    det_path: Path | None,
    as_json: bool,
    manifest: Path | None,
    detector: str | None,
    flip_fusion: bool | None,
    cache_dir: Path | None,
    threads: int | None,
) -> None:
    """Evaluate on an LFW-format DIRECTORY: pairs.txt 10-fold accuracy, FNMR at FMR 1e-2..1e-5 over all
    pairs, enrolment failures, quality rejection rates, and a DET curve (--det)."""
    read_lfw(directory)  # a bad folder fails before the models load
    engine = FaceEngine.load(manifest, detector=detector, threads=threads, flip_fusion=flip_fusion)
    result = evaluate(
        directory,
        engine=engine,
        cache_dir=cache_dir,
        det_path=det_path,
        progress=(lambda d, n: click.echo(f"embedded {d}/{n} images", err=True))
        if sys.stderr.isatty()
        else None,
    )
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else format_eval(result))


@click.command("bench")
@click.option("--repeats", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--threads", "threads", default="1,2", show_default=True, help="Comma-separated thread counts.")
@click.option(
    "--detector", default=None, help="Detector model name from the manifest (default: its default)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON rows instead of a table.")
def bench_command(repeats: int, threads: str, detector: str | None, as_json: bool) -> None:
    """Median and p95 latency per stage (decode, detect, align, embed) on 640x480 and 1920x1080 frames
    with a real face, for each thread count, and of a 1:1 comparison of two JPEGs end to end."""
    import json

    try:
        counts = tuple(int(t) for t in threads.split(","))
    except ValueError:
        raise click.BadParameter("expected integers such as 1,2", param_hint="--threads") from None
    if not counts or min(counts) < 1:
        raise click.BadParameter("thread counts must be >= 1", param_hint="--threads")
    rows = run_bench(threads=counts, repeats=repeats, detector=detector)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=1))
        return
    click.echo(f"{'case':<24}{'thr':>4}  {'stage':<20}{'median ms':>10}{'p95 ms':>10}")
    for row in rows:
        for stage, median in row.median_ms.items():
            click.echo(
                f"{row.case:<24}{row.threads:>4}  {stage:<20}{median:>10.2f}{row.p95_ms[stage]:>10.2f}"
            )


@click.command("pad-eval")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--samples", type=click.IntRange(1), default=200, show_default=True, help="Bona fide images.")
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling and simulation seed.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True)
@click.option("--threads", type=click.IntRange(1), default=2, show_default=True, help="Threads per model.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def pad_eval_command(
    directory: Path, samples: int, seed: int, threshold: float, threads: int, as_json: bool
) -> None:
    """Measure passive liveness on an LFW-format DIRECTORY: BPCER on a random sample of its images (bona
    fide) and APCER per simulated attack species made from the same images, with counts and 95% intervals,
    and the liveness cost per frame."""
    read_lfw(directory)  # a bad folder fails before the models load
    engine = FaceEngine.load(threads=threads, liveness=True)
    report = evaluate_pad(engine, directory, samples=samples, seed=seed, threshold=threshold)
    report = replace(report, threads=threads)
    click.echo(json.dumps(report.as_dict(), indent=2) if as_json else format_pad(report))


@click.command("bench-search")
@click.option("--sizes", default="10000,100000", show_default=True, help="Comma-separated gallery sizes.")
@click.option(
    "--queries",
    type=click.IntRange(min=10),
    default=1000,
    show_default=True,
    help="Probes per size, half mated, half non-mated.",
)
@click.option(
    "--exact-queries",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Probes timed one at a time on the exact index (slow at 1M).",
)
@click.option(
    "--k-factor",
    "k_factors",
    default=f"5,{wl_index.DEFAULT_PQ.k_factor}",
    show_default=True,
    help="Candidates re-scored exactly per result wanted (values to measure).",
)
@click.option("--pq-m", type=int, default=wl_index.DEFAULT_PQ.m, show_default=True, help="PQ sub-quantisers.")
@click.option(
    "--source",
    type=click.Choice(["lfw", "random"]),
    default=None,
    help="Templates derived from real LFW embeddings, or random unit vectors "
    "(default: lfw when $EGATE_SHARED has lfw-dev).",
)
@click.option(
    "--lfw",
    "lfw_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="LFW-format folder for --source lfw (default $EGATE_SHARED/data/lfw-dev).",
)
@click.option(
    "--lfw-images", type=click.IntRange(min=100), help="Fit on the first N images only (default: all)."
)
@click.option(
    "--threads", type=click.IntRange(min=1), default=2, show_default=True, help="FAISS build threads."
)
@click.option(
    "--search-threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="FAISS threads while searching one probe at a time (OpenMP overhead dominates above 1).",
)
@click.option(
    "--real-sizes",
    default="1000,100000",
    show_default=True,
    help="List sizes for the real-identity figures (FPIR, FNIR; --source lfw only); 'none' to skip.",
)
@click.option(
    "--enrolled",
    type=click.IntRange(min=10),
    default=1000,
    show_default=True,
    help="Real people enrolled (one image each); the rest of the list is synthetic.",
)
@click.option(
    "--splits", type=click.IntRange(min=1), default=5, show_default=True, help="Random splits of the people."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON rows.")
def bench_search_command(
    sizes: str,
    queries: int,
    exact_queries: int,
    k_factors: str,
    pq_m: int,
    source: str | None,
    lfw_dir: Path | None,
    lfw_images: int | None,
    threads: int,
    search_threads: int,
    real_sizes: str,
    enrolled: int,
    splits: int,
    seed: int,
    as_json: bool,
) -> None:
    """Watchlist 1:N search: build time, memory, latency (median, p99; one probe at a time) and recall of
    the approximate (PQ fast-scan + exact re-ranking) index against exact search, for each gallery size;
    with real LFW templates also the default policy's FPIR, FNIR at FPIR 0.003 and 0.01 and recall@1 on
    real people split into enrolled and not enrolled (see :func:`real_identity_bench`)."""
    faiss.omp_set_num_threads(threads)
    lfw_dir = lfw_dir or default_lfw_dir()
    source = source or ("lfw" if lfw_dir else "random")
    if source == "lfw":
        if lfw_dir is None:
            raise click.UsageError("--source lfw needs --lfw DIR or $EGATE_SHARED")
        model = model_from_lfw(lfw_dir, lfw_images)
    else:
        model = TemplateModel.isotropic()
    pq = wl_index.PqParams(m=pq_m)
    log = (lambda s: click.echo(s, err=True)) if as_json else click.echo
    log(
        f"templates: {model.source}; FAISS threads {threads} build, {search_threads} search; {queries} probes"
    )
    real: list[RealSearchBench] = []
    if source == "lfw" and real_sizes != "none":
        assert lfw_dir is not None
        log("real identities: one enrolment image per enrolled person, at most 5 probe images per person")
        real, described = real_bench_from_lfw(
            lfw_dir,
            sizes=tuple(int(v) for v in real_sizes.split(",")),
            enrolled=enrolled,
            splits=splits,
            seed=seed,
            log=log,
        )
        log(f"real identities from {described}; {splits} splits pooled")
    rows: list[SearchBench] = []
    for n in (int(s) for s in sizes.split(",") if s):
        rows += bench_size(
            model,
            n,
            n_queries=queries,
            k_factors=tuple(int(e) for e in k_factors.split(",")),
            pq=pq,
            seed=seed,
            exact_queries=exact_queries,
            search_threads=search_threads,
            log=log,
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    log(f"peak RSS {peak:,.0f} MiB")
    if as_json:
        click.echo(
            json.dumps(
                {
                    "source": model.source,
                    "build_threads": threads,
                    "search_threads": search_threads,
                    "peak_rss_mib": round(peak),
                    "rows": [asdict(r) for r in rows],
                    "real": [asdict(r) for r in real],
                },
                indent=2,
            )
        )
