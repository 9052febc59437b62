from __future__ import annotations

import pytest

from kiosk.documents.chip.lds import (
    encode_dg1,
    encode_dg14,
    encode_dg15,
    encode_ef_com,
    parse_dg1_lines,
    parse_dg14,
    parse_dg15,
    parse_ef_com,
)
from kiosk.documents.chip.tlv import TlvError, encode_tlv

TD1 = ("I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<")
TD2 = ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6")


def test_ef_com_round_trip() -> None:
    com = parse_ef_com(encode_ef_com((1, 2, 14, 15)))
    assert com.lds_version == "0107" and com.unicode_version == "040000"
    assert com.data_groups == (1, 2, 14, 15)


def test_ef_com_refuses_unknown_tags_and_missing_list() -> None:
    with pytest.raises(TlvError, match="unknown data group"):
        parse_ef_com(encode_tlv(0x60, encode_tlv(0x5C, b"\x61\x99")))
    with pytest.raises(TlvError, match="no tag list"):
        parse_ef_com(encode_tlv(0x60, encode_tlv(0x5F01, b"0107")))


@pytest.mark.parametrize("lines", [TD1, TD2], ids=["TD1", "TD2"])
def test_dg1_splits_the_mrz_by_format(lines: tuple[str, ...]) -> None:
    assert parse_dg1_lines(encode_dg1(lines)) == lines


def test_dg1_td3(mrz_lines: tuple[str, ...]) -> None:
    assert parse_dg1_lines(encode_dg1(mrz_lines)) == mrz_lines


@pytest.mark.parametrize(
    "data",
    [
        encode_tlv(0x61, encode_tlv(0x5F1F, b"P<UTO")),  # wrong length
        encode_tlv(0x61, encode_tlv(0x5F1F, b"\xff" * 88)),  # not ASCII
        encode_tlv(0x61, encode_tlv(0x5F1E, b"<" * 88)),  # wrong inner tag
        encode_tlv(0x75, encode_tlv(0x5F1F, b"<" * 88)),  # not DG1
    ],
)
def test_dg1_malformed(data: bytes) -> None:
    with pytest.raises(TlvError):
        parse_dg1_lines(data)


def test_dg14_and_dg15() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from kiosk.lab.personalise import active_authentication_infos

    assert parse_dg14(encode_dg14(active_authentication_infos())) == ("2.23.136.1.1.5",)
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert parse_dg15(encode_dg15(spki)) == "ec"
    with pytest.raises(TlvError):
        parse_dg14(encode_dg14(b"\x31\x03\x02\x01\x01"))
    with pytest.raises(TlvError):
        parse_dg15(encode_dg15(b"\x30\x03\x02\x01\x01"))
