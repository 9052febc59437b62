"""``kiosk`` command line: each command is a thin shell over a documented function of the package."""

from __future__ import annotations

import inspect
import sys
from typing import Any

import click

from kiosk.config import load_config
from kiosk.devices.cli import camera_group
from kiosk.documents.chip.cli import chip
from kiosk.documents.chip.trust_cli import trust
from kiosk.documents.cli import document
from kiosk.errors import KioskError
from kiosk.export.cli import (
    export_command,
    stats_command,
    supervisor_command,
    verify_export_command,
)
from kiosk.gate.cli import config_group, run, verify
from kiosk.lab.cli import (
    bench,
    bench_liveness_command,
    bench_log_command,
    chip_bench_command,
    demo,
    document_bench,
    export_bench_command,
    personalise_command,
    pki_command,
    serve_command,
)
from kiosk.officer.cli import officer
from kiosk.store.cli import key_group, keygen_command, purge_command, verify_log_command
from kiosk.sync.cli import sync
from kiosk.upstream.cli import upstream
from matcher.console import run_console
from matcher.errors import MatcherError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """The e-gate kiosk: run the gate, read documents, verify travellers, manage the decision log."""


@click.command("ui-bench")
@click.option("--transactions", "-n", type=click.IntRange(min=1), default=20, help="Travellers to run.")
@click.option("--fps", type=click.FloatRange(min=1), default=30.0, show_default=True, help="Camera pace.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def ui_bench_command(transactions: int, fps: float, as_json: bool) -> None:
    """Is the traveller kiosk smooth while it matches? Generated travellers through the real kiosk on
    simulated devices: preview frame-time percentiles while transactions run, and document placed -> result
    shown (p50, p95). Without a display it renders offscreen."""
    import json
    import os

    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from kiosk.ui.bench import run_ui_bench  # Qt only inside the command

    echo = None if as_json else (lambda line: click.echo(line, err=True))
    result = run_ui_bench(transactions, fps=fps, echo=echo)
    if as_json:
        click.echo(json.dumps({k: v for k, v in result.items() if k != "summary"}, indent=2))
    else:
        for line in result["summary"]:
            click.echo(line)


def _run(windowed: bool, headless: bool, **options: Any) -> None:
    if windowed and headless:
        raise click.UsageError("--windowed and --headless exclude each other")
    config = load_config(options["config_path"])
    if headless or not (windowed or config.ui.mode == "window"):
        click.get_current_context().invoke(run, **options)
        return
    if options["no_log"]:
        click.echo("WARNING: --no-log: decisions are NOT recorded; never use this at a border", err=True)
    from kiosk.ui.app import run_traveller_kiosk  # Qt only inside the command

    sys.exit(run_traveller_kiosk(config, windowed=windowed, log_decisions=not options["no_log"]))


# `kiosk run`: the gate's headless command, or the traveller kiosk on the screen when [ui] says so.
run_command = click.Command(
    "run",
    callback=_run,
    params=[
        *run.params,
        click.Option(["--windowed"], is_flag=True, help="The traveller kiosk in a window, not full screen."),
        click.Option(["--headless"], is_flag=True, help="No screen, whatever [ui] mode says."),
    ],
    help=inspect.cleandoc(run.help or "")
    + '\n\nWith [ui] mode = "window" (or --windowed) the traveller kiosk opens full screen instead'
    " (kiosk/ui); --json and --max-transactions apply to the headless kiosk only.",
)


for _command in (
    demo,
    run_command,
    verify,
    config_group,
    camera_group,
    document,
    chip,
    trust,
    verify_log_command,
    purge_command,
    keygen_command,
    key_group,
    officer,
    bench,
    bench_log_command,
    bench_liveness_command,
    stats_command,
    export_command,
    verify_export_command,
    export_bench_command,
    supervisor_command,
    sync,
    upstream,
    ui_bench_command,
):
    cli.add_command(_command)
# The lab's commands join the groups where people look for them; nothing in the runtime imports the lab.
document.add_command(document_bench)
for _command in (pki_command, personalise_command, serve_command, chip_bench_command):
    chip.add_command(_command)


def main() -> None:
    """Console-script entry: a one-line error and a non-zero exit for every expected failure."""
    run_console(cli, (KioskError, MatcherError, OSError, ValueError))
