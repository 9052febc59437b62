"""ICAO deviation lists (Doc 9303-12 section 10): a signed list naming a state's documents (by DS
certificate and/or document number) with a known deviation turns the failed check it explains into a pass
beside a failed ``<check>.deviation_listed`` (reason CHIP_DEVIATION_LISTED, accepted only by policy); an
AA-key-compromised entry fails Active Authentication; a list that does not verify is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.asymmetric import rsa

from kiosk.documents.chip import read_chip
from kiosk.documents.chip.pcsc import BacChipReader, BacKey
from kiosk.documents.chip.trust import TrustStore, TrustStoreError
from kiosk.documents.mrz import parse_mrz
from kiosk.lab.personalise import (
    create_deviation_list,
    create_document_signer,
    create_pki,
    personalise_chip,
    write_trust_folder,
)
from kiosk.lab.virtual_card import SoftwareEmrtd
from kiosk.policy import Policy

DG_HASH_WRONG = "2.23.136.1.1.7.2.2"
AA_KEY_COMPROMISED = "2.23.136.1.1.7.1.4"


def _ds_identifier(pki) -> dict:
    tbs = asn1_x509.Certificate.load(pki.ds.der)["tbs_certificate"]
    return {"issuer_and_serial_number": {"issuer": tbs["issuer"], "serial_number": tbs["serial_number"]}}


class _Direct:
    def __init__(self, card: SoftwareEmrtd) -> None:
        self.card = card

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        response = self.card.process(apdu)
        return response[:-2], int.from_bytes(response[-2:], "big")


def read_live(card: SoftwareEmrtd, mrz_lines, trust):
    reader = BacChipReader(_Direct(card), BacKey.from_mrz(parse_mrz("\n".join(mrz_lines))))
    return read_chip(reader, trust)


def _trust(folder: Path, pki, dvl: bytes | None) -> TrustStore:
    write_trust_folder(folder, [pki.csca.certificate], [pki.crl])
    if dvl is not None:
        (folder / "NL.dvl").write_bytes(dvl)
    return TrustStore.from_folder(folder)


def test_a_listed_dg2_hash_deviation_is_named_and_left_to_the_policy(
    tmp_path, pki, mrz_lines, portrait, chip_dir
) -> None:
    from kiosk.documents.chip.source import write_chip_folder

    write_chip_folder(chip_dir, personalise_chip(mrz_lines, portrait, pki.ds, tamper="dg2_image"))
    listed = ({"dsc_identifier": _ds_identifier(pki)}, [(DG_HASH_WRONG, 2, "DG2 hash wrong in batch 7")])
    trust = _trust(tmp_path / "trust", pki, create_deviation_list([listed], pki.ds))
    assert len(trust.deviations) == 1
    reading = read_chip(chip_dir, trust)
    assert (
        reading.check("chip.pa.dg2_hash").passed
        and "listed as a deviation" in reading.check("chip.pa.dg2_hash").detail
    )
    listed_check = reading.check("chip.pa.dg2_hash.deviation_listed")
    assert not listed_check.passed and "LDS-DGHashWrong (DG2 hash wrong in batch 7)" in listed_check.detail
    assert Policy().document_reasons(reading.checks) == ["CHIP_DEVIATION_LISTED"]
    accepting = Policy(non_blocking_checks=("*.deviation_listed",))
    assert accepting.document_reasons(reading.checks) == []

    without = read_chip(chip_dir, _trust(tmp_path / "plain", pki, None))
    assert Policy().document_reasons(without.checks) == ["CHIP_PA_FAILED"]


def test_a_deviation_for_other_documents_changes_nothing(
    tmp_path, pki, mrz_lines, portrait, chip_dir
) -> None:
    from kiosk.documents.chip.source import write_chip_folder

    write_chip_folder(chip_dir, personalise_chip(mrz_lines, portrait, pki.ds, tamper="dg2_image"))
    other_numbers = ({"document_numbers": ["XX0000000"]}, [(DG_HASH_WRONG, 2, "")])
    other_signer = ({"dsc_identifier": _ds_identifier(create_pki("NL"))}, [(DG_HASH_WRONG, 2, "")])
    wrong_group = ({"document_numbers": ["SPECI2021"]}, [(DG_HASH_WRONG, 1, "")])
    dvl = create_deviation_list([other_numbers, other_signer, wrong_group], pki.ds)
    reading = read_chip(chip_dir, _trust(tmp_path / "trust", pki, dvl))
    assert not reading.check("chip.pa.dg2_hash").passed
    assert not any(c.name.endswith(".deviation_listed") for c in reading.checks)


def test_a_compromised_aa_key_fails_active_authentication(tmp_path, pki, mrz_lines, portrait) -> None:
    aa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    files = personalise_chip(mrz_lines, portrait, pki.ds, aa_key=aa_key)
    listed = ({"document_numbers": ["SPECI2021"]}, [(AA_KEY_COMPROMISED, None, "")])
    trust = _trust(tmp_path / "trust", pki, create_deviation_list([listed], pki.ds))
    reading = read_live(SoftwareEmrtd(files, aa_key), mrz_lines, trust)
    check = reading.check("chip.aa.signature")
    assert not check.passed and "compromised" in check.detail


def test_a_list_that_does_not_verify_is_refused(tmp_path, pki) -> None:
    stranger = create_pki("XX")  # a signer no trusted CSCA issued
    with pytest.raises(TrustStoreError, match="not issued by a trusted CSCA"):
        _trust(tmp_path / "a", pki, create_deviation_list([], stranger.ds))
    good = bytearray(create_deviation_list([({"document_numbers": ["X"]}, [(DG_HASH_WRONG, 2, "")])], pki.ds))
    good[good.index(b"X")] = ord("Y")  # the content changed after signing
    with pytest.raises(TrustStoreError, match="signature"):
        _trust(tmp_path / "b", pki, bytes(good))
    own_signer = create_document_signer(pki.csca)  # a separate list signer of the same CSCA is fine
    assert _trust(tmp_path / "c", pki, create_deviation_list([], own_signer)).deviations == ()
