"""``matcher`` command line: each command is a thin shell over a documented function of the package."""

from __future__ import annotations

import sys

import click

from matcher.errors import MatcherError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Biometric core of the e-gate: compare faces, evaluate, calibrate, benchmark, manage watchlists."""


def main() -> None:
    """Console-script entry: a one-line error and a non-zero exit for every expected failure."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (MatcherError, OSError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


from matcher.compare import compare_command  # noqa: E402

cli.add_command(compare_command)

from matcher.bench import bench_command  # noqa: E402

cli.add_command(bench_command)

from matcher.watchlist.cli import watchlist  # noqa: E402

cli.add_command(watchlist)

from matcher.watchlist.bench import bench_search_command  # noqa: E402

cli.add_command(bench_search_command)

from matcher.models import models_command  # noqa: E402

cli.add_command(models_command)

from matcher.calibrate import calibrate_command  # noqa: E402
from matcher.evaluate import eval_command  # noqa: E402

cli.add_command(calibrate_command)
cli.add_command(eval_command)
