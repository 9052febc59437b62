"""Passive authentication end to end: chip files written by the personaliser, read back by ``read_chip``.
Every way a chip can be tampered with, or its PKI be wrong, must fail its named check and only that."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kiosk.documents.chip import ChipReading, TrustStore, read_chip
from kiosk.documents.chip.biometric import ISO_19794_5, ISO_39794_5
from kiosk.documents.chip.sod import EF_SOD_TAG, wrap_sod
from kiosk.documents.chip.source import write_chip_folder
from kiosk.documents.chip.tlv import read_single
from kiosk.lab.personalise import (
    CertificateEncoding,
    Pki,
    Signer,
    create_crl,
    create_csca,
    create_document_signer,
    personalise_chip,
    write_trust_folder,
)

PA_STEPS = {
    "chip.pa.sod_signature",
    "chip.pa.ds_certificate_chain",
    "chip.pa.ds_validity",
    "chip.pa.csca_validity",
    "chip.pa.csca_current",
    "chip.pa.crl",
    "chip.pa.dg1_hash",
    "chip.pa.dg2_hash",
    "chip.pa.dg14_hash",
    "chip.pa.dg15_hash",
    "chip.pa.unlisted_data_group",
}


NO_CSCA = {"chip.pa.ds_certificate_chain", "chip.pa.csca_validity", "chip.pa.csca_current", "chip.pa.crl"}


def failed(reading: ChipReading) -> set[str]:
    return {check.name for check in reading.checks if not check.passed}


def make_chip(folder: Path, mrz_lines, portrait, ds: Signer, **options) -> Path:
    write_chip_folder(folder, personalise_chip(mrz_lines, portrait, ds, **options))
    return folder


def trust_of(tmp_path: Path, *cscas: Signer, crls=(), require_crl: bool = False) -> TrustStore:
    folder = write_trust_folder(tmp_path / "trust", cscas, crls)
    return TrustStore.from_folder(folder, require_crl=require_crl)


@pytest.mark.parametrize("which", ["pki", "rsa_pki", "pss_pki", "plain_pki"])
@pytest.mark.parametrize(
    ("image_format", "container"),
    [("jpeg", ISO_19794_5), ("jpeg2000", ISO_19794_5), ("jpeg", ISO_39794_5), ("jpeg2000", ISO_39794_5)],
)
def test_valid_chip_passes_every_check(
    which: str, image_format: str, container: str, request, trust, mrz_lines, portrait, chip_dir
) -> None:
    pki: Pki = request.getfixturevalue(which)
    folder = make_chip(chip_dir, mrz_lines, portrait, pki.ds, image_format=image_format, container=container)
    reading = read_chip(folder, trust)
    assert failed(reading) == set()
    assert reading.valid and reading.passive_auth_passed
    assert {check.name for check in reading.checks} >= PA_STEPS
    assert reading.dg1 is not None and reading.dg1.lines == mrz_lines and reading.dg1.valid
    assert reading.portrait is not None and reading.portrait.shape == portrait.shape
    assert reading.data_groups == ("DG1", "DG2", "DG14", "DG15")
    assert reading.face is not None and (reading.face.container, reading.face.image_format) == (
        container,
        image_format,
    )


@pytest.mark.parametrize("hash_algorithm", ["sha1", "sha256", "sha384", "sha512"])
def test_hash_algorithms(hash_algorithm: str, pki, trust, mrz_lines, portrait, chip_dir) -> None:
    folder = make_chip(chip_dir, mrz_lines, portrait, pki.ds, hash_algorithm=hash_algorithm)
    reading = read_chip(folder, trust)
    assert failed(reading) == set()
    assert hash_algorithm in reading.check("chip.parse.sod").detail


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ("dg1_byte", {"chip.pa.dg1_hash"}),
        ("dg2_image", {"chip.pa.dg2_hash"}),
        ("sod_signature", {"chip.pa.sod_signature"}),
        ("sod_missing_dg2", {"chip.pa.dg2_hash", "chip.pa.unlisted_data_group"}),
        ("dg2_container", {"chip.parse.dg2", "chip.dg2.image_decoded"}),
        ("sod_truncated", {"chip.parse.sod"} | PA_STEPS),
    ],
)
@pytest.mark.parametrize("which", ["pki", "rsa_pki", "plain_pki"])
def test_tampered_chip_fails_exactly_the_right_checks(
    tamper: str, expected: set[str], which: str, request, trust, mrz_lines, portrait, chip_dir
) -> None:
    pki: Pki = request.getfixturevalue(which)
    reading = read_chip(make_chip(chip_dir, mrz_lines, portrait, pki.ds, tamper=tamper), trust)
    assert failed(reading) == expected
    assert not reading.valid


def test_altered_dg1_still_reports_the_mrz_but_fails_its_hash(
    pki, trust, mrz_lines, portrait, chip_dir
) -> None:
    reading = read_chip(make_chip(chip_dir, mrz_lines, portrait, pki.ds, tamper="dg1_byte"), trust)
    assert reading.dg1 is not None and reading.dg1.lines != mrz_lines
    assert not reading.passive_auth_passed


def test_ds_not_from_a_trusted_csca(tmp_path, trust, mrz_lines, portrait, chip_dir) -> None:
    rogue = create_csca("NL", algorithm="ecdsa")  # same name as the real CSCA, another key
    reading = read_chip(make_chip(chip_dir, mrz_lines, portrait, create_document_signer(rogue)), trust)
    assert failed(reading) == NO_CSCA


def test_ds_with_a_forged_authority_key_id_is_still_rejected(
    tmp_path, pki, mrz_lines, portrait, chip_dir
) -> None:
    """A DS naming the trusted CSCA as issuer, with its key id, but signed by another key: only the signature
    check can tell, and it does."""
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    ds_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(pki.ds.certificate.subject)
        .issuer_name(pki.csca.certificate.issuer)
        .public_key(ds_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=100))
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(pki.csca.key.public_key()), False)
        .sign(rogue_key, hashes.SHA256())
    )
    ds = Signer(certificate.public_bytes(serialization.Encoding.DER), ds_key, "ecdsa")
    reading = read_chip(make_chip(chip_dir, mrz_lines, portrait, ds), trust_of(tmp_path, pki.csca))
    assert failed(reading) == NO_CSCA
    assert "does not verify" in reading.check("chip.pa.ds_certificate_chain").detail


def test_no_trust_store(pki, mrz_lines, portrait, chip_dir) -> None:
    reading = read_chip(make_chip(chip_dir, mrz_lines, portrait, pki.ds), None)
    assert failed(reading) == NO_CSCA
    assert reading.check("chip.pa.sod_signature").passed  # integrity alone is still checked


def test_expired_and_not_yet_valid_ds(pki, trust, mrz_lines, portrait, chip_dir) -> None:
    folder = make_chip(chip_dir, mrz_lines, portrait, pki.ds)
    after = pki.ds.certificate.not_valid_after_utc + timedelta(days=1)
    before = pki.ds.certificate.not_valid_before_utc - timedelta(days=1)
    assert failed(read_chip(folder, trust, at=after)) == {
        "chip.pa.ds_validity",
        "chip.pa.crl",
    }  # CRL stale too
    assert failed(read_chip(folder, trust, at=before)) == {"chip.pa.ds_validity", "chip.pa.crl"}


def test_expired_ds_with_current_crl(tmp_path, mrz_lines, portrait, chip_dir) -> None:
    csca = create_csca("NL", not_before=datetime.now(UTC) - timedelta(days=500))
    ds = create_document_signer(
        csca, not_before=datetime.now(UTC) - timedelta(days=400), validity=timedelta(days=200)
    )
    trust = trust_of(tmp_path, csca, crls=[create_crl(csca)])
    reading = read_chip(make_chip(chip_dir, mrz_lines, portrait, ds), trust)
    assert failed(reading) == {"chip.pa.ds_validity"}
    assert "expired" in reading.check("chip.pa.ds_validity").detail


def test_expired_csca(tmp_path, mrz_lines, portrait, chip_dir) -> None:
    """Stated policy: a CSCA expired at the check time fails ``chip.pa.csca_current`` only, when it was valid
    as it issued the DS (the chain model would accept; the default policy, the shell model, refers); a DS
    issued outside the CSCA's validity fails ``chip.pa.csca_validity`` as well."""
    csca = create_csca("NL", not_before=datetime.now(UTC) - timedelta(days=40), validity=timedelta(days=30))
    ds = create_document_signer(csca, not_before=datetime.now(UTC) - timedelta(days=35))
    reading = read_chip(make_chip(chip_dir, mrz_lines, portrait, ds), trust_of(tmp_path, csca))
    assert failed(reading) == {"chip.pa.csca_current"}
    assert "expired" in reading.check("chip.pa.csca_current").detail
    late = create_document_signer(csca, not_before=datetime.now(UTC) - timedelta(days=5))
    reading = read_chip(make_chip(tmp_path / "late", mrz_lines, portrait, late), trust_of(tmp_path, csca))
    assert failed(reading) == {"chip.pa.csca_current", "chip.pa.csca_validity"}
    assert "outside the CSCA's validity" in reading.check("chip.pa.csca_validity").detail


def test_revoked_ds(tmp_path, pki, mrz_lines, portrait, chip_dir) -> None:
    crl = create_crl(pki.csca, revoked=[pki.ds.certificate])
    reading = read_chip(
        make_chip(chip_dir, mrz_lines, portrait, pki.ds), trust_of(tmp_path, pki.csca, crls=[crl])
    )
    assert failed(reading) == {"chip.pa.crl"}
    assert "revoked" in reading.check("chip.pa.crl").detail


def test_crl_from_the_wrong_issuer(tmp_path, pki, mrz_lines, portrait, chip_dir) -> None:
    """A CRL naming the CSCA but signed by someone else is refused, whatever it says."""
    other = create_csca("NL", common_name="Someone Else")
    forged = create_crl(other, issuer_name=pki.csca.certificate.subject)
    reading = read_chip(
        make_chip(chip_dir, mrz_lines, portrait, pki.ds), trust_of(tmp_path, pki.csca, crls=[forged])
    )
    assert failed(reading) == {"chip.pa.crl"}
    assert "not signed by the CSCA" in reading.check("chip.pa.crl").detail


def test_another_csca_revoking_the_same_serial_does_not_apply(
    tmp_path, pki, mrz_lines, portrait, chip_dir
) -> None:
    other = create_csca("BE", common_name="Other CSCA")
    crl = create_crl(other, revoked=[pki.ds.certificate])  # same serial, other issuer: not our DS
    trust = trust_of(tmp_path, pki.csca, other, crls=[pki.crl, crl])
    assert failed(read_chip(make_chip(chip_dir, mrz_lines, portrait, pki.ds), trust)) == set()


def test_stale_crl(tmp_path, pki, mrz_lines, portrait, chip_dir) -> None:
    past = datetime.now(UTC) - timedelta(days=100)
    stale = create_crl(pki.csca, last_update=past, next_update=past + timedelta(days=30))
    reading = read_chip(
        make_chip(chip_dir, mrz_lines, portrait, pki.ds), trust_of(tmp_path, pki.csca, crls=[stale])
    )
    assert failed(reading) == {"chip.pa.crl"}
    assert "not current" in reading.check("chip.pa.crl").detail


def test_missing_crl_fails_only_when_required(tmp_path, pki, mrz_lines, portrait, chip_dir) -> None:
    folder = make_chip(chip_dir, mrz_lines, portrait, pki.ds)
    assert failed(read_chip(folder, trust_of(tmp_path / "a", pki.csca))) == set()
    assert failed(read_chip(folder, trust_of(tmp_path / "b", pki.csca, require_crl=True))) == {"chip.pa.crl"}


def test_sod_without_its_ds_certificate_is_not_verified_against_the_trust_store(
    pki, trust, mrz_lines, portrait, chip_dir
) -> None:
    """Only the DS certificate named by the SOD's signer info is used: a SOD whose certificate set lacks it
    fails, even though the trust store holds the CSCA."""
    files = personalise_chip(mrz_lines, portrait, pki.ds)
    # the SOD re-encoded with another DS certificate of the same CSCA in its certificate set (asn1crypto
    # writes the new lengths; the signer info and its signed attributes stay as signed)
    info = cms.ContentInfo.load(read_single(files["EF.SOD"], EF_SOD_TAG).value)
    fake = create_document_signer(pki.csca).certificate.public_bytes(serialization.Encoding.DER)
    info["content"]["certificates"] = [cms.CertificateChoices.load(fake)]
    files["EF.SOD"] = wrap_sod(info.dump(force=True))
    write_chip_folder(chip_dir, files)
    reading = read_chip(chip_dir, trust)
    assert {"chip.pa.sod_signature", "chip.pa.ds_certificate_chain"} <= failed(reading)


def test_missing_files_and_folder(pki, trust, mrz_lines, portrait, chip_dir, tmp_path) -> None:
    files = personalise_chip(mrz_lines, portrait, pki.ds)
    del files["DG2"], files["EF.COM"]
    write_chip_folder(chip_dir, files)
    reading = read_chip(chip_dir, trust)
    assert failed(reading) == {"chip.parse.ef_com", "chip.parse.dg2", "chip.dg2.image_decoded"}
    assert reading.portrait is None and reading.passive_auth_passed

    from kiosk.documents.checks import DocumentError

    with pytest.raises(DocumentError):
        read_chip(tmp_path / "nowhere", trust)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DocumentError, match="no chip files"):
        read_chip(tmp_path / "empty", trust)


def test_data_group_not_declared_in_ef_com(pki, trust, mrz_lines, portrait, chip_dir) -> None:
    from kiosk.documents.chip.lds import encode_ef_com

    files = personalise_chip(mrz_lines, portrait, pki.ds)
    files["EF.COM"] = encode_ef_com((1, 2))
    write_chip_folder(chip_dir, files)
    reading = read_chip(chip_dir, trust)
    assert failed(reading) == {"chip.parse.ef_com"}
    assert reading.ef_com_data_groups == ("DG1", "DG2")


def test_as_dict_has_no_personal_data(pki, trust, mrz_lines, portrait, chip_dir) -> None:
    reading = read_chip(make_chip(chip_dir, mrz_lines, portrait, pki.ds), trust)
    summary = repr(reading.as_dict())
    assert "SPECI2021" not in summary and "BRUIJN" not in summary
    assert reading.as_dict()["checks"]["chip.pa.sod_signature"] is True
    assert isinstance(reading.portrait, np.ndarray)


def test_a_csca_cannot_act_as_document_signer(tmp_path, pki, mrz_lines, portrait, chip_dir) -> None:
    """The CSCA's own key signing a SOD directly is refused: a DS is not a CA."""
    reading = read_chip(make_chip(chip_dir, mrz_lines, portrait, pki.csca), trust_of(tmp_path, pki.csca))
    assert "chip.pa.ds_certificate_chain" in failed(reading)
    assert "is a CA" in reading.check("chip.pa.ds_certificate_chain").detail


def test_explicit_ec_domain_parameters(tmp_path, mrz_lines, portrait, chip_dir) -> None:
    """CSCA and DS certificates with explicit curve parameters instead of a curve name (common in eMRTD
    PKIs) verify like named-curve ones."""
    from asn1crypto import x509 as asn1_x509

    explicit = CertificateEncoding(explicit=True)
    csca = create_csca("DE", encoding=explicit)
    ds = create_document_signer(csca, encoding=explicit)
    spki = asn1_x509.Certificate.load(ds.der)["tbs_certificate"]["subject_public_key_info"]
    assert spki["algorithm"]["parameters"].name == "specified"
    trust = trust_of(tmp_path, csca, crls=[create_crl(csca)])
    reading = read_chip(make_chip(chip_dir, mrz_lines, portrait, ds), trust)
    assert failed(reading) == set()
    revoked = trust_of(tmp_path / "r", csca, crls=[create_crl(csca, revoked=[ds])])
    assert failed(read_chip(chip_dir, revoked)) == {"chip.pa.crl"}
    stranger = create_csca("DE", encoding=explicit)
    assert failed(read_chip(chip_dir, trust_of(tmp_path / "s", stranger))) == NO_CSCA


def test_dg1_parsed_at_the_check_time_with_extra_codes(pki, trust, portrait, chip_dir) -> None:
    lines = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
    folder = make_chip(chip_dir, lines, portrait, pki.ds)
    assert not read_chip(folder, trust).dg1.valid  # UTO is the Doc 9303 specimen state, not an ICAO code
    reading = read_chip(folder, trust, extra_codes=("UTO",), at=datetime(2011, 6, 1, tzinfo=UTC))
    assert reading.dg1.valid and reading.dg1.date_of_birth.year == 1974
    assert failed(reading) == {
        "chip.pa.ds_validity",
        "chip.pa.csca_current",
        "chip.pa.crl",
    }  # PKI made today
