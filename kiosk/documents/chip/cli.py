"""``kiosk chip``: make test chips, dump a chip from a PC/SC reader, play a chip folder as a virtual card.

Reading and verifying a chip folder is ``kiosk document read FOLDER --trust TRUST``."""

from __future__ import annotations

import threading
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kiosk.documents.chip.biometric import ISO_19794_5, ISO_39794_5
from kiosk.documents.chip.personalise import (
    ALGORITHMS,
    TAMPERS,
    create_pki,
    load_signer,
    personalise_chip,
    write_pki,
)
from kiosk.documents.chip.reader import write_chip_folder
from kiosk.documents.chip.virtual_card import AA_KEY_FILE, CA_KEY_FILE
from kiosk.documents.mrz import parse_mrz

_CONTAINERS = {"19794-5": ISO_19794_5, "39794-5": ISO_39794_5}


def _mrz_lines(text: str) -> tuple[str, ...]:
    record = parse_mrz(text.replace("\\n", "\n"))
    if record.format is None:
        raise click.BadParameter("not an MRZ (give the lines separated by newlines or a literal \\n)")
    return record.lines


@click.group("chip")
def chip() -> None:
    """eMRTD chips: test PKI and chips, PC/SC dump, virtual card."""


@chip.command("pki")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--algorithm", type=click.Choice(ALGORITHMS), default="ecdsa", show_default=True)
@click.option("--country", default="UT", show_default=True, help="Two-letter country of the test CSCA.")
def pki_command(folder: Path, algorithm: str, country: str) -> None:
    """Create a TEST PKI in FOLDER: trust/ (CSCA certificate + CRL) and signer/ (document signer with its
    unencrypted private key). Never use these keys for anything but tests and demos."""
    write_pki(folder, create_pki(country, algorithm=algorithm))
    click.echo(f"test PKI written to {folder} (trust store: {folder / 'trust'})")


@chip.command("personalise")
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


@chip.command("serve")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Where vpcd listens.")
@click.option("--port", default=35963, show_default=True, help="vpcd's port (its first virtual reader).")
@click.option("--pace", is_flag=True, help="Offer PACE (ECDH-GM, AES-128, brainpoolP256r1) and refuse BAC.")
def serve_command(folder: Path, host: str, port: int, pace: bool) -> None:
    """Insert the chip folder FOLDER as a software card into vpcd's virtual PC/SC reader until Ctrl-C
    (needs pcscd and vsmartcard-vpcd). A test instrument: BAC or PACE, and Active / Chip Authentication
    when FOLDER holds aa-key.pem / ca-key.pem."""
    from kiosk.documents.chip.virtual_card import load_software_chip, serve_vpcd

    card = load_software_chip(folder, pace=pace)
    click.echo(f"serving {folder} on vpcd {host}:{port}; Ctrl-C to remove the card")
    serve_vpcd(card, threading.Event(), host=host, port=port)


@chip.command("bench")
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
def bench_command(repeats: int, vpcd: str | None) -> None:
    """Time a full chip read and verification (BAC and PACE; DG1, ~20 KB DG2, DG14, DG15, SOD; passive,
    Active and Chip Authentication) on a software chip, and print the figures."""
    from kiosk.documents.chip.bench import bench_chip_read

    result = bench_chip_read(repeats, vpcd=vpcd)
    where = f"through pcscd + vpcd ({vpcd})" if vpcd else "in process"
    click.echo(f"DG2 {result['dg2_bytes']} bytes, {repeats} reads each, {where}")
    for access in ("bac", "pace"):
        median, p95, worst = (result[f"{access}_{k}_ms"] for k in ("median", "p95", "max"))
        click.echo(f"{access.upper():<4}  median {median} ms  p95 {p95} ms  max {worst} ms")
