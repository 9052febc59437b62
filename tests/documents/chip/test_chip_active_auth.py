"""Active Authentication (clone detection): the software chip signs the reader's challenge with its DG15
key (RSA ISO/IEC 9796-2 with SHA-1 or SHA-2 trailers, ECDSA plain with the hash DG14 names); the reader
records the answer and ``read_chip`` reports ``chip.aa.signature``. A chip whose key is not the one in DG15
(a clone carrying copied files), or that refuses, fails the check; the policy refers it."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kiosk.documents.chip import read_chip
from kiosk.documents.chip.active_auth import ChallengeResponse, verify_active_authentication
from kiosk.documents.chip.pcsc import BacChipReader, BacKey
from kiosk.documents.mrz import parse_mrz
from kiosk.lab.personalise import personalise_chip
from kiosk.lab.virtual_card import SoftwareEmrtd
from kiosk.policy import Policy

AA = "chip.aa.signature"


class DirectTransport:
    """APDUs handed straight to the software card (through PC/SC and vpcd in test_chip_pcsc)."""

    def __init__(self, card: SoftwareEmrtd) -> None:
        self.card = card

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        response = self.card.process(apdu)
        return response[:-2], int.from_bytes(response[-2:], "big")


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def read_live(files, card: SoftwareEmrtd, mrz_lines, trust):
    reader = BacChipReader(DirectTransport(card), BacKey.from_mrz(parse_mrz("\n".join(mrz_lines))))
    return read_chip(reader, trust), reader


@pytest.mark.parametrize("rsa_hash", ["sha1", "sha224", "sha256", "sha384", "sha512"])
def test_rsa_iso9796_2(rsa_hash, rsa_key, pki, trust, mrz_lines, portrait) -> None:
    files = personalise_chip(mrz_lines, portrait, pki.ds, aa_key=rsa_key)
    reading, reader = read_live(files, SoftwareEmrtd(files, rsa_key, aa_rsa_hash=rsa_hash), mrz_lines, trust)
    assert reading.valid, reading.as_dict()["check_details"]
    assert "RSA ISO/IEC 9796-2" in reading.check(AA).detail
    assert len(reader.active_authentication.challenge) == 8


@pytest.mark.parametrize(
    ("curve", "hash_algorithm"),
    [
        (ec.SECP256R1(), "sha256"),
        (ec.BrainpoolP384R1(), "sha384"),
        (ec.SECP521R1(), "sha512"),
        (ec.BrainpoolP256R1(), "sha1"),
    ],
)
def test_ecdsa(curve, hash_algorithm, pki, trust, mrz_lines, portrait) -> None:
    key = ec.generate_private_key(curve)
    files = personalise_chip(mrz_lines, portrait, pki.ds, aa_key=key, aa_hash_algorithm=hash_algorithm)
    reading, _ = read_live(files, SoftwareEmrtd(files, key), mrz_lines, trust)
    assert reading.valid, reading.as_dict()["check_details"]
    assert "ECDSA" in reading.check(AA).detail


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_a_clone_fails(kind, rsa_key, pki, trust, mrz_lines, portrait) -> None:
    """Copied files (passive authentication passes) on a chip that lacks the original's private key."""
    original = rsa_key if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    clone_key = (
        rsa.generate_private_key(public_exponent=65537, key_size=1024)
        if kind == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    files = personalise_chip(mrz_lines, portrait, pki.ds, aa_key=original)
    reading, _ = read_live(files, SoftwareEmrtd(files, clone_key), mrz_lines, trust)
    assert reading.passive_auth_passed
    assert not reading.check(AA).passed
    assert Policy().document_reasons(reading.checks) == ["CHIP_AA_FAILED"]


def test_a_chip_refusing_the_challenge_fails(pki, trust, mrz_lines, portrait) -> None:
    files = personalise_chip(mrz_lines, portrait, pki.ds)
    reading, _ = read_live(files, SoftwareEmrtd(files), mrz_lines, trust)
    assert not reading.check(AA).passed and "6D00" in reading.check(AA).detail


def test_no_aa_check_without_a_live_chip_or_without_dg15(
    tmp_path, rsa_key, pki, trust, mrz_lines, portrait
) -> None:
    from kiosk.documents.chip.source import write_chip_folder

    files = personalise_chip(mrz_lines, portrait, pki.ds, aa_key=rsa_key)
    write_chip_folder(tmp_path / "chip", files)
    assert read_chip(tmp_path / "chip", trust).check(AA) is None  # copied files cannot answer a challenge
    del files["DG15"]
    reading, reader = read_live(files, SoftwareEmrtd(files, rsa_key), mrz_lines, trust)
    assert reader.active_authentication is None and reading.check(AA) is None


def test_verification_rejects_malformed_answers(rsa_key, pki, mrz_lines, portrait) -> None:
    files = personalise_chip(mrz_lines, portrait, pki.ds, aa_key=rsa_key)
    card = SoftwareEmrtd(files, rsa_key)
    challenge = bytes(range(8))
    good = card._sign_challenge(challenge)
    assert verify_active_authentication(
        files["DG15"], None, ChallengeResponse(challenge, good, 0x9000)
    ).passed
    for response, message in [
        (good[:-1], "wrong size"),
        (bytes(len(good)), "wrong size"),
        (good, "does not cover the challenge"),
    ]:
        asked = challenge if message != "does not cover the challenge" else bytes(8)
        check = verify_active_authentication(files["DG15"], None, ChallengeResponse(asked, response, 0x9000))
        assert not check.passed and message in check.detail
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_files = personalise_chip(mrz_lines, portrait, pki.ds, aa_key=ec_key)
    signature = SoftwareEmrtd(ec_files, ec_key)._sign_challenge(challenge)
    check = verify_active_authentication(
        ec_files["DG15"], None, ChallengeResponse(challenge, signature, 0x9000)
    )
    assert not check.passed and "DG14" in check.detail  # ECDSA needs DG14 to name the hash
    check = verify_active_authentication(
        b"\x6f\x03\x30\x01\x00", None, ChallengeResponse(challenge, good, 0x9000)
    )
    assert not check.passed and "DG15" in check.detail
