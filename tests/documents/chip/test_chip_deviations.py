"""SODs that deviate from Doc 9303 in ways other readers accept: each deviation is accepted as a named
``chip.sod.deviation.*`` check that fails, so the policy, not the reader, decides; names that differ only as
RFC 5280 allows (case, spaces) are no deviation at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509

from kiosk.documents.chip import TrustStore, read_chip
from kiosk.documents.chip.certificates import same_attributes_reordered, same_name
from kiosk.documents.chip.sod import ID_DATA_OID
from kiosk.documents.chip.source import write_chip_folder
from kiosk.lab.personalise import personalise_chip, write_trust_folder
from kiosk.policy import Policy

NAME_ORDER = "chip.sod.deviation.signer_name_order"
ID_DATA = "chip.sod.deviation.content_type_id_data"


def failed(reading) -> set[str]:
    return {check.name for check in reading.checks if not check.passed}


def issuer_of(der: bytes) -> asn1_x509.Name:
    return asn1_x509.Certificate.load(der)["tbs_certificate"]["issuer"]


def rdn_name(rdns: list) -> asn1_x509.Name:
    return asn1_x509.Name(name="", value=asn1_x509.RDNSequence(rdns))


def read(tmp_path: Path, pki, mrz_lines, portrait, **options):
    trust = TrustStore.from_folder(write_trust_folder(tmp_path / "trust", [pki.csca], [pki.crl]))
    write_chip_folder(tmp_path / "chip", personalise_chip(mrz_lines, portrait, pki.ds, **options))
    return read_chip(tmp_path / "chip", trust)


def test_conforming_sod_passes_the_deviation_checks(tmp_path, pki, mrz_lines, portrait) -> None:
    reading = read(tmp_path, pki, mrz_lines, portrait)
    assert reading.check(NAME_ORDER).passed and reading.check(ID_DATA).passed
    assert failed(reading) == set()


def test_malaysian_style_signer_name_in_another_order(tmp_path, pki, mrz_lines, portrait) -> None:
    issuer = issuer_of(pki.ds.der)
    reordered = rdn_name([rdn.copy() for rdn in reversed(list(issuer.chosen))])
    assert not same_name(reordered, issuer)
    reading = read(tmp_path, pki, mrz_lines, portrait, sid_issuer=reordered)
    assert failed(reading) == {NAME_ORDER}
    assert "tolerated deviation" in reading.check(NAME_ORDER).detail
    assert reading.passive_auth_passed


def test_case_and_spaces_are_no_deviation(tmp_path, pki, mrz_lines, portrait) -> None:
    """RFC 5280 7.1: attribute values compare case-insensitively with insignificant spaces folded."""
    shouted = asn1_x509.Name.build(
        {"country_name": "nl", "organization_name": "  TEST  passport authority ", "common_name": "test csca"}
    )
    assert same_name(shouted, issuer_of(pki.ds.der))
    assert failed(read(tmp_path, pki, mrz_lines, portrait, sid_issuer=shouted)) == set()


def test_another_name_is_not_the_signer(tmp_path, pki, mrz_lines, portrait) -> None:
    other = asn1_x509.Name.build(
        {"country_name": "NL", "organization_name": "Test Passport Authority", "common_name": "Other CSCA"}
    )
    reading = read(tmp_path, pki, mrz_lines, portrait, sid_issuer=other)
    assert {"chip.pa.sod_signature", "chip.pa.ds_certificate_chain"} <= failed(reading)
    assert "not in the signed data" in reading.check("chip.pa.sod_signature").detail


def test_reordering_is_refused_when_ambiguous() -> None:
    """With an attribute type twice (two OUs), another order could pair different values: no match."""

    def name(*pairs: tuple[str, str]) -> asn1_x509.Name:
        return rdn_name(
            [
                [{"type": kind, "value": asn1_x509.DirectoryString(name="utf8_string", value=value)}]
                for kind, value in pairs
            ]
        )

    a = name(("country_name", "MY"), ("organizational_unit_name", "A"), ("organizational_unit_name", "B"))
    b = name(("organizational_unit_name", "B"), ("organizational_unit_name", "A"), ("country_name", "MY"))
    assert not same_attributes_reordered(a, b)
    c = name(("country_name", "MY"), ("organization_name", "X"), ("common_name", "Y"))
    d = name(("common_name", "y"), ("country_name", "MY"), ("organization_name", "X"))
    assert same_attributes_reordered(c, d) and not same_name(c, d)
    e = name(("common_name", "Y"), ("country_name", "MY"))
    assert not same_attributes_reordered(c, e)


def test_chinese_style_id_data_content_type(tmp_path, pki, mrz_lines, portrait) -> None:
    reading = read(tmp_path, pki, mrz_lines, portrait, content_type=ID_DATA_OID)
    assert failed(reading) == {ID_DATA}
    assert reading.passive_auth_passed


def test_other_content_types_are_still_refused(tmp_path, pki, mrz_lines, portrait) -> None:
    reading = read(tmp_path, pki, mrz_lines, portrait, content_type="1.2.840.113549.1.7.5")
    assert "chip.parse.sod" in failed(reading)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (Policy(), ["CHIP_SOD_DEVIATION"]),
        (Policy(non_blocking_checks=("chip.sod.deviation.*",)), []),
        (Policy(non_blocking_checks=(ID_DATA,)), []),
        (Policy(non_blocking_checks=(NAME_ORDER,)), ["CHIP_SOD_DEVIATION"]),
    ],
)
def test_the_policy_decides(policy: Policy, expected, tmp_path, pki, mrz_lines, portrait) -> None:
    reading = read(tmp_path, pki, mrz_lines, portrait, content_type=ID_DATA_OID)
    assert policy.document_reasons(reading.checks) == expected
