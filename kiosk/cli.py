"""``kiosk`` command line: each command is a thin shell over a documented function of the package."""

from __future__ import annotations

import sys

import click

from kiosk.errors import KioskError
from matcher.errors import MatcherError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """The e-gate kiosk: run the gate, read documents, verify travellers, manage the decision log."""


def main() -> None:
    """Console-script entry: a one-line error and a non-zero exit for every expected failure."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (KioskError, MatcherError, OSError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


from kiosk.gate_cli import bench, demo, run, verify  # noqa: E402

for _command in (verify, demo, run, bench):
    cli.add_command(_command)

from kiosk.store.bench import bench_log_command  # noqa: E402
from kiosk.store.cli import keygen_command, purge_command, verify_log_command  # noqa: E402

cli.add_command(verify_log_command)
cli.add_command(purge_command)
cli.add_command(keygen_command)
cli.add_command(bench_log_command)

from kiosk.documents.cli import document  # noqa: E402

cli.add_command(document)

from kiosk.documents.chip.cli import chip  # noqa: E402

cli.add_command(chip)
