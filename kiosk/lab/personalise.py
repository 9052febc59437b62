"""Personalisation for tests and demos: a throw-away PKI (CSCA, document signer, CRL, master list) and the
chip files of a document (EF.COM, DG1, DG2, DG14, DG15, EF.SOD), valid or tampered in a named way.

Everything here is real cryptography (``cryptography`` keys, or pure-Python ECDSA on the curves it lacks;
certificates, CRLs and CMS built with ``asn1crypto`` so that every encoding states use can be reproduced:
explicit EC parameters with or without seed, compressed points, NULL or absent algorithm parameters); the
keys are generated on the spot and never meant for production."""

from __future__ import annotations

import hashlib
import io
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from asn1crypto import algos, cms, core, pem
from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from PIL import Image

from kiosk.documents.chip.biometric import ISO_19794_5, encode_dg2
from kiosk.documents.chip.chip_auth import CA_ECDH_3DES, CA_PREFIX, PK_DH, PK_ECDH
from kiosk.documents.chip.curves import Curve, named_curve
from kiosk.documents.chip.dh import DhGroup, dh_public_key_info
from kiosk.documents.chip.keys import CRYPTOGRAPHY_CURVES
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


@dataclass(frozen=True)
class EcKey:
    """A test EC private key on any prime curve (pure Python), for the curves ``cryptography`` lacks."""

    curve: Curve
    private: int

    @classmethod
    def generate(cls, curve: Curve) -> EcKey:
        return cls(curve, secrets.randbelow(curve.n - 1) + 1)

    def public_point(self) -> tuple[int, int]:
        return self.curve.public_point(self.private)


PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | EcKey


@dataclass(frozen=True)
class Signer:
    der: bytes  # the certificate, as encoded
    key: PrivateKey
    algorithm: str  # one of ALGORITHMS

    @property
    def certificate(self) -> x509.Certificate:
        """The certificate as ``cryptography`` reads it (which refuses some encodings states use, e.g.
        ecdsa-with-SHA384 with NULL parameters: use ``der`` for those)."""
        return x509.load_der_x509_certificate(self.der)


@dataclass(frozen=True)
class Pki:
    csca: Signer
    ds: Signer
    crl: bytes  # DER


@dataclass(frozen=True)
class CertificateEncoding:
    """How a test certificate is written, to reproduce what issuing states do."""

    explicit: bool = False  # EC domain parameters spelled out instead of the curve's name
    seed: bytes | None = None  # with ``explicit``: the curve seed (Russian certificates carry P-256's)
    compressed: bool = False  # EC points (key and base point) compressed
    hash_algorithm: str = "sha256"  # of the issuer's signature
    parameters: str = "standard"  # signature AlgorithmIdentifier parameters: "standard", "null" or "absent"


P256_SEED = bytes.fromhex("C49D360886E704936A6678E1139D26B7819F7E90")  # FIPS 186-4 D.1.2.3
PARAMETER_STYLES = ("standard", "null", "absent")


def _new_key(algorithm: str, curve: str | Curve = "secp256r1") -> PrivateKey:
    """A key; EC keys on a named curve (by name) or on any ``Curve`` (pure Python where ``cryptography``
    lacks it)."""
    if algorithm in ("ecdsa", "ecdsa-plain"):
        curve = named_curve(curve) if isinstance(curve, str) else curve
        curve_class = CRYPTOGRAPHY_CURVES.get(curve.name or "")
        return ec.generate_private_key(curve_class()) if curve_class else EcKey.generate(curve)
    if algorithm in ("rsa", "rsa-pss"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown algorithm {algorithm!r}; expected one of {', '.join(ALGORITHMS)}")


def _public_key_info(key: PrivateKey, encoding: CertificateEncoding) -> asn1_keys.PublicKeyInfo:
    if isinstance(key, rsa.RSAPrivateKey):
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return asn1_keys.PublicKeyInfo.load(spki)
    if isinstance(key, EcKey):
        curve, point = key.curve, key.public_point()
    else:
        numbers = key.public_key().public_numbers()
        curve, point = named_curve(key.curve.name), (numbers.x, numbers.y)
    if encoding.explicit:
        shape = {"a": curve.a.to_bytes(curve.size, "big"), "b": curve.b.to_bytes(curve.size, "big")}
        if encoding.seed is not None:
            shape["seed"] = encoding.seed
        domain = {
            "version": "ecdpVer1",
            "field_id": {"field_type": "prime_field", "parameters": curve.p},
            "curve": shape,
            "base": curve.encode_point((curve.gx, curve.gy), compressed=encoding.compressed),
            "order": curve.n,
            "cofactor": curve.h,
        }
        parameters = ("specified", domain)
    elif curve.name is not None:
        parameters = ("named", curve.name.lower())
    else:
        raise ValueError("a curve without a name can only be written with explicit parameters")
    return asn1_keys.PublicKeyInfo(
        {
            "algorithm": {"algorithm": "ec", "parameters": parameters},
            "public_key": curve.encode_point(point, compressed=encoding.compressed),
        }
    )


def _name(country: str, common_name: str) -> asn1_x509.Name:
    return asn1_x509.Name.build(
        {"country_name": country, "organization_name": "Test Passport Authority", "common_name": common_name}
    )


def _algorithm_identifier(signer: Signer, encoding: CertificateEncoding) -> algos.SignedDigestAlgorithm:
    algorithm = signer.algorithm
    algorithm = "ecdsa" if algorithm == "ecdsa-plain" else algorithm  # certificates use X9.62 signatures
    identifier = algos.SignedDigestAlgorithm(_signature_algorithm(algorithm, encoding.hash_algorithm))
    if encoding.parameters == "null" and algorithm != "rsa-pss":
        identifier["parameters"] = core.Null()
    elif encoding.parameters == "absent" and algorithm != "rsa-pss":
        identifier = algos.SignedDigestAlgorithm.load(encode_tlv(0x30, identifier["algorithm"].dump()))
    elif encoding.parameters not in PARAMETER_STYLES:
        raise ValueError(f"unknown parameter style {encoding.parameters!r}")
    return identifier


def _certificate(
    subject: asn1_x509.Name,
    key: PrivateKey,
    issuer: Signer | None,
    algorithm: str,
    extensions: list[dict],
    start: datetime,
    validity: timedelta,
    encoding: CertificateEncoding,
) -> Signer:
    """A certificate for ``key`` signed by ``issuer`` (or self-signed), written as ``encoding`` says."""
    spki = _public_key_info(key, encoding)
    key_id = hashlib.sha1(spki["public_key"].contents[1:]).digest()  # RFC 5280 4.2.1.2 method 1
    signing = issuer or Signer(b"", key, algorithm)
    issuer_name = subject if issuer is None else _certificate_of(issuer)["tbs_certificate"]["subject"]
    authority = key_id if issuer is None else _certificate_of(issuer).key_identifier
    identifier = _algorithm_identifier(signing, encoding)
    extensions = [
        *extensions,
        {"extn_id": "key_identifier", "critical": False, "extn_value": key_id},
        {
            "extn_id": "authority_key_identifier",
            "critical": False,
            "extn_value": {"key_identifier": authority},
        },
    ]
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": x509.random_serial_number(),
            "signature": identifier,
            "issuer": issuer_name,
            "validity": {
                "not_before": asn1_x509.Time(name="utc_time", value=start.replace(microsecond=0)),
                "not_after": asn1_x509.Time(name="utc_time", value=(start + validity).replace(microsecond=0)),
            },
            "subject": subject,
            "subject_public_key_info": spki,
            "extensions": extensions,
        }
    )
    signature = _sign(signing, tbs.dump(), encoding.hash_algorithm)
    certificate = asn1_x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": identifier, "signature_value": signature}
    )
    return Signer(certificate.dump(), key, algorithm)


def _certificate_of(signer: Signer) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(signer.der)


def create_csca(
    country: str = "UT",
    *,
    algorithm: str = "ecdsa",
    curve: str | Curve = "secp256r1",
    encoding: CertificateEncoding | None = None,
    common_name: str = "Test CSCA",
    not_before: datetime | None = None,
    validity: timedelta = timedelta(days=365 * 15),
) -> Signer:
    """A self-signed Country Signing CA (EC keys on ``curve``, a name of :data:`curves.NAMED_CURVES`)."""
    key = _new_key(algorithm, curve)
    extensions = [
        {
            "extn_id": "basic_constraints",
            "critical": True,
            "extn_value": {"ca": True, "path_len_constraint": 0},
        },
        {"extn_id": "key_usage", "critical": True, "extn_value": {"key_cert_sign", "crl_sign"}},
    ]
    start = not_before or datetime.now(UTC) - timedelta(days=30)
    name = _name(country, common_name)
    return _certificate(
        name, key, None, algorithm, extensions, start, validity, encoding or CertificateEncoding()
    )


def create_document_signer(
    csca: Signer,
    *,
    algorithm: str | None = None,
    curve: str | Curve | None = None,
    encoding: CertificateEncoding | None = None,
    common_name: str = "Test Document Signer",
    not_before: datetime | None = None,
    validity: timedelta = timedelta(days=365 * 11),
) -> Signer:
    """A document signer certificate issued by ``csca`` (same algorithm and curve unless given)."""
    algorithm = algorithm or csca.algorithm
    key = _new_key(algorithm, curve or _curve_of(csca.key))
    start = not_before or datetime.now(UTC) - timedelta(days=10)
    subject_of_csca = _certificate_of(csca)["tbs_certificate"]["subject"]
    country = subject_of_csca.native.get("country_name", "UT")
    extensions = [{"extn_id": "key_usage", "critical": True, "extn_value": {"digital_signature"}}]
    name = _name(country, common_name)
    return _certificate(
        name, key, csca, algorithm, extensions, start, validity, encoding or CertificateEncoding()
    )


def _curve_of(key: PrivateKey) -> Curve:
    if isinstance(key, EcKey):
        return key.curve
    return named_curve(key.curve.name if isinstance(key, ec.EllipticCurvePrivateKey) else "secp256r1")


def create_crl(
    issuer: Signer,
    *,
    revoked: Iterable[Signer | x509.Certificate] = (),
    issuer_name: asn1_x509.Name | x509.Name | None = None,
    last_update: datetime | None = None,
    next_update: datetime | None = None,
    encoding: CertificateEncoding | None = None,
) -> bytes:
    """A DER CRL signed by ``issuer`` revoking ``revoked``; ``issuer_name`` overrides the name it claims."""
    encoding = encoding or CertificateEncoding()
    now = datetime.now(UTC)
    last = (last_update or now - timedelta(days=1)).replace(microsecond=0)
    if isinstance(issuer_name, x509.Name):
        issuer_name = asn1_x509.Name.load(issuer_name.public_bytes())
    identifier = _algorithm_identifier(issuer, encoding)
    serials = [
        r.serial_number if isinstance(r, x509.Certificate) else _certificate_of(r).serial_number
        for r in revoked
    ]
    tbs = asn1_crl.TbsCertList(
        {
            "version": "v2",
            "signature": identifier,
            "issuer": issuer_name or _certificate_of(issuer)["tbs_certificate"]["subject"],
            "this_update": asn1_x509.Time(name="utc_time", value=last),
            "next_update": asn1_x509.Time(
                name="utc_time", value=(next_update or last + timedelta(days=90)).replace(microsecond=0)
            ),
            "revoked_certificates": [
                {"user_certificate": serial, "revocation_date": asn1_x509.Time(name="utc_time", value=last)}
                for serial in serials
            ],
            "crl_extensions": [
                {
                    "extn_id": "authority_key_identifier",
                    "critical": False,
                    "extn_value": {"key_identifier": _certificate_of(issuer).key_identifier},
                },
                {"extn_id": "crl_number", "critical": False, "extn_value": 1},
            ],
        }
    )
    signature = _sign(issuer, tbs.dump(), encoding.hash_algorithm)
    return asn1_crl.CertificateList(
        {"tbs_cert_list": tbs, "signature_algorithm": identifier, "signature": signature}
    ).dump()


def create_pki(country: str = "UT", *, algorithm: str = "ecdsa", curve: str = "secp256r1") -> Pki:
    """A CSCA, a document signer it issued and its (empty) CRL."""
    csca = create_csca(country, algorithm=algorithm, curve=curve)
    ds = create_document_signer(csca)
    return Pki(csca, ds, create_crl(csca))


def _der(item: x509.Certificate | x509.CertificateRevocationList | Signer | bytes) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, Signer):
        return item.der
    return item.public_bytes(serialization.Encoding.DER)


def write_trust_folder(
    folder: Path,
    cscas: Iterable[x509.Certificate | Signer | bytes],
    crls: Iterable[x509.CertificateRevocationList | bytes] = (),
) -> Path:
    """CSCA certificates (``csca-N.cer``, DER) and CRLs (``csca-N.crl``) in the layout TrustStore reads."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, certificate in enumerate(cscas):
        (folder / f"csca-{i}.cer").write_bytes(_der(certificate))
    for i, crl in enumerate(crls):
        (folder / f"csca-{i}.crl").write_bytes(_der(crl))
    return folder


def _signature_algorithm(algorithm: str, hash_algorithm: str) -> dict:
    if algorithm == "rsa-pss":
        return {
            "algorithm": "rsassa_pss",
            "parameters": {
                "hash_algorithm": {"algorithm": hash_algorithm},
                "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": hash_algorithm}},
                "salt_length": HASHES[hash_algorithm].digest_size,
                "trailer_field": "trailer_field_bc",
            },
        }
    if algorithm == "ecdsa-plain":
        return {"algorithm": _ECDSA_PLAIN_OIDS[hash_algorithm]}
    suffix = "ecdsa" if algorithm == "ecdsa" else "rsa"
    return {"algorithm": f"{hash_algorithm}_{suffix}"}


def _sign(signer: Signer, data: bytes, hash_algorithm: str) -> bytes:
    """A DER (X9.62) ECDSA or an RSA signature of ``data`` by the signer's key."""
    hash_ = HASHES[hash_algorithm]()
    key = signer.key
    if isinstance(key, EcKey):
        return encode_dss_signature(*key.curve.sign(key.private, digest(hash_algorithm, data)))
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hash_))
    if signer.algorithm == "rsa-pss":
        pad = padding.PSS(mgf=padding.MGF1(HASHES[hash_algorithm]()), salt_length=hash_.digest_size)
        return key.sign(data, pad, hash_)
    return key.sign(data, padding.PKCS1v15(), hash_)


def sign_cms(
    econtent: bytes,
    content_type: str,
    signer: Signer,
    hash_algorithm: str = "sha256",
    *,
    sid_issuer: asn1_x509.Name | None = None,
) -> bytes:
    """CMS ContentInfo(SignedData) over ``econtent``, with signed attributes and the signer certificate.
    ``sid_issuer``: the issuer name the signer info gives (default: the certificate's, as encoded)."""
    cert = asn1_x509.Certificate.load(signer.der)
    signed_attrs = cms.CMSAttributes(
        [
            {"type": "content_type", "values": [content_type]},
            {"type": "message_digest", "values": [digest(hash_algorithm, econtent)]},
        ]
    )
    signature = _sign(signer, signed_attrs.dump(), hash_algorithm)
    if signer.algorithm == "ecdsa-plain":
        r, s = decode_dss_signature(signature)
        size = _curve_of(signer.key).order_size
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    signer_info = {
        "version": "v1",
        "sid": {
            "issuer_and_serial_number": {
                "issuer": sid_issuer or cert["tbs_certificate"]["issuer"],
                "serial_number": cert["tbs_certificate"]["serial_number"],
            }
        },
        "digest_algorithm": {"algorithm": hash_algorithm},
        "signed_attrs": signed_attrs,
        "signature_algorithm": _signature_algorithm(signer.algorithm, hash_algorithm),
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


def create_master_list(cscas: Sequence[x509.Certificate | Signer | bytes], signer: Signer) -> bytes:
    """An ICAO CSCA master list (CMS SignedData) listing ``cscas`` (any DER, even malformed, as real lists
    carry a few), signed by ``signer``."""
    econtent = CscaMasterList({"version": 0, "cert_list": [core.Any.load(_der(c)) for c in cscas]}).dump()
    return sign_cms(econtent, MASTER_LIST_OID, signer)


def create_deviation_list(
    deviations: Sequence[tuple[dict, Sequence[tuple[str, int | None, str]]]], signer: Signer
) -> bytes:
    """An ICAO deviation list (CMS SignedData) signed by ``signer``: each deviation is (documents, [(type
    OID, Datagroup parameter or None, description)]), documents a dict of the DeviationDocuments fields
    (``dsc_identifier`` as {"issuer_and_serial_number": {...}} or {"subject_key_identifier": bytes};
    ``document_numbers`` a list)."""
    from kiosk.documents.chip.deviation_list import DEVIATION_LIST_OID, DeviationListContent

    content = {
        "version": 0,
        "deviations": [
            {
                "documents": documents,
                "descriptions": [
                    {"description": text, "deviation_type": oid}
                    | ({} if group is None else {"parameters": core.Integer(group, explicit=0)})
                    for oid, group, text in descriptions
                ],
            }
            for documents, descriptions in deviations
        ],
    }
    return sign_cms(DeviationListContent(content).dump(), DEVIATION_LIST_OID, signer)


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


def active_authentication_infos(
    hash_algorithm: str = "sha256", ca_public_key_info: bytes | None = None, ca_protocol: str = CA_ECDH_3DES
) -> bytes:
    """SecurityInfos: an ActiveAuthenticationInfo (protocol, version 1, ecdsa-plain-<hash>) and, with
    ``ca_public_key_info`` (DER SubjectPublicKeyInfo of an EC or DH key), Chip Authentication with the
    ``ca_protocol`` variant (ECDH or DH, 3DES or AES)."""
    info = core.ObjectIdentifier(_AA_PROTOCOL).dump() + core.Integer(1).dump()
    info += core.ObjectIdentifier(_ECDSA_PLAIN_OIDS[hash_algorithm]).dump()
    infos = [encode_tlv(0x30, info)]
    if ca_public_key_info is not None:
        key_protocol = PK_DH if ca_protocol.startswith(CA_PREFIX + "1.") else PK_ECDH
        infos.append(encode_tlv(0x30, core.ObjectIdentifier(key_protocol).dump() + ca_public_key_info))
        infos.append(encode_tlv(0x30, core.ObjectIdentifier(ca_protocol).dump() + core.Integer(1).dump()))
    return encode_tlv(0x31, b"".join(sorted(infos)))  # DER orders a SET OF by encoding


def _ca_public_key_info(
    key: ec.EllipticCurvePrivateKey | EcKey | tuple[DhGroup, int] | None,
) -> bytes | None:
    if key is None:
        return None
    if isinstance(key, tuple):  # a DH group and private exponent
        group, private = key
        return dh_public_key_info(group, group.public_point(private))
    return _public_key_info(key, CertificateEncoding(explicit=True)).dump()  # as German chips: explicit


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
    content_type: str = LDS_SECURITY_OBJECT_OID,
    sid_issuer: asn1_x509.Name | None = None,
    aa_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
    aa_hash_algorithm: str = "sha256",
    ca_key: ec.EllipticCurvePrivateKey | EcKey | tuple[DhGroup, int] | None = None,
    ca_protocol: str = CA_ECDH_3DES,
) -> dict[str, bytes]:
    """The chip files of a document: EF.COM, DG1 (``mrz_lines``), DG2 (the portrait), DG14, DG15 and EF.SOD
    signed by ``ds``; ``tamper`` (one of TAMPERS) spoils them in that named way. ``content_type`` and
    ``sid_issuer`` reproduce SODs of states that carry the LDS security object as id-data or name the
    signer's issuer otherwise than its certificate does. ``aa_key``: the Active Authentication key whose
    public half DG15 holds (default: a throw-away P-256 key); DG14 names ``aa_hash_algorithm`` for ECDSA.
    ``ca_key``: the Chip Authentication key whose public half DG14 offers, for ``ca_protocol`` (ECDH with
    3DES or AES; a (DH group, private exponent) pair for the id-CA-DH-* protocols)."""
    if tamper is not None and tamper not in TAMPERS:
        raise ValueError(f"unknown tamper {tamper!r}; expected one of {', '.join(TAMPERS)}")
    image = encode_portrait(portrait_bgr, image_format)
    height, width = portrait_bgr.shape[:2]
    dg2 = encode_dg2(image, width, height, container)
    if tamper == "dg2_container":
        dg2 = _spoil_face_container(dg2)
    aa_public = (aa_key or ec.generate_private_key(ec.SECP256R1())).public_key()
    groups = {
        1: encode_dg1(tuple(mrz_lines)),
        2: dg2,
        14: encode_dg14(
            active_authentication_infos(aa_hash_algorithm, _ca_public_key_info(ca_key), ca_protocol)
        ),
        15: encode_dg15(
            aa_public.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ),
    }
    hashes_ = {n: digest(hash_algorithm, data) for n, data in groups.items()}
    if tamper == "sod_missing_dg2":
        del hashes_[2]
    econtent = encode_lds_security_object(hash_algorithm, hashes_, "0108")
    sod = wrap_sod(sign_cms(econtent, content_type, ds, hash_algorithm, sid_issuer=sid_issuer))
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
    (signer / "ds.pem").write_bytes(pem.armor("CERTIFICATE", pki.ds.der))
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
        _, _, certificate = pem.unarmor((folder / "ds.pem").read_bytes())
        key = serialization.load_pem_private_key((folder / "ds.key").read_bytes(), password=None)
        algorithm = (folder / "algorithm").read_text().strip()
    except OSError as exc:
        raise ValueError(f"{folder} holds no document signer (ds.pem, ds.key, algorithm): {exc}") from exc
    if algorithm not in ALGORITHMS or not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{folder}: unsupported signer algorithm {algorithm!r}")
    return Signer(certificate, key, algorithm)
