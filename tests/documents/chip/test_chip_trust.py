from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import pem
from cryptography.hazmat.primitives import serialization

from kiosk.documents.chip import TrustStore, TrustStoreError, read_chip
from kiosk.documents.chip.source import write_chip_folder
from kiosk.lab.personalise import (
    create_csca,
    create_document_signer,
    create_master_list,
    personalise_chip,
    write_trust_folder,
)


def test_folder_with_pem_der_and_crl(tmp_path: Path, pki, rsa_pki) -> None:
    (tmp_path / "a.pem").write_bytes(
        pki.csca.certificate.public_bytes(serialization.Encoding.PEM)
        + rsa_pki.csca.certificate.public_bytes(serialization.Encoding.PEM)
    )
    (tmp_path / "b.crl").write_bytes(pem.armor("X509 CRL", pki.crl))
    (tmp_path / "README.txt").write_text("ignored")
    store = TrustStore.from_folder(tmp_path)
    assert len(store.cscas) == 2 and len(store.crls) == 1


def test_malformed_master_list_is_refused_with_the_file_name(tmp_path: Path) -> None:
    (tmp_path / "bad.ml").write_bytes(b"\x30\x00")
    with pytest.raises(TrustStoreError, match="malformed master list") as info:
        TrustStore.from_folder(tmp_path)
    assert "bad.ml" in str(info.value)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.cer", b"\x30\x03\x02\x01\x01", "not an X.509 certificate"),
        ("bad.crl", b"junk", "not an X.509 CRL"),
        ("ds.cer", None, "is not a CA"),
    ],
)
def test_an_unusable_certificate_or_crl_is_skipped_with_a_named_warning(
    tmp_path: Path, pki, name: str, content: bytes | None, message: str, caplog
) -> None:
    """One bad file never rejects the folder: the rest is used, the bad one is named (file and why) in
    ``skipped`` and in one TRUST_ITEM_SKIPPED warning."""
    (tmp_path / "good.cer").write_bytes(pki.csca.der)
    (tmp_path / name).write_bytes(pki.ds.der if content is None else content)
    with caplog.at_level("WARNING"):
        store = TrustStore.from_folder(tmp_path)
    assert [c.der for c in store.cscas] == [pki.csca.der]
    assert len(store.skipped) == 1 and name in store.skipped[0] and message in store.skipped[0]
    assert "TRUST_ITEM_SKIPPED" in caplog.text and name in caplog.text


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(TrustStoreError, match="does not exist"):
        TrustStore.from_folder(tmp_path / "nope")


@pytest.fixture(scope="module")
def publisher():
    """A state publishing a master list: its CSCA, and a master-list signer that CSCA issued."""
    csca = create_csca("DE", common_name="Publishing CSCA")
    return csca, create_document_signer(csca, common_name="Master List Signer")


def test_master_list_round_trip_and_use(tmp_path: Path, publisher, pki, rsa_pki, mrz_lines, portrait) -> None:
    csca, signer = publisher
    path = tmp_path / "list.ml"
    path.write_bytes(
        create_master_list([csca.certificate, pki.csca.certificate, rsa_pki.csca.certificate], signer)
    )
    store = TrustStore.from_master_list(path)
    assert {c.der for c in store.cscas} == {csca.der, pki.csca.der, rsa_pki.csca.der}
    write_chip_folder(tmp_path / "chip", personalise_chip(mrz_lines, portrait, pki.ds))
    reading = read_chip(tmp_path / "chip", store)
    assert reading.passive_auth_passed
    # also picked up from a trust folder
    assert len(TrustStore.from_folder(tmp_path).cscas) == 3


def test_master_list_with_anchors(tmp_path: Path, publisher, pki) -> None:
    csca, signer = publisher
    path = tmp_path / "list.ml"
    path.write_bytes(create_master_list([pki.csca.certificate], signer))  # publisher's CSCA not in the list
    with pytest.raises(TrustStoreError, match="not issued by a trusted CSCA"):
        TrustStore.from_master_list(path)
    anchors = TrustStore.from_folder(write_trust_folder(tmp_path / "anchors", [csca]))
    assert len(TrustStore.from_master_list(path, anchors=anchors).cscas) == 1


def test_master_list_tampered_or_signed_by_a_stranger(tmp_path: Path, publisher, pki, rsa_pki) -> None:
    csca, signer = publisher
    data = create_master_list([csca.certificate, pki.csca.certificate], signer)
    # swap one listed CSCA for another: the signed digest no longer matches
    real = pki.csca.der
    tampered = tmp_path / "tampered.ml"
    tampered.write_bytes(data.replace(real[-40:], bytes(40)))
    with pytest.raises(TrustStoreError, match="signature"):
        TrustStore.from_master_list(tampered)
    stranger = create_document_signer(create_csca("XX", common_name="Stranger"))
    foreign = tmp_path / "foreign.ml"
    foreign.write_bytes(create_master_list([csca.certificate], stranger))
    with pytest.raises(TrustStoreError, match="not issued by a trusted CSCA"):
        TrustStore.from_master_list(foreign)


def test_master_list_signer_expired(tmp_path: Path, publisher) -> None:
    csca, signer = publisher
    path = tmp_path / "list.ml"
    path.write_bytes(create_master_list([csca.certificate], signer))
    later = signer.certificate.not_valid_after_utc + timedelta(days=1)
    with pytest.raises(TrustStoreError, match="not valid now"):
        TrustStore.from_master_list(path, at=later)
    assert TrustStore.from_master_list(path, at=datetime.now(UTC)).cscas


BROKEN = [  # well-formed DER items that are no parsable certificate, as real master lists carry a few
    b"\x30\x00",
    b"\x30\x03\x02\x01\x01",
    b"\x30\x05\x30\x03\x02\x01\x01",
    b"\x02\x01\x05",
    b"\x30\x02\x04\x00",
    b"\x30\x04\x30\x02\x05\x00",
]


def test_dutch_style_master_list_with_unparseable_entries(tmp_path: Path, publisher, pki, rsa_pki, caplog):
    """A correctly signed list: its 3 broken entries (and one non-CA) are skipped and named, the rest used."""
    csca, signer = publisher
    entries = [csca, *BROKEN[:3], pki.csca, signer, rsa_pki.csca]
    path = tmp_path / "nl.ml"
    path.write_bytes(create_master_list(entries, signer))
    with caplog.at_level("WARNING"):
        store = TrustStore.from_master_list(path)
    assert {c.der for c in store.cscas} == {csca.der, pki.csca.der, rsa_pki.csca.der}
    assert len(store.skipped) == 4 and all("nl.ml entry" in line for line in store.skipped)
    assert sum("not an X.509 certificate" in line for line in store.skipped) == 3
    assert sum("Master List Signer" in line and "not a CA" in line for line in store.skipped) == 1
    assert all("\n" not in line for line in store.skipped)
    assert "TRUST_ITEM_SKIPPED: 4 item(s)" in caplog.text


def test_german_style_master_list_signed_on_brainpool_explicit(
    tmp_path: Path, pki, mrz_lines, portrait
) -> None:
    """Publisher CSCA and master-list signer on brainpoolP384r1/P256r1 with explicit parameters, six
    unparseable entries: the list loads (its signature and signer chain verified), its CSCAs are used."""
    from kiosk.lab.personalise import CertificateEncoding

    explicit = CertificateEncoding(explicit=True, hash_algorithm="sha384")
    csca = create_csca("DE", curve="brainpoolP384r1", encoding=explicit, common_name="CSCA-GERMANY")
    signer = create_document_signer(csca, curve="brainpoolP256r1", encoding=explicit, common_name="ML Signer")
    path = tmp_path / "de.ml"
    path.write_bytes(create_master_list([csca, *BROKEN, pki.csca], signer))
    store = TrustStore.from_master_list(path)
    assert {c.der for c in store.cscas} == {csca.der, pki.csca.der} and len(store.skipped) == 6
    write_chip_folder(tmp_path / "chip", personalise_chip(mrz_lines, portrait, pki.ds))
    assert read_chip(tmp_path / "chip", store).passive_auth_passed
    # the signature over the list still binds every entry, broken ones included
    data = path.read_bytes()
    tampered = tmp_path / "tampered.ml"
    tampered.write_bytes(data.replace(b"\x30\x03\x02\x01\x01", b"\x30\x03\x02\x01\x02", 1))
    with pytest.raises(TrustStoreError, match="signature"):
        TrustStore.from_master_list(tampered)
