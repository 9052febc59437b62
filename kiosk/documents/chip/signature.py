"""Signature verification for CMS SignedData (EF.SOD, master lists), certificates and CRLs: RSA PKCS#1 v1.5,
RSA-PSS and ECDSA (X9.62 DER signatures and the BSI TR-03111 "plain" r||s format some issuing states use) on
the keys of :mod:`kiosk.documents.chip.keys` (any named or explicit prime curve)."""

from __future__ import annotations

import hashlib
import hmac

from asn1crypto import algos, cms, core
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kiosk.documents.chip.certificates import (
    Certificate,
    CertificateError,
    Crl,
    load_certificate,
    same_attributes_reordered,
    same_name,
)
from kiosk.documents.chip.keys import EcPublicKey, PublicKey, UnusableKey
from kiosk.documents.chip.tlv import encode_tlv

HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
ECDSA_PLAIN_OIDS = {  # BSI TR-03111 ecdsa-plain-SHA* (0.4.0.127.0.7.1.1.4.1.x)
    "0.4.0.127.0.7.1.1.4.1.1": "sha1",
    "0.4.0.127.0.7.1.1.4.1.2": "sha224",
    "0.4.0.127.0.7.1.1.4.1.3": "sha256",
    "0.4.0.127.0.7.1.1.4.1.4": "sha384",
    "0.4.0.127.0.7.1.1.4.1.5": "sha512",
}


class SignatureFailure(Exception):
    """Verification failed; the message says why (for the check's detail)."""


def digest(algorithm: str, data: bytes) -> bytes:
    if algorithm not in HASHES:
        raise SignatureFailure(f"hash algorithm {algorithm} is not supported")
    return hashlib.new(algorithm, data).digest()


def _pss_padding(params: object) -> tuple[padding.PSS, hashes.HashAlgorithm]:
    """RSASSA-PSS parameters; absent ones take the RFC 4055 defaults (SHA-1, MGF1-SHA-1, salt 20)."""
    if params is None or isinstance(params, core.Void | core.Null):
        params = algos.RSASSAPSSParams({})
    hash_name = params["hash_algorithm"]["algorithm"].native
    mgf = params["mask_gen_algorithm"]
    if mgf["algorithm"].native != "mgf1":
        raise SignatureFailure("RSA-PSS mask generation other than MGF1 is not supported")
    mgf_hash = mgf["parameters"]["algorithm"].native
    if hash_name not in HASHES or mgf_hash not in HASHES:
        raise SignatureFailure("RSA-PSS hash is not supported")
    salt = params["salt_length"].native
    pad = padding.PSS(mgf=padding.MGF1(HASHES[mgf_hash]()), salt_length=salt)
    return pad, HASHES[hash_name]()


def verify_signer_info(
    signer: cms.SignerInfo, econtent: bytes, content_type: str, public_key: PublicKey
) -> None:
    """Verify one SignerInfo over ``econtent``: signed attributes (content type, message digest) and the
    signature with ``public_key``. Raises SignatureFailure naming the first failed step."""
    try:
        digest_name = signer["digest_algorithm"]["algorithm"].native
        attrs = signer["signed_attrs"]
        if not attrs.contents:
            raise SignatureFailure("the signer info has no signed attributes")
        values: dict[str, list] = {}
        for attr in attrs:
            values.setdefault(attr["type"].dotted, []).extend(attr["values"])
        content_types = values.get("1.2.840.113549.1.9.3", [])
        if len(content_types) != 1 or content_types[0].dotted != content_type:
            raise SignatureFailure("the signed content-type attribute is missing or wrong")
        digests = values.get("1.2.840.113549.1.9.4", [])
        if len(digests) != 1:
            raise SignatureFailure("the signed message-digest attribute is missing")
        if not hmac.compare_digest(digests[0].native, digest(digest_name, econtent)):
            raise SignatureFailure("the signed message digest does not match the content")
        signed_bytes = encode_tlv(0x31, attrs.contents)  # signature covers the attributes as a SET OF
        signature = signer["signature"].native
        algorithm = signer["signature_algorithm"]
        oid = algorithm["algorithm"].dotted
        name = algorithm["algorithm"].native
    except SignatureFailure:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise SignatureFailure(f"malformed signer info: {exc}") from exc
    verify_signature(public_key, signature, signed_bytes, oid, name, digest_name, algorithm["parameters"])


def verify_signature(
    public_key: PublicKey,
    signature: bytes,
    data: bytes,
    oid: str,
    name: str,
    digest_name: str,
    parameters: object = None,
) -> None:
    """Verify ``signature`` over ``data`` for the signature algorithm ``oid``/``name`` (asn1crypto's name;
    ``digest_name`` for the algorithms that do not name their hash). Parameters other than RSA-PSS's are
    ignored, so NULL and absent ones are both accepted."""
    try:
        if name == "rsassa_pss":
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise SignatureFailure("RSA-PSS signature but the signer key is not RSA")
            pad, hash_algorithm = _pss_padding(parameters)
            public_key.verify(signature, data, pad, hash_algorithm)
        elif name.endswith("_rsa") or name == "rsassa_pkcs1v15":
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise SignatureFailure("RSA signature but the signer key is not RSA")
            hash_name = digest_name if name == "rsassa_pkcs1v15" else name.removesuffix("_rsa")
            public_key.verify(signature, data, padding.PKCS1v15(), _hash(hash_name))
        elif name.endswith("_ecdsa") or name == "ecdsa" or oid in ECDSA_PLAIN_OIDS:
            if not isinstance(public_key, EcPublicKey):
                raise SignatureFailure("ECDSA signature but the signer key is not EC")
            if oid in ECDSA_PLAIN_OIDS:
                hash_name = ECDSA_PLAIN_OIDS[oid]
                half = len(signature) // 2
                if not signature or len(signature) % 2:
                    raise SignatureFailure("plain ECDSA signature has an odd length")
                r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
            else:
                hash_name = digest_name if name == "ecdsa" else name.removesuffix("_ecdsa")
                values = algos.DSASignature.load(signature, strict=True).native
                r, s = values["r"], values["s"]
            _hash(hash_name)
            if not public_key.verify(r, s, data, hash_name):
                raise InvalidSignature
        else:
            raise SignatureFailure(f"signature algorithm {name} ({oid}) is not supported")
    except InvalidSignature as exc:
        raise SignatureFailure("the signature does not verify with the signer's public key") from exc
    except (UnsupportedAlgorithm, ValueError, TypeError, KeyError, IndexError) as exc:
        raise SignatureFailure(f"the signature cannot be verified: {exc}") from exc


def _hash(name: str) -> hashes.HashAlgorithm:
    if name not in HASHES:
        raise SignatureFailure(f"hash algorithm {name} is not supported")
    return HASHES[name]()


def find_signer_certificate(signed_data: cms.SignedData, signer: cms.SignerInfo) -> tuple[Certificate, bool]:
    """The certificate in ``signed_data`` that the signer info identifies (issuer and serial number, or
    subject key identifier), and whether it was only found with the issuer's name attributes reordered
    (a deviation some states' SODs have: :func:`same_attributes_reordered`)."""
    try:
        sid = signer["sid"]
        candidates = []
        for choice in signed_data["certificates"] or []:
            if choice.name == "certificate":
                candidates.append(load_certificate(choice.chosen.dump()))
        if sid.name == "issuer_and_serial_number":
            serial = sid.chosen["serial_number"].native
            issuer = sid.chosen["issuer"]
            same_serial = [c for c in candidates if c.serial_number == serial]
            for candidate in same_serial:
                if same_name(candidate.issuer, issuer):
                    return candidate, False
            for candidate in same_serial:
                if same_attributes_reordered(candidate.issuer, issuer):
                    return candidate, True
        else:
            for candidate in candidates:
                if candidate.subject_key_id is not None and candidate.subject_key_id == sid.chosen.native:
                    return candidate, False
    except CertificateError as exc:
        raise SignatureFailure(f"malformed signer certificate: {exc}") from exc
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise SignatureFailure(f"malformed signer certificate: {exc}") from exc
    raise SignatureFailure("the signer's certificate is not in the signed data")


class SignedListError(ValueError):
    """A signed ICAO list (master list, deviation list) whose CMS structure is not what it should be."""


def open_signed_list(data: bytes, content_oid: str, what: str) -> tuple[bytes, Certificate]:
    """The encapsulated content of a signed ICAO list and its signer's certificate, once the CMS signature
    verifies with that certificate. SignedListError for a wrong structure (not SignedData, another content
    type, not exactly one signer), SignatureFailure for a signature that does not verify; asn1crypto's
    parse errors pass through. Whether a trusted CSCA issued the signer is the caller's to check."""
    info = cms.ContentInfo.load(data, strict=True)
    if info["content_type"].native != "signed_data":
        raise SignedListError("not CMS SignedData")
    signed = info["content"]
    encap = signed["encap_content_info"]
    if encap["content_type"].dotted != content_oid:
        raise SignedListError(f"not an {what}")
    econtent = encap["content"].contents
    signers = signed["signer_infos"]
    if len(signers) != 1:
        raise SignedListError(f"{len(signers)} signer infos, expected 1")
    signer, _ = find_signer_certificate(signed, signers[0])
    verify_signer_info(signers[0], econtent, content_oid, signer.public_key())
    return econtent, signer


def issued_by(certificate: Certificate | Crl, issuer: Certificate) -> bool:
    """True when ``issuer``'s name is the certificate's (or CRL's) issuer under RFC 5280 comparison and its
    key verifies the signature."""
    if not same_name(certificate.issuer, issuer.subject):
        return False
    algorithm = certificate.signature_algorithm
    try:
        key = issuer.public_key()
        verify_signature(
            key,
            certificate.signature,
            certificate.tbs,
            algorithm["algorithm"].dotted,
            algorithm["algorithm"].native,
            "",
            algorithm["parameters"],
        )
    except (SignatureFailure, UnusableKey):
        return False
    return True
