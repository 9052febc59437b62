"""Every curve and encoding issuing states use for passive authentication: EC keys on brainpool and NIST
curves with named or explicit parameters (with or without seed, compressed or uncompressed points), RSA
PKCS#1 v1.5 and PSS with every hash, algorithm identifiers with NULL or absent parameters. Each fixture is
a whole chip verified end to end by ``read_chip``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from kiosk.documents.chip import TrustStore, read_chip
from kiosk.documents.chip.certificates import load_certificate
from kiosk.documents.chip.curves import NAMED_CURVES, Curve, identify, named_curve
from kiosk.documents.chip.keys import CRYPTOGRAPHY_CURVES, EcPublicKey, UnusableKey, load_public_key
from kiosk.documents.chip.source import write_chip_folder
from kiosk.lab.personalise import (
    P256_SEED,
    CertificateEncoding,
    Signer,
    create_crl,
    create_csca,
    create_document_signer,
    personalise_chip,
    write_trust_folder,
)

BRAINPOOL = [name for name in NAMED_CURVES if name.startswith("brainpool")]
NIST = [name for name in NAMED_CURVES if name.startswith("secp")]


def failed(reading) -> set[str]:
    return {check.name for check in reading.checks if not check.passed}


def verify_chip(tmp_path: Path, csca: Signer, ds: Signer, mrz_lines, portrait, **options):
    folder = write_trust_folder(tmp_path / "trust", [csca], [create_crl(csca)])
    chip = tmp_path / "chip"
    write_chip_folder(chip, personalise_chip(mrz_lines, portrait, ds, **options))
    return read_chip(chip, TrustStore.from_folder(folder))


def spki_of(signer: Signer) -> asn1_keys.PublicKeyInfo:
    return asn1_x509.Certificate.load(signer.der)["tbs_certificate"]["subject_public_key_info"]


@pytest.mark.parametrize("name", list(NAMED_CURVES))
def test_curve_parameters_are_consistent(name: str) -> None:
    """The base point is on the curve and has the stated prime order; on the curves cryptography offers, it
    is the generator cryptography uses (1 * G)."""
    curve = NAMED_CURVES[name]
    assert curve.contains((curve.gx, curve.gy))
    assert curve.multiply(curve.n, (curve.gx, curve.gy)) is None
    assert curve.multiply(curve.n - 1, (curve.gx, curve.gy)) == (curve.gx, (-curve.gy) % curve.p)
    if name in CRYPTOGRAPHY_CURVES:
        numbers = ec.derive_private_key(1, CRYPTOGRAPHY_CURVES[name]()).public_key().public_numbers()
        assert (numbers.x, numbers.y) == (curve.gx, curve.gy)


@pytest.mark.parametrize("name", list(CRYPTOGRAPHY_CURVES))
def test_pure_python_ecdsa_agrees_with_cryptography(name: str) -> None:
    curve = NAMED_CURVES[name]
    key = ec.generate_private_key(CRYPTOGRAPHY_CURVES[name]())
    numbers = key.public_key().public_numbers()
    point = (numbers.x, numbers.y)
    r, s = decode_dss_signature(key.sign(b"document", ec.ECDSA(hashes.SHA384())))
    digest = hashlib.sha384(b"document").digest()
    assert curve.verify(point, digest, r, s)
    assert not curve.verify(point, hashlib.sha384(b"documenT").digest(), r, s)
    assert not curve.verify(point, digest, r, (s + 1) % curve.n)
    assert not curve.verify(point, digest, 0, s) and not curve.verify(point, digest, r, curve.n)


@pytest.mark.parametrize("name", list(NAMED_CURVES))
@pytest.mark.parametrize("explicit", [False, True], ids=["named", "explicit"])
def test_chip_signed_on_every_curve(name: str, explicit: bool, tmp_path, mrz_lines, portrait) -> None:
    encoding = CertificateEncoding(explicit=explicit, hash_algorithm="sha256")
    csca = create_csca("DE", curve=name, encoding=encoding)
    ds = create_document_signer(csca, encoding=encoding)
    reading = verify_chip(tmp_path, csca, ds, mrz_lines, portrait)
    assert failed(reading) == set()
    key = load_certificate(ds.der).public_key()
    assert isinstance(key, EcPublicKey) and key.curve.name == name and key.explicit == explicit


def test_german_style_brainpool_explicit_csca_and_ds(tmp_path, mrz_lines, portrait) -> None:
    """A German-style PKI: CSCA on brainpoolP384r1 and DS on brainpoolP256r1, both with explicit domain
    parameters (no seed); the CSCA's CRL revokes exactly the DS it names."""
    explicit = CertificateEncoding(explicit=True, hash_algorithm="sha384")
    csca = create_csca("DE", curve="brainpoolP384r1", encoding=explicit)
    ds = create_document_signer(
        csca, curve="brainpoolP256r1", encoding=CertificateEncoding(explicit=True, hash_algorithm="sha384")
    )
    with pytest.raises(UnsupportedAlgorithm, match="explicit parameters"):  # why the old code failed
        x509.load_der_x509_certificate(ds.der).public_key()
    reading = verify_chip(tmp_path, csca, ds, mrz_lines, portrait, hash_algorithm="sha256")
    assert failed(reading) == set()
    trust = write_trust_folder(tmp_path / "revoking", [csca], [create_crl(csca, revoked=[ds])])
    assert failed(read_chip(tmp_path / "chip", TrustStore.from_folder(trust))) == {"chip.pa.crl"}


@pytest.mark.parametrize(
    ("seed", "compressed"),
    [(P256_SEED, False), (P256_SEED, True), (bytes(range(20)), False)],
    ids=["nist-seed", "nist-seed-compressed", "other-seed"],
)
def test_russian_style_p256_explicit_with_seed(seed, compressed, tmp_path, mrz_lines, portrait) -> None:
    """P-256 spelled out with a seed: matched by its parameters whatever the seed (cryptography 50 / OpenSSL
    only accept P-256's own seed, uncompressed: the other two cases failed on the old code)."""
    seeded = CertificateEncoding(explicit=True, seed=seed, compressed=compressed)
    csca = create_csca("RU", curve="secp256r1", encoding=seeded)
    ds = create_document_signer(csca, encoding=seeded)
    assert spki_of(ds)["algorithm"]["parameters"].chosen["curve"]["seed"].native == seed
    assert failed(verify_chip(tmp_path, csca, ds, mrz_lines, portrait)) == set()
    assert load_certificate(ds.der).public_key().curve.name == "secp256r1"


@pytest.mark.parametrize("name", ["brainpoolP160r1", "brainpoolP224r1", "secp224r1", "brainpoolP512r1"])
def test_compressed_points(name: str, tmp_path, mrz_lines, portrait) -> None:
    """Compressed public keys and base points (secp224r1's prime is 1 mod 4: Tonelli-Shanks)."""
    encoding = CertificateEncoding(explicit=True, compressed=True)
    csca = create_csca("XX", curve=name, encoding=encoding)
    ds = create_document_signer(csca, encoding=encoding)
    assert spki_of(ds)["public_key"].native[0] in (2, 3)
    assert failed(verify_chip(tmp_path, csca, ds, mrz_lines, portrait)) == set()


@pytest.mark.parametrize("name", ["brainpoolP160r1", "brainpoolP192r1"])
def test_pure_python_curves_refuse_forgeries(name: str, tmp_path, mrz_lines, portrait) -> None:
    """On curves only the parameters verify, a flipped SOD signature and a DS from another CSCA fail."""
    encoding = CertificateEncoding(explicit=True)
    csca = create_csca("DE", curve=name, encoding=encoding)
    ds = create_document_signer(csca, encoding=encoding)
    reading = verify_chip(tmp_path, csca, ds, mrz_lines, portrait, tamper="sod_signature")
    assert failed(reading) == {"chip.pa.sod_signature"}
    rogue = create_csca("DE", curve=name, encoding=encoding)  # same name, another key
    rogue_ds = create_document_signer(rogue, encoding=encoding)
    reading = verify_chip(tmp_path / "rogue", csca, rogue_ds, mrz_lines, portrait)
    assert "chip.pa.ds_certificate_chain" in failed(reading)


def test_explicit_parameters_matching_no_named_curve(tmp_path, mrz_lines, portrait) -> None:
    """P-256's field and equation with another base point (2G): no named curve has these parameters, so
    the signature is verified from the parameters themselves."""
    p256 = NAMED_CURVES["secp256r1"]
    gx, gy = p256.multiply(2, (p256.gx, p256.gy))
    other = Curve(None, p256.p, p256.a, p256.b, gx, gy, p256.n)
    assert identify(other) is other
    encoding = CertificateEncoding(explicit=True)
    csca = create_csca("XX", curve=other, encoding=encoding)
    ds = create_document_signer(csca, encoding=encoding)
    key = load_certificate(ds.der).public_key()
    assert key.curve.name is None and "unnamed 256-bit curve" in key.description
    assert failed(verify_chip(tmp_path, csca, ds, mrz_lines, portrait)) == set()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("point", "not on the curve"),
        ("order", "order is not prime"),
        ("prime", "not an odd prime"),
    ],
)
def test_malformed_explicit_parameters_are_refused(change: str, message: str) -> None:
    csca = create_csca("XX", curve="brainpoolP192r1", encoding=CertificateEncoding(explicit=True))
    spki = spki_of(csca)
    domain = spki["algorithm"]["parameters"].chosen
    if change == "point":
        point = bytearray(spki["public_key"].native)
        point[-1] ^= 1
        spki["public_key"] = bytes(point)
    elif change == "order":
        domain["order"] = domain["order"].native + 1
    else:
        domain["field_id"]["parameters"] = domain["field_id"]["parameters"].native + 2
    with pytest.raises(UnusableKey, match=message):
        load_public_key(asn1_keys.PublicKeyInfo.load(spki.dump(force=True)))


def test_austrian_style_csca_with_null_ecdsa_parameters(tmp_path, mrz_lines, portrait) -> None:
    """ecdsa-with-SHA384 with a NULL parameter in the CSCA (RFC 5758 says absent): cryptography refuses the
    certificate outright; the trust store loads it and the chain verifies."""
    null = CertificateEncoding(hash_algorithm="sha384", parameters="null")
    csca = create_csca("AT", curve="brainpoolP384r1", encoding=null)
    ds = create_document_signer(csca, curve="brainpoolP256r1", encoding=null)
    algorithm = asn1_x509.Certificate.load(csca.der)["signature_algorithm"]
    assert algorithm["algorithm"].native == "sha384_ecdsa" and algorithm["parameters"].native is None
    assert algorithm.dump().endswith(b"\x05\x00")
    with pytest.raises(ValueError):
        x509.load_der_x509_certificate(csca.der)
    assert failed(verify_chip(tmp_path, csca, ds, mrz_lines, portrait)) == set()


@pytest.mark.parametrize("parameters", ["null", "absent"])
@pytest.mark.parametrize("algorithm", ["rsa", "ecdsa"])
def test_signature_algorithm_parameters_null_or_absent(
    algorithm: str, parameters: str, tmp_path, mrz_lines, portrait
) -> None:
    encoding = CertificateEncoding(parameters=parameters)
    csca = create_csca("XX", algorithm=algorithm, encoding=encoding)
    ds = create_document_signer(csca, encoding=encoding)
    identifier = asn1_x509.Certificate.load(ds.der)["signature_algorithm"].dump()
    assert identifier.endswith(b"\x05\x00") == (parameters == "null")
    assert failed(verify_chip(tmp_path, csca, ds, mrz_lines, portrait)) == set()


@pytest.mark.parametrize("hash_algorithm", ["sha1", "sha224", "sha256", "sha384", "sha512"])
@pytest.mark.parametrize("algorithm", ["rsa", "rsa-pss", "ecdsa", "ecdsa-plain"])
def test_every_hash_for_certificates_and_sod(
    algorithm: str, hash_algorithm: str, tmp_path, mrz_lines, portrait
) -> None:
    """RSA PKCS#1 v1.5, RSA-PSS, ECDSA (X9.62 and plain) with every hash, in the certificates and the SOD."""
    encoding = CertificateEncoding(hash_algorithm=hash_algorithm)
    curve = "brainpoolP224r1" if algorithm == "ecdsa-plain" else "secp384r1"
    csca = create_csca("XX", algorithm=algorithm, curve=curve, encoding=encoding)
    ds = create_document_signer(csca, encoding=encoding)
    reading = verify_chip(tmp_path, csca, ds, mrz_lines, portrait, hash_algorithm=hash_algorithm)
    assert failed(reading) == set()
    assert hash_algorithm in reading.check("chip.parse.sod").detail


def test_rsa_pss_with_absent_parameters_uses_the_rfc_4055_defaults() -> None:
    """RSASSA-PSS without parameters means SHA-1, MGF1-SHA-1, salt 20."""
    from asn1crypto import core
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    from kiosk.documents.chip.signature import SignatureFailure, verify_signature

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pad = padding.PSS(mgf=padding.MGF1(hashes.SHA1()), salt_length=20)
    signature = key.sign(b"data", pad, hashes.SHA1())
    verify_signature(key.public_key(), signature, b"data", "1.2.840.113549.1.1.10", "rsassa_pss", "", None)
    verify_signature(
        key.public_key(), signature, b"data", "1.2.840.113549.1.1.10", "rsassa_pss", "", core.Null()
    )
    with pytest.raises(SignatureFailure):
        verify_signature(
            key.public_key(), signature, b"dat4", "1.2.840.113549.1.1.10", "rsassa_pss", "", None
        )


def test_named_curve_lookup() -> None:
    assert named_curve("BRAINPOOLP256R1") is NAMED_CURVES["brainpoolP256r1"]
    assert len(BRAINPOOL) == 7 and len(NIST) == 5
