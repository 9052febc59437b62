from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.documents.chip.tlv import TlvError, encode_tlv, iter_tlv, read_single, read_tlv


def test_round_trip_short_and_long_lengths() -> None:
    for tag, size in [(0x61, 0), (0x5F1F, 88), (0x7F61, 200), (0x75, 70_000)]:
        value = bytes(range(256)) * (size // 256) + bytes(size % 256)
        item = read_single(encode_tlv(tag, value), tag)
        assert item.tag == tag and item.value == value


def test_constructed_children() -> None:
    data = encode_tlv(0x60, encode_tlv(0x5F01, b"0107") + encode_tlv(0x5C, b"\x61\x75"))
    item = read_single(data, 0x60)
    assert item.constructed
    assert [c.tag for c in item.children()] == [0x5F01, 0x5C]
    assert item.child(0x5C).value == b"\x61\x75"
    with pytest.raises(TlvError):
        item.child(0x5F36)
    with pytest.raises(TlvError):
        item.child(0x5C).children()  # primitive


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x61",  # no length
        b"\x5f",  # truncated tag
        b"\x61\x05abc",  # value shorter than its length
        b"\x61\x82\x01",  # truncated long length
        b"\x61\x80abc\x00\x00",  # indefinite length
        b"\x61\x85\x01\x00\x00\x00\x00",  # 5-byte length
        b"\x5f\xff\xff\xff\x01\x00",  # tag too long
    ],
)
def test_malformed_is_refused(data: bytes) -> None:
    with pytest.raises(TlvError):
        read_tlv(data)


def test_read_single_refuses_wrong_tag_and_trailing_bytes() -> None:
    with pytest.raises(TlvError, match="expected tag 61"):
        read_single(encode_tlv(0x75, b""), 0x61)
    with pytest.raises(TlvError, match="unexpected bytes"):
        read_single(encode_tlv(0x61, b"") + b"\x00", 0x61)


@given(st.binary(max_size=300))
def test_fuzz_never_raises_anything_but_tlv_error(data: bytes) -> None:
    try:
        items = list(iter_tlv(data))
    except TlvError:
        return
    assert (items[-1].end if items else 0) == len(data)  # the objects fill the data exactly, no overrun
    for item in items:
        if item.constructed:
            with contextlib.suppress(TlvError):
                item.children()


@given(st.sampled_from([0x04, 0x30, 0x61, 0x75, 0x5F1F, 0x7F61, 0x5F2E]), st.binary(max_size=400))
def test_fuzz_round_trip(tag: int, value: bytes) -> None:
    item = read_single(encode_tlv(tag, value), tag)
    assert item.value == value
