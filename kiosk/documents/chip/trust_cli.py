"""``kiosk trust``: import, list and check the CSCA trust folder (a shell over
:mod:`kiosk.documents.chip.trust_admin`)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from kiosk.documents.chip.trust import TrustStore
from kiosk.documents.chip.trust_admin import check_trust_store, describe_cscas, import_trust_material

_FOLDER = click.argument("folder", type=click.Path(file_okay=False, path_type=Path))


def _at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        raise click.BadParameter(f"not a date: {value!r} (YYYY-MM-DD)") from None


@click.group("trust")
def trust() -> None:
    """The CSCA trust folder that passive authentication trusts."""


@trust.command("import")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@_FOLDER
@click.option("--anchors", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A trust folder whose CSCAs must have issued a master list's signer.")  # fmt: skip
def import_command(source: Path, folder: Path, anchors: Path | None) -> None:
    """Verify SOURCE (master list .ml, CSCA certificate, CRL, or a folder of them) and add it to FOLDER."""
    result = import_trust_material(source, folder, anchors=anchors)
    for line in result.skipped:
        click.echo(f"skipped: {line}", err=True)
    click.echo(f"{len(result.added)} added, {result.present} already present, {len(result.skipped)} skipped")


@trust.command("list")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per CSCA.")
def list_command(folder: Path, as_json: bool) -> None:
    """List the CSCAs FOLDER trusts: country, subject, validity, key, SHA-256 prefix."""
    rows = describe_cscas(TrustStore.from_folder(folder))
    for row in rows:
        if as_json:
            click.echo(json.dumps(row))
        else:
            click.echo(
                f"{row['country']}  {row['not_before']}..{row['not_after']}  {row['key']:<40}  "
                f"{row['sha256']}  {row['subject']}"
            )


@trust.command("check")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--at", "at_text", help="Check as of this date (YYYY-MM-DD, UTC); default now.")
def check_command(folder: Path, at_text: str | None) -> None:
    """Check FOLDER as the kiosk will read it; exit 1 when anything needs an operator."""
    report = check_trust_store(folder, at=_at(at_text))
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    click.echo(f"{report.cscas} CSCA(s), {report.crls} CRL(s), {len(report.problems)} problem(s)")
    if report.problems:
        sys.exit(1)
