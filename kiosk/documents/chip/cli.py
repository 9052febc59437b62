"""``kiosk chip dump``: dump a chip from a PC/SC reader (the test chips, the virtual card and the chip bench
are the lab's, in ``kiosk.lab.cli``; ``kiosk/cli.py`` adds them to this group).

Reading and verifying a chip folder is ``kiosk document read FOLDER --trust TRUST``."""

from __future__ import annotations

from pathlib import Path

import click

from kiosk.documents.chip.source import write_chip_folder
from kiosk.documents.mrz import parse_mrz


def _mrz_lines(text: str) -> tuple[str, ...]:
    record = parse_mrz(text.replace("\\n", "\n"))
    if record.format is None:
        raise click.BadParameter("not an MRZ (give the lines separated by newlines or a literal \\n)")
    return record.lines


@click.group("chip")
def chip() -> None:
    """eMRTD chips: test PKI and chips, PC/SC dump, virtual card."""


@chip.command("dump")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--mrz", "mrz_text", required=True, help="The document's MRZ: the PACE or BAC password.")
@click.option("--reader", "reader_name", help="Use the first PC/SC reader whose name contains this.")
def dump_command(folder: Path, mrz_text: str, reader_name: str | None) -> None:
    """Read a chip on a PC/SC reader (PACE or BAC, secure messaging) and save its files raw into FOLDER."""
    from kiosk.documents.chip.pcsc import BacKey, PcscChipReader

    key = BacKey.from_mrz(parse_mrz("\n".join(_mrz_lines(mrz_text))))
    files = PcscChipReader(key, reader_name).read_files()
    write_chip_folder(folder, files)
    click.echo(f"{', '.join(files)} written to {folder}")
