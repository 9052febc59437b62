"""The lab's commands: benchmarks, test chips and the virtual card, registered by ``kiosk/cli.py`` into the
groups where people look for them: ``kiosk document bench`` (the OCR benchmark on generated data pages and
real images), ``kiosk chip pki|personalise|serve|bench``, ``kiosk bench-liveness``, ``kiosk bench-log``,
``kiosk demo`` (the sample travellers) and ``kiosk bench`` (the headless gate's throughput)."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kiosk.decision import Decision
from kiosk.documents.chip.biometric import ISO_19794_5, ISO_39794_5
from kiosk.documents.chip.source import write_chip_folder
from kiosk.documents.layout import LAYOUTS
from kiosk.documents.mrz import parse_mrz
from kiosk.gate.report import decision_json, decision_line
from kiosk.lab.liveness_bench import liveness_bench
from kiosk.lab.ocr_bench import (
    DEFAULT_FONTS,
    DEFAULT_FORMATS,
    run_benchmark,
    run_real_benchmark,
    run_real_variant_benchmark,
)
from kiosk.lab.personalise import ALGORITHMS, TAMPERS, create_pki, load_signer, personalise_chip, write_pki
from kiosk.lab.store_bench import bench_log
from kiosk.lab.synth import UNSEEN_FONTS, Degradation, available_fonts
from kiosk.lab.virtual_card import AA_KEY_FILE, CA_KEY_FILE
from kiosk.liveness import LivenessConfig


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
@click.option(
    "--variants",
    is_flag=True,
    help="Also read the real images turned to 30-315 degrees, seen by a tilted camera, cut down to the MRZ.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--progress", is_flag=True, help="Print running counts every 20 pages.")
def document_bench(
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
    variants: bool,
    as_json: bool,
    progress: bool,
) -> None:
    """Generate data pages and read them (150-600 dpi, blur, noise, rotation up to 5 degrees, perspective,
    uneven light, glare, JPEG) and report the exact-read rate, the silently-wrong rate (every check
    passed but the MRZ differs from the truth; must be 0), the rejection rate and the time per page; then the
    same figures on the real images of ``--real`` (per image with ``--json``), and with ``--variants`` on
    those images turned, tilted and cropped (``ocr_bench.run_real_variant_benchmark``)."""
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
    harder = run_real_variant_benchmark(folder) if folder is not None and variants else {}
    if as_json:
        figures = {**asdict(result), "fonts": list(chosen), "degradation": asdict(spec)}
        figures["real"] = real.as_dict() if real else None
        figures["real_variants"] = {name: r.as_dict() for name, r in harder.items()}
        click.echo(json.dumps(figures, indent=2))
    else:
        click.echo(f"fonts: {', '.join(chosen)}")
        click.echo(result.summary())
        click.echo(real.summary() if real else "real images: none (--real DIR or EGATE_SHARED)")
        for name, r in harder.items():
            click.echo(f"{name}: {r.summary()}")


_CONTAINERS = {"19794-5": ISO_19794_5, "39794-5": ISO_39794_5}


def _mrz_lines(text: str) -> tuple[str, ...]:
    record = parse_mrz(text.replace("\\n", "\n"))
    if record.format is None:
        raise click.BadParameter("not an MRZ (give the lines separated by newlines or a literal \\n)")
    return record.lines


@click.command("bench-liveness")
@click.option("--windows", type=click.IntRange(1), default=40, show_default=True, help="Windows per face.")
@click.option("--frames", type=click.IntRange(2), default=5, show_default=True, help="Frames per window.")
@click.option("--seed", default=1000, show_default=True, help="First frame-generator seed.")
@click.option(
    "--threshold", type=click.FloatRange(0, 1), default=None, help="Passive threshold (default: 0.2)."
)
def bench_liveness_command(windows: int, frames: int, seed: int, threshold: float | None) -> None:
    """Genuine demo capture windows through the gate's liveness check: windows referred and cost per frame."""
    from kiosk.lab.demo import DEMO_POLICY
    from matcher import FaceEngine

    engine = FaceEngine.load(multiple_face_ratio=DEMO_POLICY.second_face_min_ratio, liveness=True)
    config = LivenessConfig(min_frames=frames)
    if threshold is not None:
        config = LivenessConfig(min_frames=frames, passive_threshold=threshold)
    r = liveness_bench(engine, config, windows=windows, frames=frames, seed=seed)
    click.echo(
        f"genuine demo windows: {r['windows']} of {frames} frames; referred at most {r['referred_at_most']} "
        f"(alarms {r['alarms'] or 'none'}, not assessed {r['not_assessed']}) at passive threshold "
        f"{r['passive_threshold']}, max_jump {r['max_jump']}"
    )
    lowest, jump = r["passive_median_lowest"], r["jump_highest"]
    click.echo(f"lowest window median {lowest}; highest move {jump} face widths per frame")
    ms = r["frame_ms"]
    click.echo(
        f"liveness per scored frame: median {ms['median']} ms, p95 {ms['p95']} ms ({ms['frames']} frames)"
    )


@click.command("bench-log")
@click.option("--count", default=1000, show_default=True, help="Decisions appended per mode.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Folder for temp logs.",
)
@click.option(
    "--evidence-every", default=10, show_default=True, help="Attach evidence to every N-th decision."
)
@click.option(
    "--synchronous",
    "modes",
    type=click.Choice(["FULL", "NORMAL"]),
    multiple=True,
    help="Modes to measure (repeatable); default both.",
)
def bench_log_command(
    count: int, directory: Path | None, evidence_every: int, modes: tuple[str, ...]
) -> None:
    """Measure decision-log write latency (median / p95 / p99 / max). Target: under 5 ms per transaction."""
    figures = bench_log(
        directory, count=count, modes=modes or ("FULL", "NORMAL"), evidence_every=evidence_every
    )
    attached = f"~38 KB of evidence on every {evidence_every}th" if evidence_every else "no evidence"
    click.echo(f"decision-log append latency, {count} decisions per mode, {attached}:")
    for fig in figures:
        click.echo(
            f"  synchronous={fig.synchronous:<6} median {fig.median_ms:.2f} ms  p95 {fig.p95_ms:.2f} ms  "
            f"p99 {fig.p99_ms:.2f} ms  max {fig.max_ms:.2f} ms"
        )


@click.command("pki")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--algorithm", type=click.Choice(ALGORITHMS), default="ecdsa", show_default=True)
@click.option("--country", default="UT", show_default=True, help="Two-letter country of the test CSCA.")
def pki_command(folder: Path, algorithm: str, country: str) -> None:
    """Create a TEST PKI in FOLDER: trust/ (CSCA certificate + CRL) and signer/ (document signer with its
    unencrypted private key). Never use these keys for anything but tests and demos."""
    write_pki(folder, create_pki(country, algorithm=algorithm))
    click.echo(f"test PKI written to {folder} (trust store: {folder / 'trust'})")


@click.command("personalise")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--mrz", "mrz_text", required=True, help=r"The MRZ lines, separated by newlines or a literal \n."
)
@click.option("--portrait", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--signer", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="A folder written by 'kiosk chip pki'.")  # fmt: skip
@click.option("--image-format", type=click.Choice(["jpeg", "jpeg2000"]), default="jpeg", show_default=True)
@click.option("--container", type=click.Choice(sorted(_CONTAINERS)), default="19794-5", show_default=True)
@click.option("--hash", "hash_algorithm", type=click.Choice(["sha1", "sha256", "sha384", "sha512"]),
              default="sha256", show_default=True)  # fmt: skip
@click.option("--tamper", type=click.Choice(TAMPERS), help="Spoil the chip in this named way.")
def personalise_command(
    folder: Path,
    mrz_text: str,
    portrait: Path,
    signer: Path,
    image_format: str,
    container: str,
    hash_algorithm: str,
    tamper: str | None,
) -> None:
    """Write the chip files (EF.COM, DG1, DG2, DG14, DG15, EF.SOD) of a TEST document into FOLDER, and the
    chip's Active and Chip Authentication private keys (aa-key.pem, ca-key.pem) for 'kiosk chip serve'."""
    from matcher.imageio import load_image

    aa_key, ca_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    files = personalise_chip(
        _mrz_lines(mrz_text),
        load_image(portrait),
        load_signer(signer),
        image_format=image_format,
        container=_CONTAINERS[container],
        hash_algorithm=hash_algorithm,
        tamper=tamper,
        aa_key=aa_key,
        ca_key=ca_key,
    )
    write_chip_folder(folder, files)
    for name, key in ((AA_KEY_FILE, aa_key), (CA_KEY_FILE, ca_key)):
        key_file = folder / name
        key_file.touch(mode=0o600)
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    click.echo(f"chip files written to {folder}")


@click.command("serve")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Where vpcd listens.")
@click.option("--port", default=35963, show_default=True, help="vpcd's port (its first virtual reader).")
@click.option("--pace", is_flag=True, help="Offer PACE (ECDH-GM, AES-128, brainpoolP256r1) and refuse BAC.")
def serve_command(folder: Path, host: str, port: int, pace: bool) -> None:
    """Insert the chip folder FOLDER as a software card into vpcd's virtual PC/SC reader until Ctrl-C
    (needs pcscd and vsmartcard-vpcd). A test instrument: BAC or PACE, and Active / Chip Authentication
    when FOLDER holds aa-key.pem / ca-key.pem."""
    from kiosk.lab.virtual_card import load_software_chip, serve_vpcd

    card = load_software_chip(folder, pace=pace)
    click.echo(f"serving {folder} on vpcd {host}:{port}; Ctrl-C to remove the card")
    serve_vpcd(card, threading.Event(), host=host, port=port)


@click.command("bench")
@click.option("--repeats", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--vpcd",
    "vpcd",
    is_flag=False,
    flag_value="Virtual PCD 00 00",
    default=None,
    help="Read through pcscd and vpcd's virtual reader of this name (default 'Virtual PCD 00 00'), as the "
    "gate's PC/SC reader does, instead of in process. Needs pcscd and vsmartcard-vpcd.",
)
def chip_bench_command(repeats: int, vpcd: str | None) -> None:
    """Time a full chip read and verification (BAC and PACE; DG1, ~20 KB DG2, DG14, DG15, SOD; passive,
    Active and Chip Authentication) on a software chip, and print the figures."""
    from kiosk.lab.chip_bench import bench_chip_read

    result = bench_chip_read(repeats, vpcd=vpcd)
    where = f"through pcscd + vpcd ({vpcd})" if vpcd else "in process"
    click.echo(f"DG2 {result['dg2_bytes']} bytes, {repeats} reads each, {where}")
    for access in ("bac", "pace"):
        median, p95, worst = (result[f"{access}_{k}_ms"] for k in ("median", "p95", "max"))
        click.echo(f"{access.upper():<4}  median {median} ms  p95 {p95} ms  max {worst} ms")


@click.command("demo")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the demo's documents, watchlist, keys and decision log here (default: a temporary folder).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON decision record per traveller.")
def demo(workdir: Path | None, as_json: bool) -> None:
    """Run the gate on built-in sample travellers and print each decision.

    Generated passports (data page with a real MRZ and a chip signed by a demo PKI) and live frames derived
    from public-domain faces; one traveller per outcome. Decisions go to a demo decision log."""
    from kiosk.lab.demo import run_demo

    def show(label: str, expected: tuple[str, ...], decision: Decision) -> None:
        if as_json:
            click.echo(json.dumps({"traveller": label, **decision_json(decision)}))
        else:
            click.echo(decision_line(decision, label))

    results = run_demo(workdir, on_decision=show, echo=None if as_json else click.echo)
    unexpected = [r for r in results if not r.as_expected]
    if unexpected:
        names = ", ".join(r.label for r in unexpected)
        raise click.ClickException(f"demo outcome differs from the expected one for: {names}")


@click.command("bench")
@click.option("--transactions", "-n", type=click.IntRange(min=1), default=60, help="Transactions to run.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Folder for the temporary decision log (use the kiosk's real disk: tmpfs hides fsync costs).",
)
@click.option(
    "--synchronous",
    type=click.Choice(["FULL", "NORMAL"]),
    default="FULL",
    show_default=True,
    help="SQLite fsync policy of the decision log (store.synchronous in the configuration).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench(transactions: int, directory: Path | None, synchronous: str, as_json: bool) -> None:
    """Transactions per second of the headless flow (frames in memory: no camera waits) and the time the
    decision log adds to a transaction (median, p99; target < 5 ms)."""
    from kiosk.lab.gate_bench import run_bench

    echo = None if as_json else (lambda line: click.echo(line, err=True))
    result = run_bench(transactions, directory=directory, synchronous=synchronous, echo=echo)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        for line in result["summary"]:
            click.echo(line)


@click.command("export-bench")
@click.option("--count", default=1_000_000, show_default=True, help="Decisions in the generated log.")
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the generated log is kept between runs (default: $XDG_CACHE_HOME/egate-export-bench).",
)
@click.option("--trace", is_flag=True, help="Also measure the Python heap's peak (tracemalloc; slower).")
def export_bench_command(count: int, cache: Path | None, trace: bool) -> None:
    """Measure exporting COUNT generated decisions in every format: time and peak memory."""
    from kiosk.lab.export_bench import bench_export, default_cache

    figures = bench_export(cache or default_cache(), count=count, trace=trace)
    if figures.generated_s is not None:
        click.echo(f"generated the log once in {figures.generated_s:.0f} s (cached for later runs)")
    heap = f", Python heap peak {figures.peak_heap_mib:.1f} MiB" if figures.peak_heap_mib is not None else ""
    click.echo(
        f"export of {figures.decisions} decisions ({figures.chain_rows} chain rows, "
        f"{figures.bytes_written / 2**20:.0f} MiB written): {figures.export_s:.1f} s, "
        f"{figures.rows_per_s:.0f} rows/s, peak RSS {figures.peak_rss_mib:.0f} MiB{heap}"
    )
