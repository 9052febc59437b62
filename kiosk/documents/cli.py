"""``kiosk document read``: the command-line mirror of ``kiosk.documents.reading``.

Exit codes: 0 the document was read and every check passed; 1 it was read but a check failed (an MRZ of the
wrong shape or with a bad check digit, an expired document, a failed passive authentication...); 2 nothing
could be read (missing file, image without an MRZ, unreadable chip folder, bad option).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click

from kiosk.documents.reading import DocumentReading, read_document, read_path


@click.group("document")
def document() -> None:
    """Travel documents: read and check the MRZ, the data page and the chip."""


_SHOWN_FIELDS = (
    "format", "document_type", "document_code", "issuing_state", "surname", "given_names", "document_number",
    "nationality", "date_of_birth", "sex", "expiry_date", "optional_data",
)  # fmt: skip


def _trust_store(path: Path | None):  # -> TrustStore | None
    if path is None:
        return None
    from kiosk.documents.chip import TrustStore

    return TrustStore.from_folder(path) if path.is_dir() else TrustStore.from_master_list(path)


def _print_text(reading: DocumentReading) -> None:
    data = reading.as_dict()
    click.echo(f"valid: {'yes' if reading.valid else 'NO'}  (sources: {', '.join(reading.sources)})")
    if reading.mrz is not None:
        for key in _SHOWN_FIELDS:
            value = data[key]
            if key.endswith("_date") or key == "date_of_birth":
                value = value or f"? ({data[key + '_raw']})"
            click.echo(f"{key:>16}: {value}")
    if reading.portrait_source:
        click.echo(f"{'portrait':>16}: from {reading.portrait_source}")
    click.echo("checks:")
    for check in reading.checks:
        detail = f"  ({check.detail})" if check.detail else ""
        click.echo(f"  {'pass' if check.passed else 'FAIL'}  {check.name}{detail}")


@document.command("read")
@click.argument("source", required=False, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--mrz",
    "mrz_text",
    metavar="TEXT",
    help=r"The MRZ lines, separated by newlines (or a literal \n); '-' reads them from standard input.",
)
@click.option(
    "--trust",
    type=click.Path(exists=True, path_type=Path),
    help="CSCA certificates and CRLs: a folder (*.cer, *.pem, *.crl, *.ml) or an ICAO master list file.",
)
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="Check against this date instead of today: expiry, two-digit years, certificates.",
)
@click.option(
    "--allow-code",
    "allow_codes",
    multiple=True,
    metavar="CODE",
    help="Accept this state code beyond the ICAO list (e.g. UTO for the Doc 9303 specimens). Repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the reading as JSON.")
def read_command(
    source: Path | None,
    mrz_text: str | None,
    trust: Path | None,
    today: dt.datetime | None,
    allow_codes: tuple[str, ...],
    as_json: bool,
) -> None:
    """Read a document: SOURCE is a data-page image, a chip folder (EF.COM, DG1, DG2, EF.SOD...) or a
    presentation folder (a data-page image such as page.png and/or a chip/ sub-folder); or give --mrz.

    Exit status: 0 valid, 1 read but a check failed, 2 unreadable input."""
    if (source is None) == (mrz_text is None):
        raise click.UsageError("give exactly one of SOURCE or --mrz TEXT")
    day = today.date() if today else None
    codes = tuple(code.upper() for code in allow_codes)
    if mrz_text is not None:
        mrz_text = sys.stdin.read() if mrz_text == "-" else mrz_text.replace("\\n", "\n")
        reading = read_document(mrz_text=mrz_text, today=day, extra_codes=codes)
    else:
        assert source is not None
        reading = read_path(source, trust=_trust_store(trust), today=day, extra_codes=codes)
    if as_json:
        click.echo(json.dumps(reading.as_dict(), indent=2, ensure_ascii=False))
    else:
        _print_text(reading)
    if not reading.valid:
        sys.exit(1)
