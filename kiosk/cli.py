"""``kiosk`` command line: each command is a thin shell over a documented function of the package."""

from __future__ import annotations

import click

from kiosk.documents.chip.cli import chip
from kiosk.documents.chip.trust_cli import trust
from kiosk.documents.cli import document
from kiosk.errors import KioskError
from kiosk.gate.cli import config_group, run, verify
from kiosk.lab.cli import (
    bench,
    bench_liveness_command,
    bench_log_command,
    chip_bench_command,
    demo,
    document_bench,
    personalise_command,
    pki_command,
    serve_command,
)
from kiosk.officer.cli import officer
from kiosk.store.cli import key_group, keygen_command, purge_command, verify_log_command
from matcher.console import run_console
from matcher.errors import MatcherError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """The e-gate kiosk: run the gate, read documents, verify travellers, manage the decision log."""


for _command in (
    demo,
    run,
    verify,
    config_group,
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
):
    cli.add_command(_command)
# The lab's commands join the groups where people look for them; nothing in the runtime imports the lab.
document.add_command(document_bench)
for _command in (pki_command, personalise_command, serve_command, chip_bench_command):
    chip.add_command(_command)


def main() -> None:
    """Console-script entry: a one-line error and a non-zero exit for every expected failure."""
    run_console(cli, (KioskError, MatcherError, OSError, ValueError))
