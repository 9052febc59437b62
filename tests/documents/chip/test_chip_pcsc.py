"""The PC/SC chip reader end to end: pyscard -> pcscd -> vpcd (Debian's vsmartcard-vpcd virtual reader) ->
the software eMRTD, then ``read_chip`` on what was read. Needs the apt packages pcscd and vsmartcard-vpcd
and the pip package pyscard; starts pcscd itself (as root) when it is not running."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import secrets
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
from kiosk.documents.chip.dh import DH_GROUPS
from kiosk.documents.chip.pcsc import BacKey, ChipAccessError, PcscChipReader
from kiosk.documents.mrz import parse_mrz
from kiosk.lab.personalise import EcKey, personalise_chip
from kiosk.lab.virtual_card import DEFAULT_PACE, SoftwareEmrtd, serve_vpcd

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


@pytest.fixture(params=["bac", "pace", "pace-dh"])
def inserted_card(request, pcscd, pki, mrz_lines, portrait) -> Iterator[dict[str, bytes]]:
    """A software chip with Active and Chip Authentication keys, opened by BAC or by PACE (AES-128,
    brainpoolP256r1, BAC refused), or all DH: PACE DH GM and Chip Authentication on the RFC 5114 1024-bit
    group (AES-128)."""
    aa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    if request.param == "pace-dh":
        ca_key: tuple = (DH_GROUPS[0], secrets.randbelow(DH_GROUPS[0].q - 1) + 1)
        ca_protocol, pace = "0.4.0.127.0.7.2.2.3.1.2", ("0.4.0.127.0.7.2.2.4.1.2", 0)
    else:
        ec_key = EcKey.generate(named_curve("brainpoolP256r1"))
        ca_key, ca_protocol = (ec_key.curve, ec_key.private), "0.4.0.127.0.7.2.2.3.2.1"
        pace = ("0.4.0.127.0.7.2.2.4.2.2", 13) if request.param == "pace" else None
    key_for_dg14 = ca_key if request.param == "pace-dh" else ec_key
    files = personalise_chip(
        mrz_lines, portrait, pki.ds, image_format="jpeg2000", aa_key=aa_key, ca_key=key_for_dg14,
        ca_protocol=ca_protocol,
    )  # fmt: skip
    stop = threading.Event()
    card = SoftwareEmrtd(files, aa_key, ca_key=ca_key, pace=pace, bac=request.param == "bac")
    thread = threading.Thread(target=serve_vpcd, args=(card, stop), daemon=True)
    thread.start()
    yield files
    stop.set()
    thread.join(timeout=5)


def _wait_for_card(timeout: float = 10.0) -> None:
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
    access = request.node.callspec.params["inserted_card"]
    agreement = "DH on DH 1024-bit group" if access == "pace-dh" else "ECDH on EC brainpoolP256r1"
    assert reading.check("chip.ca.key_agreement").detail.startswith(agreement)
    assert reader.access_control == access.removesuffix("-dh").upper()
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


# ----- the chip reader at the gate: page -> OCR'd MRZ -> PACE/BAC on the virtual reader -> flow decision


class _Removed(Exception):
    """The software chip leaves the reader (its vpcd connection closes) in the middle of an APDU."""


class _FlakyCard:
    """A software chip that is pulled off the reader after ``answers`` APDUs, or answers each ``delay_s``
    late (a slow chip)."""

    def __init__(self, card: SoftwareEmrtd, answers: int | None = None, delay_s: float = 0.0) -> None:
        self.card, self.answers, self.delay_s, self.count = card, answers, delay_s, 0

    def reset(self) -> None:
        self.card.reset()

    def process(self, apdu: bytes) -> bytes:
        self.count += 1
        if self.answers is not None and self.count > self.answers:
            raise _Removed
        time.sleep(self.delay_s)
        return self.card.process(apdu)


@contextlib.contextmanager
def _on_reader(card) -> Iterator[None]:
    """``card`` in vpcd's reader for the duration; it may leave early (``_Removed``)."""
    stop = threading.Event()

    def serve() -> None:
        with contextlib.suppress(_Removed):
            serve_vpcd(card, stop)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        _wait_for_card()
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        deadline = time.monotonic() + 5  # wait until vpcd has seen the card go
        while time.monotonic() < deadline and _card_present():
            time.sleep(0.1)
        if getattr(card, "count", 0) > (getattr(card, "answers", None) or 1 << 30):
            # a card pulled mid-command: vpcd reports a card that connects within ~2 s after as absent for
            # good (seen with vsmartcard-vpcd 3.3 on pcscd 1.9.9); a real reader has no such wait
            time.sleep(3)


def _card_present() -> bool:
    from smartcard.System import readers

    connection = next(r for r in readers() if str(r) == READER).createConnection()
    try:
        connection.connect()
    except Exception:
        return False
    connection.disconnect()
    return True


@pytest.fixture(scope="module")
def gate_setup(pcscd, pki, tmp_path_factory):
    """A face engine, the demo's travellers (data page, live frames) and, for the genuine one, a chip with
    Active Authentication (the demo's DG1 and portrait, signed by ``pki``, whose CSCA is the trust store)."""
    from kiosk.lab.demo import DEMO_POLICY, build_demo
    from kiosk.lab.personalise import write_trust_folder
    from matcher import FaceEngine

    engine = FaceEngine.load(multiple_face_ratio=DEMO_POLICY.second_face_min_ratio)
    setup = build_demo(tmp_path_factory.mktemp("demo"), engine)
    demo_chip = read_chip(setup.presentations[GENUINE].chip, None)
    aa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    files = personalise_chip(demo_chip.dg1.lines, demo_chip.portrait, pki.ds, aa_key=aa_key)
    trust = write_trust_folder(tmp_path_factory.mktemp("gate-trust"), [pki.csca.certificate], [pki.crl])
    setup.config = dataclasses.replace(setup.config, trust_store=trust)
    return engine, setup, files, aa_key


GENUINE = "genuine traveller (Collins)"


def _gate_transaction(gate_setup, tmp_path: Path, card=None, **policy_changes):
    """One genuine traveller through a gate whose chip reader is the vpcd reader (its page only presented;
    the chip, if any, on the reader): the decision and the decision log's row of it."""
    from kiosk.config import ChipReaderConfig
    from kiosk.devices.camera import FrameListCamera
    from kiosk.documents.presentation import Presentation
    from kiosk.gate.assemble import open_gate
    from kiosk.gate.verify import run_transaction

    engine, setup = gate_setup[:2]
    config = dataclasses.replace(
        setup.config,
        chip_reader=ChipReaderConfig("pcsc", READER, time_budget_s=5.0),
        policy=dataclasses.replace(setup.config.policy, **policy_changes),
        log_path=tmp_path / "log.sqlite",
    )
    page = setup.presentations[GENUINE].page
    gate = open_gate(config, engine=engine)
    try:
        with contextlib.ExitStack() as stack:
            if card is not None:
                stack.enter_context(_on_reader(card))
            decision = run_transaction(
                gate.flow, Presentation("traveller", page=page), FrameListCamera(setup.frames[GENUINE])
            )
        return decision, gate.decision_log.decision(decision.id)
    finally:
        gate.close()


def _genuine_chip(gate_setup, pace: bool = True) -> SoftwareEmrtd:
    _engine, _setup, files, aa_key = gate_setup
    return SoftwareEmrtd(files, aa_key, pace=DEFAULT_PACE if pace else None, bac=not pace)


@pytest.mark.parametrize("pace", [True, False], ids=["pace", "bac"])
def test_gate_reads_the_chip_on_the_reader_with_the_ocr_mrz(gate_setup, tmp_path, pace) -> None:
    decision, row = _gate_transaction(gate_setup, tmp_path, _genuine_chip(gate_setup, pace))
    failed = {k: v for k, v in decision.document_checks.items() if not v}
    assert decision.outcome == "PASS" and decision.reason_codes == (), (decision.reason_codes, failed)
    checks = decision.document_checks
    assert checks["chip.present"] and checks["chip.access"] and checks["chip.read"]
    assert checks["chip.pa.sod_signature"] and checks["doc.chip_matches_mrz"]
    assert row is not None and row.outcome == "PASS"


def test_gate_absent_chip_refers_unless_the_policy_allows_it(gate_setup, tmp_path) -> None:
    decision, row = _gate_transaction(gate_setup, tmp_path)
    assert decision.outcome == "REFER" and decision.reason_codes == ("CHIP_ABSENT",)
    assert decision.document_checks["chip.present"] is False
    assert row is not None and row.outcome == "REFER"
    allowed, _ = _gate_transaction(gate_setup, tmp_path / "allowed", non_blocking_checks=("chip.present",))
    assert allowed.outcome == "PASS" and allowed.document_checks["chip.present"] is False


def test_gate_chip_removed_mid_read_is_a_failed_check_and_a_logged_decision(gate_setup, tmp_path) -> None:
    card = _FlakyCard(_genuine_chip(gate_setup), answers=40)  # PACE done, in the middle of DG2
    decision, row = _gate_transaction(gate_setup, tmp_path, card)
    assert card.count == 41  # it did go away mid-read
    assert decision.outcome == "REFER" and "CHIP_UNREADABLE" in decision.reason_codes
    checks = decision.document_checks
    assert checks["chip.present"] and checks["chip.access"] and checks["chip.read"] is False
    assert row is not None and row.outcome == "REFER"


def test_gate_chip_over_its_time_budget(gate_setup, tmp_path, monkeypatch) -> None:
    from kiosk.devices.chip_reader import PcscChipDevice

    monkeypatch.setattr(PcscChipDevice, "__init__", _budget(0.5))
    decision, _ = _gate_transaction(gate_setup, tmp_path, _FlakyCard(_genuine_chip(gate_setup), delay_s=0.05))
    assert decision.outcome == "REFER" and "CHIP_UNREADABLE" in decision.reason_codes
    assert decision.document_checks["chip.read"] is False


def _budget(seconds: float):
    def init(self, reader_name: str = "", time_budget_s: float = 5.0) -> None:
        self.reader_name, self.time_budget_s = reader_name or None, seconds

    return init


def test_gate_wrong_chip_is_access_denied(gate_setup, tmp_path, pki, mrz_lines, portrait) -> None:
    other = SoftwareEmrtd(personalise_chip(mrz_lines, portrait, pki.ds), pace=DEFAULT_PACE, bac=False)
    decision, _ = _gate_transaction(gate_setup, tmp_path, other)
    assert decision.outcome == "REFER" and "CHIP_ACCESS_DENIED" in decision.reason_codes
    assert decision.document_checks["chip.present"] and decision.document_checks["chip.access"] is False


def test_gate_does_not_start_without_its_chip_reader(gate_setup, tmp_path) -> None:
    from kiosk.config import ChipReaderConfig
    from kiosk.devices.document_reader import DocumentReaderError
    from kiosk.gate.assemble import open_gate

    engine, setup = gate_setup[:2]
    config = dataclasses.replace(
        setup.config, chip_reader=ChipReaderConfig("pcsc", "No Such Reader"), log_path=tmp_path / "l.sqlite"
    )
    with pytest.raises(DocumentReaderError, match="no PC/SC reader named like 'No Such Reader'"):
        open_gate(config, engine=engine)


def test_bench_through_the_virtual_reader(pcscd) -> None:
    from click.testing import CliRunner

    from kiosk.cli import chip

    result = CliRunner().invoke(chip, ["bench", "--vpcd", "--repeats", "2"])
    assert result.exit_code == 0, result.output
    assert "through pcscd + vpcd (Virtual PCD 00 00)" in result.output
    assert re.search(r"PACE +median [\d.]+ ms +p95 [\d.]+ ms", result.output)
