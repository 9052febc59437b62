"""BER-TLV (ISO/IEC 7816-4 / ASN.1 BER) reading and writing for the eMRTD's logical data structure.

Parsing is strict and bounded: every length is checked against the bytes that are there, indefinite
lengths are refused (the LDS is DER), and any inconsistency raises :class:`TlvError`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from kiosk.errors import KioskError

_MAX_TAG_BYTES = 4
_MAX_LENGTH_BYTES = 4


class TlvError(KioskError):
    """Malformed BER-TLV data."""

    code = "CHIP_TLV_MALFORMED"


@dataclass(frozen=True)
class Tlv:
    """One data object: ``tag`` as the integer of its tag bytes (e.g. ``0x5F1F``), ``value`` its content."""

    tag: int
    value: bytes
    end: int  # offset just past this object in the buffer it was read from

    @property
    def constructed(self) -> bool:
        first = self.tag
        while first > 0xFF:
            first >>= 8
        return bool(first & 0x20)

    def children(self) -> list[Tlv]:
        """The data objects inside a constructed object."""
        if not self.constructed:
            raise TlvError(f"tag {self.tag:X} is primitive, it has no children")
        return list(iter_tlv(self.value))

    def child(self, tag: int) -> Tlv:
        """The first child with ``tag``; TlvError when there is none."""
        for item in self.children():
            if item.tag == tag:
                return item
        raise TlvError(f"tag {self.tag:X} has no child {tag:X}")


def read_tlv(data: bytes, pos: int = 0) -> Tlv:
    """Read the data object starting at ``pos``."""
    n = len(data)
    if pos >= n:
        raise TlvError("no data object: end of data")
    first = data[pos]
    tag = first
    pos += 1
    if first & 0x1F == 0x1F:  # multi-byte tag number
        count = 0
        while True:
            if pos >= n:
                raise TlvError("truncated tag")
            byte = data[pos]
            pos += 1
            count += 1
            if count > _MAX_TAG_BYTES - 1:
                raise TlvError("tag too long")
            tag = (tag << 8) | byte
            if not byte & 0x80:
                break
    if pos >= n:
        raise TlvError(f"tag {tag:X}: truncated length")
    length = data[pos]
    pos += 1
    if length == 0x80:
        raise TlvError(f"tag {tag:X}: indefinite length is not allowed")
    if length & 0x80:
        count = length & 0x7F
        if count > _MAX_LENGTH_BYTES:
            raise TlvError(f"tag {tag:X}: length of {count} bytes is not supported")
        if pos + count > n:
            raise TlvError(f"tag {tag:X}: truncated length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > n:
        raise TlvError(f"tag {tag:X}: value of {length} bytes, only {n - pos} left")
    return Tlv(tag=tag, value=bytes(data[pos:end]), end=end)


def iter_tlv(data: bytes) -> Iterator[Tlv]:
    """The consecutive data objects filling ``data`` exactly (padding is not allowed)."""
    pos = 0
    while pos < len(data):
        item = read_tlv(data, pos)
        pos = item.end
        yield item


def read_single(data: bytes, tag: int) -> Tlv:
    """The one data object ``data`` consists of, which must carry ``tag``."""
    item = read_tlv(data)
    if item.tag != tag:
        raise TlvError(f"expected tag {tag:X}, found {item.tag:X}")
    if item.end != len(data):
        raise TlvError(f"{len(data) - item.end} unexpected bytes after tag {tag:X}")
    return item


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def encode_tlv(tag: int, value: bytes) -> bytes:
    """DER-style encoding of one data object (definite, minimal length)."""
    tag_bytes = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    return tag_bytes + encode_length(len(value)) + value
