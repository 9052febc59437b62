"""Personalisation for tests and demos: a throw-away PKI (CSCA, document signer, CRL, master list) and the
chip files of a document (EF.COM, DG1, DG2, DG14, DG15, EF.SOD), valid or tampered in a named way.

Everything here is real cryptography (``cryptography`` keys and certificates, CMS built with ``asn1crypto``);
the keys are generated on the spot and never meant for production."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from asn1crypto import algos, cms, core
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from PIL import Image

from kiosk.documents.chip.biometric import ISO_19794_5, encode_dg2
from kiosk.documents.chip.lds import encode_dg1, encode_dg14, encode_dg15, encode_ef_com
from kiosk.documents.chip.signature import ECDSA_PLAIN_OIDS, HASHES, digest
from kiosk.documents.chip.sod import LDS_SECURITY_OBJECT_OID, encode_lds_security_object, wrap_sod
from kiosk.documents.chip.tlv import encode_tlv, read_tlv
from kiosk.documents.chip.trust import MASTER_LIST_OID, CscaMasterList

ALGORITHMS = ("ecdsa", "ecdsa-plain", "rsa", "rsa-pss")  # ecdsa-plain: BSI TR-03111 r||s in the SOD
TAMPERS = (
    "dg1_byte",  # one byte of DG1 altered after signing
    "dg2_image",  # one byte of the portrait altered after signing
    "sod_signature",  # the SOD's signature bytes flipped
    "sod_missing_dg2",  # the SOD's hash list has no entry for DG2
    "sod_truncated",  # EF.SOD cut short
    "dg2_container",  # the DG2 face container is malformed (signed as such: only parsing can catch it)
)
_AA_PROTOCOL = "2.23.136.1.1.5"  # id-icao-mrtd-security-aaProtocolObject
_ECDSA_PLAIN_OIDS = {hash_name: oid for oid, hash_name in ECDSA_PLAIN_OIDS.items()}
_ECDSA_PLAIN_SHA256 = _ECDSA_PLAIN_OIDS["sha256"]


@dataclass(frozen=True)
class Signer:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    algorithm: str  # one of ALGORITHMS


@dataclass(frozen=True)
class Pki:
    csca: Signer
    ds: Signer
    crl: x509.CertificateRevocationList


def _new_key(algorithm: str) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    if algorithm in ("ecdsa", "ecdsa-plain"):
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm in ("rsa", "rsa-pss"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown algorithm {algorithm!r}; expected one of {', '.join(ALGORITHMS)}")


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def _name(country: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test Passport Authority"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _sign_builder(builder, key, algorithm: str):  # x509 certificate or CRL builder
    return builder.sign(key, hashes.SHA256(), rsa_padding=_pss() if algorithm == "rsa-pss" else None)


def create_csca(
    country: str = "UT",
    *,
    algorithm: str = "ecdsa",
    common_name: str = "Test CSCA",
    not_before: datetime | None = None,
    validity: timedelta = timedelta(days=365 * 15),
) -> Signer:
    """A self-signed Country Signing CA."""
    key = _new_key(algorithm)
    start = not_before or datetime.now(UTC) - timedelta(days=30)
    name = _name(country, common_name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return Signer(_sign_builder(builder, key, algorithm), key, algorithm)


def create_document_signer(
    csca: Signer,
    *,
    algorithm: str | None = None,
    common_name: str = "Test Document Signer",
    not_before: datetime | None = None,
    validity: timedelta = timedelta(days=365 * 11),
) -> Signer:
    """A document signer certificate issued by ``csca`` (same algorithm unless given)."""
    algorithm = algorithm or csca.algorithm
    key = _new_key(algorithm)
    start = not_before or datetime.now(UTC) - timedelta(days=10)
    country = csca.certificate.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(str(country), common_name))
        .issuer_name(csca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + validity)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(csca.key.public_key()), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return Signer(_sign_builder(builder, csca.key, csca.algorithm), key, algorithm)


def create_crl(
    issuer: Signer,
    *,
    revoked: Iterable[x509.Certificate] = (),
    issuer_name: x509.Name | None = None,
    last_update: datetime | None = None,
    next_update: datetime | None = None,
) -> x509.CertificateRevocationList:
    """A CRL signed by ``issuer`` revoking ``revoked``; ``issuer_name`` overrides the name it claims."""
    now = datetime.now(UTC)
    last = last_update or now - timedelta(days=1)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer_name or issuer.certificate.subject)
        .last_update(last)
        .next_update(next_update or last + timedelta(days=90))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
        .add_extension(x509.CRLNumber(1), critical=False)
    )
    for certificate in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(certificate.serial_number)
            .revocation_date(last)
            .build()
        )
    return _sign_builder(builder, issuer.key, issuer.algorithm)


def create_pki(country: str = "UT", *, algorithm: str = "ecdsa") -> Pki:
    """A CSCA, a document signer it issued and its (empty) CRL."""
    csca = create_csca(country, algorithm=algorithm)
    ds = create_document_signer(csca)
    return Pki(csca, ds, create_crl(csca))


def write_trust_folder(
    folder: Path, cscas: Iterable[x509.Certificate], crls: Iterable[x509.CertificateRevocationList] = ()
) -> Path:
    """CSCA certificates (``csca-N.cer``, DER) and CRLs (``csca-N.crl``) in the layout TrustStore reads."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, certificate in enumerate(cscas):
        (folder / f"csca-{i}.cer").write_bytes(certificate.public_bytes(serialization.Encoding.DER))
    for i, crl in enumerate(crls):
        (folder / f"csca-{i}.crl").write_bytes(crl.public_bytes(serialization.Encoding.DER))
    return folder


def _signature_algorithm(signer: Signer, hash_algorithm: str) -> dict:
    if signer.algorithm == "rsa-pss":
        return {
            "algorithm": "rsassa_pss",
            "parameters": {
                "hash_algorithm": {"algorithm": hash_algorithm},
                "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": hash_algorithm}},
                "salt_length": HASHES[hash_algorithm].digest_size,
                "trailer_field": "trailer_field_bc",
            },
        }
    if signer.algorithm == "ecdsa-plain":
        return {"algorithm": _ECDSA_PLAIN_OIDS[hash_algorithm]}
    suffix = "ecdsa" if signer.algorithm == "ecdsa" else "rsa"
    return {"algorithm": f"{hash_algorithm}_{suffix}"}


def _sign(signer: Signer, data: bytes, hash_algorithm: str) -> bytes:
    hash_ = HASHES[hash_algorithm]()
    if signer.algorithm in ("ecdsa", "ecdsa-plain"):
        return signer.key.sign(data, ec.ECDSA(hash_))
    if signer.algorithm == "rsa-pss":
        pad = padding.PSS(mgf=padding.MGF1(HASHES[hash_algorithm]()), salt_length=hash_.digest_size)
        return signer.key.sign(data, pad, hash_)
    return signer.key.sign(data, padding.PKCS1v15(), hash_)


def sign_cms(econtent: bytes, content_type: str, signer: Signer, hash_algorithm: str = "sha256") -> bytes:
    """CMS ContentInfo(SignedData) over ``econtent``, with signed attributes and the signer certificate."""
    cert = asn1_x509.Certificate.load(signer.certificate.public_bytes(serialization.Encoding.DER))
    signed_attrs = cms.CMSAttributes(
        [
            {"type": "content_type", "values": [content_type]},
            {"type": "message_digest", "values": [digest(hash_algorithm, econtent)]},
        ]
    )
    signature = _sign(signer, signed_attrs.dump(), hash_algorithm)
    if signer.algorithm == "ecdsa-plain":
        r, s = decode_dss_signature(signature)
        size = (signer.key.curve.key_size + 7) // 8
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    signer_info = {
        "version": "v1",
        "sid": {
            "issuer_and_serial_number": {
                "issuer": cert["tbs_certificate"]["issuer"],
                "serial_number": cert["tbs_certificate"]["serial_number"],
            }
        },
        "digest_algorithm": {"algorithm": hash_algorithm},
        "signed_attrs": signed_attrs,
        "signature_algorithm": _signature_algorithm(signer, hash_algorithm),
        "signature": signature,
    }
    signed_data = cms.SignedData(
        {
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": hash_algorithm})],
            "encap_content_info": {
                "content_type": content_type,
                "content": core.ParsableOctetString(econtent),
            },
            "certificates": [cert],
            "signer_infos": [signer_info],
        }
    )
    return cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()


def create_master_list(cscas: Sequence[x509.Certificate], signer: Signer) -> bytes:
    """An ICAO CSCA master list (CMS SignedData) listing ``cscas``, signed by ``signer``."""
    certificates = [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in cscas]
    econtent = CscaMasterList({"version": 0, "cert_list": certificates}).dump()
    return sign_cms(econtent, MASTER_LIST_OID, signer)


def encode_portrait(portrait_bgr: np.ndarray, image_format: str = "jpeg") -> bytes:
    """A chip-sized encoding of the portrait: JPEG (quality 85) or JPEG 2000 (JP2, about 40:1)."""
    image = Image.fromarray(np.ascontiguousarray(portrait_bgr[:, :, ::-1]))
    buffer = io.BytesIO()
    if image_format == "jpeg":
        image.save(buffer, format="JPEG", quality=85)
    elif image_format == "jpeg2000":
        image.save(buffer, format="JPEG2000", quality_mode="rates", quality_layers=[40], irreversible=True)
    else:
        raise ValueError(f"unknown image format {image_format!r}; expected jpeg or jpeg2000")
    return buffer.getvalue()


def active_authentication_infos() -> bytes:
    """SecurityInfos with one ActiveAuthenticationInfo (protocol, version 1, ecdsa-plain-SHA256)."""
    info = core.ObjectIdentifier(_AA_PROTOCOL).dump() + core.Integer(1).dump()
    info += core.ObjectIdentifier(_ECDSA_PLAIN_SHA256).dump()
    return encode_tlv(0x31, encode_tlv(0x30, info))


def _spoil_face_container(dg2: bytes) -> bytes:
    """Change the first byte of the biometric data block: the 19794-5 magic or the 39794-5 block tag."""
    for tag in (b"\x5f\x2e", b"\x7f\x2e"):
        if tag in dg2:
            block = read_tlv(dg2, dg2.index(tag))
            return _flip(dg2, block.end - len(block.value))
    raise ValueError("DG2 has no biometric data block")


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def personalise_chip(
    mrz_lines: Sequence[str],
    portrait_bgr: np.ndarray,
    ds: Signer,
    *,
    image_format: str = "jpeg",
    container: str = ISO_19794_5,
    hash_algorithm: str = "sha256",
    tamper: str | None = None,
) -> dict[str, bytes]:
    """The chip files of a document: EF.COM, DG1 (``mrz_lines``), DG2 (the portrait), DG14, DG15 and EF.SOD
    signed by ``ds``; ``tamper`` (one of TAMPERS) spoils them in that named way."""
    if tamper is not None and tamper not in TAMPERS:
        raise ValueError(f"unknown tamper {tamper!r}; expected one of {', '.join(TAMPERS)}")
    image = encode_portrait(portrait_bgr, image_format)
    height, width = portrait_bgr.shape[:2]
    dg2 = encode_dg2(image, width, height, container)
    if tamper == "dg2_container":
        dg2 = _spoil_face_container(dg2)
    aa_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    groups = {
        1: encode_dg1(tuple(mrz_lines)),
        2: dg2,
        14: encode_dg14(active_authentication_infos()),
        15: encode_dg15(
            aa_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        ),
    }
    hashes_ = {n: digest(hash_algorithm, data) for n, data in groups.items()}
    if tamper == "sod_missing_dg2":
        del hashes_[2]
    econtent = encode_lds_security_object(hash_algorithm, hashes_, "0108")
    sod = wrap_sod(sign_cms(econtent, LDS_SECURITY_OBJECT_OID, ds, hash_algorithm))
    if tamper == "sod_signature":
        sod = _flip(sod, len(sod) - 10)  # the signature value is the last field of EF.SOD
    elif tamper == "sod_truncated":
        sod = sod[: len(sod) * 2 // 3]
    if tamper == "dg1_byte":
        groups[1] = _flip(groups[1], len(groups[1]) - 5)
    elif tamper == "dg2_image":
        groups[2] = _flip(groups[2], len(groups[2]) - len(image) // 2)
    files = {"EF.COM": encode_ef_com(tuple(groups)), **{f"DG{n}": data for n, data in groups.items()}}
    files["EF.SOD"] = sod
    return files


def write_pki(folder: Path, pki: Pki) -> Path:
    """``trust/`` (CSCA certificate and CRL, for TrustStore.from_folder) and ``signer/`` (DS certificate and
    its unencrypted private key, for :func:`load_signer`) under ``folder``. Test keys only."""
    folder = Path(folder)
    write_trust_folder(folder / "trust", [pki.csca.certificate], [pki.crl])
    signer = folder / "signer"
    signer.mkdir(parents=True, exist_ok=True)
    (signer / "ds.pem").write_bytes(pki.ds.certificate.public_bytes(serialization.Encoding.PEM))
    key = pki.ds.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_file = signer / "ds.key"
    key_file.touch(mode=0o600)
    key_file.write_bytes(key)
    (signer / "algorithm").write_text(pki.ds.algorithm + "\n")
    return folder


def load_signer(folder: Path) -> Signer:
    """The document signer written by :func:`write_pki` (``signer/`` or the folder itself)."""
    folder = Path(folder)
    if (folder / "signer").is_dir():
        folder = folder / "signer"
    try:
        certificate = x509.load_pem_x509_certificate((folder / "ds.pem").read_bytes())
        key = serialization.load_pem_private_key((folder / "ds.key").read_bytes(), password=None)
        algorithm = (folder / "algorithm").read_text().strip()
    except OSError as exc:
        raise ValueError(f"{folder} holds no document signer (ds.pem, ds.key, algorithm): {exc}") from exc
    if algorithm not in ALGORITHMS or not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{folder}: unsupported signer algorithm {algorithm!r}")
    return Signer(certificate, key, algorithm)


# NIST P-256 domain parameters (FIPS 186-4, D.1.2.3), for certificates with explicit EC parameters.
_P256_PRIME = int("FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF", 16)
_P256_B = int("5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B", 16)
_P256_ORDER = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)


def with_explicit_ec_parameters(subject: Signer, issuer: Signer | None = None) -> Signer:
    """``subject`` with its certificate re-encoded to carry explicit P-256 domain parameters instead of the
    curve's name (as many eMRTD PKIs do), re-signed by ``issuer`` (default: itself, for a CSCA)."""
    if not isinstance(subject.key, ec.EllipticCurvePrivateKey) or subject.key.curve.name != "secp256r1":
        raise ValueError("explicit parameters are only produced for P-256 keys")
    issuer = issuer or subject
    generator = ec.derive_private_key(1, ec.SECP256R1()).public_key()
    point = subject.key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    domain = {
        "version": "ecdpVer1",
        "field_id": {"field_type": "prime_field", "parameters": _P256_PRIME},
        "curve": {
            "a": (_P256_PRIME - 3).to_bytes(32, "big"),
            "b": _P256_B.to_bytes(32, "big"),
        },
        "base": generator.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        ),
        "order": _P256_ORDER,
        "cofactor": 1,
    }
    spki = asn1_keys.PublicKeyInfo(
        {"algorithm": {"algorithm": "ec", "parameters": ("specified", domain)}, "public_key": point}
    )
    original = asn1_x509.Certificate.load(subject.certificate.public_bytes(serialization.Encoding.DER))
    tbs = original["tbs_certificate"]
    tbs["subject_public_key_info"] = spki
    signature = _sign(issuer, tbs.dump(force=True), "sha256")
    certificate = asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": original["signature_algorithm"],
            "signature_value": signature,
        }
    )
    return Signer(x509.load_der_x509_certificate(certificate.dump()), subject.key, subject.algorithm)
