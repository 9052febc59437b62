"""The PC/SC chip reader end to end: pyscard -> pcscd -> vpcd (Debian's vsmartcard-vpcd virtual reader) ->
the software eMRTD, then ``read_chip`` on what was read. Needs the apt packages pcscd and vsmartcard-vpcd
and the pip package pyscard; starts pcscd itself (as root) when it is not running."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from kiosk.documents.checks import DocumentError
from kiosk.documents.chip import read_chip
from kiosk.documents.chip.curves import named_curve
from kiosk.documents.chip.pcsc import BacKey, ChipAccessError, PcscChipReader
from kiosk.documents.chip.personalise import EcKey, personalise_chip
from kiosk.documents.chip.virtual_card import SoftwareEmrtd, serve_vpcd
from kiosk.documents.mrz import parse_mrz

VPCD_CONFIG = Path("/etc/reader.conf.d/vpcd")
READER = "Virtual PCD 00 00"


def _virtual_readers() -> list[str]:
    from smartcard.System import readers

    try:
        return [str(r) for r in readers() if str(r).startswith("Virtual PCD")]
    except Exception:  # pcscd not running
        return []


@pytest.fixture(scope="module")
def pcscd() -> Iterator[None]:
    pytest.importorskip("smartcard", reason="pyscard is not installed")
    pcscd = shutil.which("pcscd") or "/usr/sbin/pcscd"
    if not Path(pcscd).exists() or not VPCD_CONFIG.exists():
        pytest.skip("needs the Debian packages pcscd and vsmartcard-vpcd")
    process = None
    if not _virtual_readers():
        if os.geteuid() != 0:
            pytest.skip("pcscd is not running and starting it needs root")
        process = subprocess.Popen(
            [pcscd, "--foreground"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not _virtual_readers():
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("pcscd did not bring up the vpcd virtual reader")
            time.sleep(0.2)
    yield
    if process is not None:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(params=["bac", "pace"])
def inserted_card(request, pcscd, pki, mrz_lines, portrait) -> Iterator[dict[str, bytes]]:
    """A software chip with Active and Chip Authentication keys, opened by BAC or by PACE (AES-128,
    brainpoolP256r1, BAC refused)."""
    aa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    ca_key = EcKey.generate(named_curve("brainpoolP256r1"))
    files = personalise_chip(
        mrz_lines, portrait, pki.ds, image_format="jpeg2000", aa_key=aa_key, ca_key=ca_key
    )
    stop = threading.Event()
    pace = ("0.4.0.127.0.7.2.2.4.2.2", 13) if request.param == "pace" else None
    card = SoftwareEmrtd(
        files, aa_key, ca_key=(ca_key.curve, ca_key.private), pace=pace, bac=request.param == "bac"
    )
    thread = threading.Thread(target=serve_vpcd, args=(card, stop), daemon=True)
    thread.start()
    yield files
    stop.set()
    thread.join(timeout=5)


def _wait_for_card(timeout: float = 5.0) -> None:
    """vpcd polls for the card every few hundred milliseconds: wait until it is in the reader."""
    from smartcard.System import readers

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reader = next(r for r in readers() if str(r) == READER)
        connection = reader.createConnection()
        try:
            connection.connect()
            connection.disconnect()
            return
        except Exception:  # NoCardException until vpcd has seen the card
            time.sleep(0.1)
    raise AssertionError("the virtual card never appeared in the reader")


def test_read_and_verify_through_pcsc(request, inserted_card, mrz_lines, trust) -> None:
    _wait_for_card()
    reader = PcscChipReader(BacKey.from_mrz(parse_mrz("\n".join(mrz_lines))), READER)
    reading = read_chip(reader, trust)
    assert reading.valid and reading.passive_auth_passed
    assert "RSA ISO/IEC 9796-2" in reading.check("chip.aa.signature").detail
    assert "brainpoolP256r1" in reading.check("chip.ca.key_agreement").detail
    assert reader.access_control == request.node.callspec.params["inserted_card"].upper()
    assert reading.dg1 is not None and reading.dg1.lines == mrz_lines
    assert reading.portrait is not None
    assert reading.data_groups == ("DG1", "DG2", "DG14", "DG15")


def test_wrong_access_key_through_pcsc(inserted_card) -> None:
    _wait_for_card()
    with pytest.raises(ChipAccessError):
        PcscChipReader(BacKey("SPECI2021", "650310", "310803"), READER).read_files()


def test_no_card_on_the_reader(pcscd, pki) -> None:
    with pytest.raises(DocumentError, match="no card"):
        PcscChipReader(BacKey("X", "000000", "000000"), "Virtual PCD 00 01").read_files()
