"""The eMRTD logical data structure (ICAO Doc 9303 part 10): EF.COM, DG1 (MRZ), DG14 and DG15.

DG2 (the face) is in :mod:`kiosk.documents.chip.biometric`, EF.SOD in :mod:`kiosk.documents.chip.sod`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from asn1crypto import core, keys

from kiosk.documents.chip.tlv import TlvError, encode_tlv, read_single

# Data group number -> tag of its file (ICAO 9303-10, table 34).
DG_TAGS: dict[int, int] = {
    1: 0x61,
    2: 0x75,
    3: 0x63,
    4: 0x76,
    5: 0x65,
    6: 0x66,
    7: 0x67,
    8: 0x68,
    9: 0x69,
    10: 0x6A,
    11: 0x6B,
    12: 0x6C,
    13: 0x6D,
    14: 0x6E,
    15: 0x6F,
    16: 0x70,
}
TAG_TO_DG: dict[int, int] = {tag: number for number, tag in DG_TAGS.items()}
EF_COM_TAG = 0x60
EMRTD_AID = bytes.fromhex("A0000002471001")  # the eMRTD application (LDS1)
FILE_IDS = {"EF.COM": 0x011E, "EF.SOD": 0x011D, **{f"DG{n}": 0x0100 + n for n in range(1, 17)}}
EF_SOD_TAG = 0x77

# MRZ length -> characters per line, for the MRZ stored as one string in DG1.
_MRZ_LINE_LENGTHS = {90: 30, 72: 36, 88: 44}


@dataclass(frozen=True)
class EfCom:
    lds_version: str  # e.g. "0107" for LDS 1.7
    unicode_version: str  # e.g. "040000"
    data_groups: tuple[int, ...]  # data group numbers the chip declares


def parse_ef_com(data: bytes) -> EfCom:
    """Parse EF.COM; TlvError on malformed content."""
    com = read_single(data, EF_COM_TAG)
    lds_version = unicode_version = ""
    tag_list: bytes | None = None
    for item in com.children():
        if item.tag == 0x5F01:
            lds_version = item.value.decode("ascii", "replace")
        elif item.tag == 0x5F36:
            unicode_version = item.value.decode("ascii", "replace")
        elif item.tag == 0x5C:
            tag_list = item.value
    if tag_list is None:
        raise TlvError("EF.COM has no tag list (5C)")
    unknown = [f"{tag:02X}" for tag in tag_list if tag not in TAG_TO_DG]
    if unknown:
        raise TlvError(f"EF.COM lists unknown data group tags {', '.join(unknown)}")
    return EfCom(lds_version, unicode_version, tuple(TAG_TO_DG[tag] for tag in tag_list))


def encode_ef_com(
    data_groups: tuple[int, ...], lds_version: str = "0107", unicode_version: str = "040000"
) -> bytes:
    body = (
        encode_tlv(0x5F01, lds_version.encode("ascii"))
        + encode_tlv(0x5F36, unicode_version.encode("ascii"))
        + encode_tlv(0x5C, bytes(DG_TAGS[n] for n in data_groups))
    )
    return encode_tlv(EF_COM_TAG, body)


def parse_dg1_lines(data: bytes) -> tuple[str, ...]:
    """The MRZ lines stored in DG1 (tag 61, MRZ in 5F1F as one string without line breaks)."""
    dg1 = read_single(data, DG_TAGS[1])
    mrz = dg1.child(0x5F1F).value
    try:
        text = mrz.decode("ascii")
    except UnicodeDecodeError as exc:
        raise TlvError("DG1 MRZ is not ASCII") from exc
    width = _MRZ_LINE_LENGTHS.get(len(text))
    if width is None:
        raise TlvError(f"DG1 MRZ has {len(text)} characters, expected 90 (TD1), 72 (TD2) or 88 (TD3)")
    return tuple(text[i : i + width] for i in range(0, len(text), width))


def encode_dg1(mrz_lines: tuple[str, ...] | list[str]) -> bytes:
    return encode_tlv(DG_TAGS[1], encode_tlv(0x5F1F, "".join(mrz_lines).encode("ascii")))


class _SecurityInfo(core.Sequence):
    _fields: ClassVar[list] = [
        ("protocol", core.ObjectIdentifier),
        ("required_data", core.Any),
        ("optional_data", core.Any, {"optional": True}),
    ]


class _SecurityInfos(core.SetOf):
    _child_spec = _SecurityInfo


def parse_dg14(data: bytes) -> tuple[str, ...]:
    """The protocol OIDs of DG14's SecurityInfos (chip authentication, PACE, ...)."""
    return tuple(protocol for protocol, _, _ in security_infos(data))


def security_infos(data: bytes) -> list[tuple[str, bytes, bytes | None]]:
    """DG14's SecurityInfos: (protocol OID, DER of requiredData, DER of optionalData or None) each."""
    return parse_security_infos(read_single(data, DG_TAGS[14]).value)


def parse_security_infos(der: bytes) -> list[tuple[str, bytes, bytes | None]]:
    """SecurityInfos (DG14, EF.CardAccess): (protocol OID, DER of requiredData, DER of optionalData)."""
    try:
        infos = _SecurityInfos.load(der, strict=True)
        return [
            (
                info["protocol"].dotted,
                info["required_data"].dump(),
                None if isinstance(info["optional_data"], core.Void) else info["optional_data"].dump(),
            )
            for info in infos
        ]
    except (ValueError, TypeError, KeyError) as exc:
        raise TlvError(f"SecurityInfos: {exc}") from exc


def encode_dg14(security_infos_der: bytes) -> bytes:
    return encode_tlv(DG_TAGS[14], security_infos_der)


def parse_dg15(data: bytes) -> str:
    """The algorithm of DG15's active-authentication public key ("rsa", "ec", ...)."""
    dg15 = read_single(data, DG_TAGS[15])
    try:
        info = keys.PublicKeyInfo.load(dg15.value, strict=True)
        return info.algorithm
    except (ValueError, TypeError, KeyError) as exc:
        raise TlvError(f"DG15 public key: {exc}") from exc


def encode_dg15(public_key_info_der: bytes) -> bytes:
    return encode_tlv(DG_TAGS[15], public_key_info_der)
