"""``matcher`` command line: each command is a thin shell over a documented function of the package."""

from __future__ import annotations

import click

from matcher.compare import compare_command
from matcher.console import run_console
from matcher.errors import MatcherError
from matcher.lab.cli import (
    bench_command,
    bench_search_command,
    calibrate_command,
    eval_command,
    pad_eval_command,
)
from matcher.models import models_command
from matcher.watchlist.cli import watchlist
from matcher.watchlist.documents_cli import doclist


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Biometric core of the e-gate: compare faces, evaluate, calibrate, benchmark, manage watchlists."""


for _command in (
    compare_command,
    eval_command,
    calibrate_command,
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
