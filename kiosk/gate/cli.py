"""Headless gate commands: ``kiosk verify``, ``kiosk run``, ``kiosk config check``."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import click

from kiosk.config import KioskConfig, load_config
from kiosk.gate.events import Decided, GateEvent, StateChanged
from kiosk.gate.report import decision_json, decision_line, event_json
from kiosk.texts import reason_text  # the CLI speaks English (the default)

_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Kiosk configuration (TOML); default: built-in defaults.",
)


@click.command()
@click.option(
    "--document",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Data-page image, chip folder, or a presentation folder holding both.",
)
@click.option(
    "--live",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Live capture: an image or a video file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the decision record as JSON.")
@click.option(
    "--log", "log_decision", is_flag=True, help="Also append the decision to the configured log (store.path)."
)
@_config_option
def verify(document: Path, live: Path, as_json: bool, log_decision: bool, config_path: Path | None) -> None:
    """Run one gate transaction: document checks, face capture, 1:1, 1:N, decision.

    The trust store (chip passive authentication), watchlists, accepted state codes and the policy come
    from --config. Exit status: 0 PASS, 1 REFER, 2 error."""
    from kiosk.gate.verify import verify as verify_fn

    config = load_config(config_path)
    decision, decided = verify_fn(document, live, config, log_decisions=log_decision)
    if as_json:
        click.echo(json.dumps(decision_json(decision, decided), indent=2))
    else:
        click.echo(decision_line(decision))
        for code in decision.reason_codes:
            click.echo(f"  {code}: {reason_text(code)}")
    sys.exit(0 if decision.outcome == "PASS" else 1)


@click.command()
@_config_option
@click.option("--max-transactions", type=click.IntRange(min=1), default=None, help="Stop after N travellers.")
@click.option("--json", "as_json", is_flag=True, help="Print events as JSON lines.")
@click.option(
    "--no-log",
    is_flag=True,
    help="Development only: run without a decision log (decisions recorded nowhere).",
)
def run(config_path: Path | None, max_transactions: int | None, as_json: bool, no_log: bool) -> None:
    """Run the kiosk headless on the configured document reader, camera and barrier (Ctrl-C stops).

    Refuses to start without a decision log (store.path), or with a watchlist store that is missing,
    holds no list, or has a configured list that is missing, empty or past watchlist.max_age_hours."""
    from kiosk.gate.loop import run_kiosk

    config: KioskConfig = load_config(config_path)
    if no_log:
        click.echo("WARNING: --no-log: decisions are NOT recorded; never use this at a border", err=True)
    stopping = {"flag": False}

    def stop(*_: object) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def on_event(event: GateEvent) -> None:
        if as_json:
            click.echo(json.dumps(event_json(event)))
        elif isinstance(event, Decided):
            click.echo(decision_line(event.decision, event.presentation))
        elif isinstance(event, StateChanged):
            click.echo(f"  [{event.state}]", err=True)

    served = run_kiosk(
        config,
        on_event=on_event,
        should_stop=lambda: stopping["flag"],
        max_transactions=max_transactions,
        log_decisions=not no_log,
    )
    click.echo(f"served {served} traveller(s)", err=True)


@click.group("config")
def config_group() -> None:
    """The kiosk configuration file."""


@config_group.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def config_check(path: Path, as_json: bool) -> None:
    """Check PATH as `kiosk run` would, listing every problem at once (keys, tables, then the start-up
    checks: decision log and key, document reader, trust store, watchlists), and the effective value of
    every key with where it came from. Exit status: 0 no problem, 1 problems, 2 usage error."""
    from kiosk.config_check import check_config

    report = check_config(path)
    if as_json:
        values = [
            {"key": k, "value": str(v) if isinstance(v, Path) else v, "from": o} for k, v, o in report.values
        ]
        click.echo(
            json.dumps(
                {"ok": report.ok, "problems": report.problems, "values": values}, indent=2, default=str
            )
        )
    else:
        click.echo(f"{path}: {len(report.problems)} problem(s)" if report.problems else f"{path}: ok")
        for problem in report.problems:
            click.echo(f"  problem: {problem}")
        for key, value, origin in report.values:
            shown = str(value) if isinstance(value, Path) else repr(value)
            click.echo(f"  {key} = {shown}  ({path.name if origin == 'file' else origin})")
    sys.exit(0 if report.ok else 1)
