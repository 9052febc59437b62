"""EF.SOD, the document security object (ICAO Doc 9303 part 10 and 11): tag 77 around a CMS ``SignedData``
whose encapsulated content is an ``LDSSecurityObject`` (hash algorithm + one hash per data group)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from asn1crypto import algos, cms, core

from kiosk.documents.chip.certificates import Certificate
from kiosk.documents.chip.lds import EF_SOD_TAG
from kiosk.documents.chip.signature import HASHES, SignatureFailure, find_signer_certificate
from kiosk.documents.chip.tlv import TlvError, encode_tlv, read_single

LDS_SECURITY_OBJECT_OID = "2.23.136.1.1.1"
ID_DATA_OID = "1.2.840.113549.1.7.1"
# Deviations from Doc 9303 that other readers accept; each is reported as a named check the policy rules on.
DEVIATION_ID_DATA = "chip.sod.deviation.content_type_id_data"  # LDSSecurityObject carried as id-data
DEVIATION_NAME_ORDER = "chip.sod.deviation.signer_name_order"  # signer's issuer name in another RDN order
DEVIATIONS = {
    DEVIATION_ID_DATA: "the LDS security object is carried with content type id-data, not "
    "id-icao-mrtd-security-ldsSecurityObject",
    DEVIATION_NAME_ORDER: "the SOD names its signer's issuer with the name attributes in another order "
    "than the DS certificate",
}
DIGEST_SIZES = {"sha1": 20, "sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64}
_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)


class SodError(TlvError):
    """EF.SOD is malformed."""

    code = "CHIP_SOD_MALFORMED"


class DataGroupHash(core.Sequence):
    _fields: ClassVar[list] = [
        ("data_group_number", core.Integer),
        ("data_group_hash_value", core.OctetString),
    ]


class DataGroupHashValues(core.SequenceOf):
    _child_spec = DataGroupHash


class LdsVersionInfo(core.Sequence):
    _fields: ClassVar[list] = [
        ("lds_version", core.PrintableString),
        ("unicode_version", core.PrintableString),
    ]


class LdsSecurityObject(core.Sequence):
    _fields: ClassVar[list] = [
        ("version", core.Integer),
        ("hash_algorithm", algos.DigestAlgorithm),
        ("data_group_hash_values", DataGroupHashValues),
        ("lds_version_info", LdsVersionInfo, {"optional": True}),
    ]


@dataclass(frozen=True)
class SecurityObject:
    hash_algorithm: str  # "sha256", ...
    hashes: dict[int, bytes]  # data group number -> hash
    lds_version: str | None
    econtent: bytes  # the DER LDSSecurityObject the signature covers
    signer: cms.SignerInfo
    signer_certificate: Certificate | None  # the document signer certificate carried in the SOD
    signer_certificate_problem: str  # why it is None
    content_type: str = LDS_SECURITY_OBJECT_OID  # the encapsulated content type the signature must name
    deviations: frozenset[str] = frozenset()  # DEVIATIONS found (and tolerated) in this SOD


def parse_sod(data: bytes) -> SecurityObject:
    """Parse EF.SOD fully; SodError (a TlvError) for anything malformed, never another exception."""
    try:
        content = read_single(data, EF_SOD_TAG).value
    except TlvError as exc:
        raise SodError(f"EF.SOD: {exc}") from exc
    try:
        info = cms.ContentInfo.load(content, strict=True)
        if info["content_type"].native != "signed_data":
            raise SodError("EF.SOD does not hold CMS SignedData")
        signed = info["content"]
        encap = signed["encap_content_info"]
        content_type = encap["content_type"].dotted
        if content_type not in (LDS_SECURITY_OBJECT_OID, ID_DATA_OID):
            raise SodError("EF.SOD content is not an LDSSecurityObject")
        deviations = {DEVIATION_ID_DATA} if content_type == ID_DATA_OID else set()
        if encap["content"].native is None:
            raise SodError("EF.SOD has no encapsulated content")
        econtent = encap["content"].contents
        signers = signed["signer_infos"]
        if len(signers) != 1:
            raise SodError(f"EF.SOD has {len(signers)} signer infos, expected 1")
        signer = signers[0]
        signer.native  # noqa: B018  (force asn1crypto's lazy parsing now, so errors surface here)
        lso = LdsSecurityObject.load(econtent, strict=True)
        hash_algorithm = lso["hash_algorithm"]["algorithm"].native
        if hash_algorithm not in HASHES:
            raise SodError(f"EF.SOD hash algorithm {hash_algorithm} is not supported")
        hashes: dict[int, bytes] = {}
        for entry in lso["data_group_hash_values"]:
            number = entry["data_group_number"].native
            value = entry["data_group_hash_value"].native
            if not 1 <= number <= 16 or number in hashes:
                raise SodError(f"EF.SOD lists data group {number} twice or out of range")
            if len(value) != DIGEST_SIZES[hash_algorithm]:
                raise SodError(f"EF.SOD hash of DG{number} has the wrong length for {hash_algorithm}")
            hashes[number] = value
        version_info = lso["lds_version_info"]
        lds_version = None if isinstance(version_info, core.Void) else version_info["lds_version"].native
    except SodError:
        raise
    except _PARSE_ERRORS as exc:
        raise SodError(f"EF.SOD is malformed: {type(exc).__name__}") from exc
    try:
        certificate, reordered = find_signer_certificate(signed, signer)
        problem = ""
        if reordered:
            deviations.add(DEVIATION_NAME_ORDER)
    except SignatureFailure as exc:
        certificate, problem = None, str(exc)
    return SecurityObject(
        hash_algorithm,
        hashes,
        lds_version,
        econtent,
        signer,
        certificate,
        problem,
        content_type,
        frozenset(deviations),
    )


def encode_lds_security_object(
    hash_algorithm: str, hashes: dict[int, bytes], lds_version: str | None
) -> bytes:
    fields: dict[str, object] = {
        "version": 1 if lds_version else 0,
        "hash_algorithm": {"algorithm": hash_algorithm},
        "data_group_hash_values": [
            {"data_group_number": n, "data_group_hash_value": h} for n, h in sorted(hashes.items())
        ],
    }
    if lds_version:
        fields["lds_version_info"] = {"lds_version": lds_version, "unicode_version": "040000"}
    return LdsSecurityObject(fields).dump()


def wrap_sod(content_info_der: bytes) -> bytes:
    return encode_tlv(EF_SOD_TAG, content_info_der)
