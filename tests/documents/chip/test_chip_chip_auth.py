"""Chip Authentication (clone detection): ephemeral-static ECDH or DH with the key DG14 offers, then secure
messaging under 3DES or AES keys from the shared secret. The software chip holding DG14's private key passes
``chip.ca.key_agreement``; a clone with copied files (another key) or a refusing chip fails it."""

from __future__ import annotations

import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from kiosk.documents.chip import read_chip
from kiosk.documents.chip.chip_auth import CA_CHECK, CA_ECDH_AES
from kiosk.documents.chip.curves import named_curve
from kiosk.documents.chip.dh import DH_GROUPS, dh_public_key_info
from kiosk.documents.chip.keys import CRYPTOGRAPHY_CURVES
from kiosk.documents.chip.lds import encode_dg14
from kiosk.documents.chip.pcsc import BacChipReader, BacKey
from kiosk.documents.chip.tlv import encode_tlv
from kiosk.documents.mrz import parse_mrz
from kiosk.lab.personalise import EcKey, active_authentication_infos, personalise_chip
from kiosk.lab.virtual_card import SoftwareEmrtd
from kiosk.policy import Policy


class DirectTransport:
    """APDUs handed straight to the software card (through PC/SC and vpcd in test_chip_pcsc)."""

    def __init__(self, card: SoftwareEmrtd) -> None:
        self.card = card

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        response = self.card.process(apdu)
        return response[:-2], int.from_bytes(response[-2:], "big")


def chip_key(name: str):
    """A CA key: cryptography's where it has the curve, else a pure-Python one; and the chip's (curve, d)."""
    curve = named_curve(name)
    if name not in CRYPTOGRAPHY_CURVES:
        key = EcKey.generate(curve)
        return key, (curve, key.private)
    key = ec.generate_private_key(CRYPTOGRAPHY_CURVES[name]())
    return key, (curve, key.private_numbers().private_value)


def read_live(card: SoftwareEmrtd, mrz_lines, trust):
    reader = BacChipReader(DirectTransport(card), BacKey.from_mrz(parse_mrz("\n".join(mrz_lines))))
    return read_chip(reader, trust)


@pytest.mark.parametrize("curve", ["secp256r1", "secp384r1", "brainpoolP256r1", "brainpoolP224r1"])
def test_chip_authentication(curve, pki, trust, mrz_lines, portrait) -> None:
    key, private = chip_key(curve)
    files = personalise_chip(mrz_lines, portrait, pki.ds, ca_key=key)
    reading = read_live(SoftwareEmrtd(files, ca_key=private), mrz_lines, trust)
    check = reading.check(CA_CHECK)
    assert check is not None and check.passed and curve in check.detail
    assert {c.name for c in reading.checks if not c.passed} == {"chip.aa.signature"}  # no AA key given


def test_a_clone_fails(pki, trust, mrz_lines, portrait) -> None:
    original, _ = chip_key("brainpoolP256r1")
    _, clone = chip_key("brainpoolP256r1")
    files = personalise_chip(mrz_lines, portrait, pki.ds, ca_key=original)
    reading = read_live(SoftwareEmrtd(files, ca_key=clone), mrz_lines, trust)
    assert reading.passive_auth_passed
    assert not reading.check(CA_CHECK).passed and "agreed keys" in reading.check(CA_CHECK).detail
    assert "CHIP_CA_FAILED" in Policy().document_reasons(reading.checks)


def test_a_refusing_chip_fails(pki, trust, mrz_lines, portrait) -> None:
    key, _ = chip_key("secp256r1")
    files = personalise_chip(mrz_lines, portrait, pki.ds, ca_key=key)
    reading = read_live(SoftwareEmrtd(files), mrz_lines, trust)
    assert not reading.check(CA_CHECK).passed and "6D00" in reading.check(CA_CHECK).detail


def test_no_check_when_dg14_offers_none(pki, trust, mrz_lines, portrait) -> None:
    files = personalise_chip(mrz_lines, portrait, pki.ds)
    assert read_live(SoftwareEmrtd(files), mrz_lines, trust).check(CA_CHECK) is None


@pytest.mark.parametrize(
    "protocol", ["0.4.0.127.0.7.2.2.3.2.2", "0.4.0.127.0.7.2.2.3.2.3", "0.4.0.127.0.7.2.2.3.2.4"]
)
@pytest.mark.parametrize("access", ["bac", "pace"])
def test_aes_chip_authentication(protocol, access, pki, trust, mrz_lines, portrait) -> None:
    """MSE:Set AT + GENERAL AUTHENTICATE, then AES secure messaging (after BAC's 3DES or PACE's AES)."""
    key, private = chip_key("brainpoolP256r1")
    files = personalise_chip(mrz_lines, portrait, pki.ds, ca_key=key, ca_protocol=protocol)
    pace = ("0.4.0.127.0.7.2.2.4.2.2", 13) if access == "pace" else None
    reading = read_live(SoftwareEmrtd(files, ca_key=private, pace=pace), mrz_lines, trust)
    check = reading.check(CA_CHECK)
    bits = CA_ECDH_AES[protocol] * 8
    assert check.passed and f"AES-{bits}" in check.detail
    _, clone = chip_key("brainpoolP256r1")
    reading = read_live(SoftwareEmrtd(files, ca_key=clone, pace=pace), mrz_lines, trust)
    assert not reading.check(CA_CHECK).passed


@pytest.mark.parametrize(
    ("protocol", "kind"), [("0.4.0.127.0.7.2.2.3.1.1", "3DES"), ("0.4.0.127.0.7.2.2.3.1.2", "AES-128")]
)
@pytest.mark.parametrize("access", ["bac", "pace"])
def test_dh_chip_authentication(protocol, kind, access, pki, trust, mrz_lines, portrait) -> None:
    """DH with DG14's key on the RFC 5114 1024-bit group (X9.42 parameters in DG14); a clone fails."""
    group = DH_GROUPS[0]
    private = secrets.randbelow(group.q - 1) + 1
    files = personalise_chip(mrz_lines, portrait, pki.ds, ca_key=(group, private), ca_protocol=protocol)
    pace = ("0.4.0.127.0.7.2.2.4.2.2", 13) if access == "pace" else None
    reading = read_live(SoftwareEmrtd(files, ca_key=(group, private), pace=pace), mrz_lines, trust)
    check = reading.check(CA_CHECK)
    assert check.passed and check.detail.startswith("DH on DH 1024-bit group") and kind in check.detail
    assert reading.passive_auth_passed  # DG14 with the DH key is signed like any other
    clone = (group, secrets.randbelow(group.q - 1) + 1)
    reading = read_live(SoftwareEmrtd(files, ca_key=clone, pace=pace), mrz_lines, trust)
    assert not reading.check(CA_CHECK).passed


def test_dh_key_outside_its_subgroup_is_named(pki, trust, mrz_lines, portrait) -> None:
    """A DG14 DH key whose value is not in the subgroup of order q is unusable, said so (no agreement)."""
    group = DH_GROUPS[0]
    outside = next(y for y in range(2, 100) if pow(y, group.q, group.p) != 1)
    key_info = dh_public_key_info(group, outside)
    protocol = "0.4.0.127.0.7.2.2.3.1.2"
    files = personalise_chip(mrz_lines, portrait, pki.ds)
    files["DG14"] = encode_dg14(active_authentication_infos("sha256", key_info, protocol))
    reading = read_live(SoftwareEmrtd(files), mrz_lines, trust)
    check = reading.check(CA_CHECK)
    assert not check.passed and "subgroup" in check.detail


def test_a_protocol_without_its_key_is_named(pki, trust, mrz_lines, portrait) -> None:
    from asn1crypto import core

    dh = encode_tlv(0x30, core.ObjectIdentifier("0.4.0.127.0.7.2.2.3.1.2").dump() + core.Integer(1).dump())
    files = personalise_chip(mrz_lines, portrait, pki.ds)
    files["DG14"] = encode_dg14(encode_tlv(0x31, dh))
    reading = read_live(SoftwareEmrtd(files), mrz_lines, trust)
    check = reading.check(CA_CHECK)
    assert not check.passed and "no chip authentication key" in check.detail
