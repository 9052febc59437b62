from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.documents.chip.biometric import (
    ISO_19794_5,
    ISO_39794_5,
    BiometricError,
    FaceImage,
    decode_portrait,
    encode_dg2,
    encode_face_39794_5,
    parse_dg2,
)
from kiosk.documents.chip.tlv import encode_tlv, read_tlv
from kiosk.lab.personalise import encode_portrait


@pytest.fixture(scope="module")
def images(portrait: np.ndarray) -> dict[str, bytes]:
    return {fmt: encode_portrait(portrait, fmt) for fmt in ("jpeg", "jpeg2000")}


@pytest.mark.parametrize("container", [ISO_19794_5, ISO_39794_5])
@pytest.mark.parametrize("image_format", ["jpeg", "jpeg2000"])
def test_container_round_trip_and_decode(
    container: str, image_format: str, images: dict[str, bytes], portrait: np.ndarray
) -> None:
    height, width = portrait.shape[:2]
    face = parse_dg2(encode_dg2(images[image_format], width, height, container))
    assert (face.container, face.image_format, face.width, face.height) == (
        container,
        image_format,
        width,
        height,
    )
    assert face.data == images[image_format]
    decoded = decode_portrait(face)
    assert decoded.shape == portrait.shape and decoded.dtype == np.uint8
    # lossy, but the same picture: mean absolute error of a few grey levels, BGR order kept
    assert np.abs(decoded.astype(int) - portrait.astype(int)).mean() < 12
    assert np.allclose(decoded.mean(axis=(0, 1)), portrait.mean(axis=(0, 1)), atol=6)


def test_jpeg2000_is_a_jp2_file(images: dict[str, bytes]) -> None:
    assert images["jpeg2000"].startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n")


def test_39794_block_wrapped_or_bare(images: dict[str, bytes]) -> None:
    """The FaceImageDataBlock may sit directly in 7F2E, inside an A1 wrapper, or as bare fields."""
    dg2 = encode_dg2(images["jpeg"], 180, 220, ISO_39794_5)
    block = parse_dg2(dg2)
    app5 = encode_face_39794_5(images["jpeg"], 180, 220)
    for bdb in (encode_tlv(0xA1, app5), read_tlv(app5).value):
        assert parse_dg2(_dg2_with_bdb(0x7F2E, bdb)).data == block.data


def _dg2_with_bdb(tag: int, bdb: bytes) -> bytes:
    return encode_tlv(
        0x75, encode_tlv(0x7F61, encode_tlv(0x02, b"\x01") + encode_tlv(0x7F60, encode_tlv(tag, bdb)))
    )


@pytest.mark.parametrize(
    ("dg2", "message"),
    [
        (_dg2_with_bdb(0x5F2E, b"FAC\x00010\x00" + bytes(40)), "record length"),
        (_dg2_with_bdb(0x5F2E, b"FAC\x00030\x00" + bytes(40)), "version"),
        (_dg2_with_bdb(0x5F2E, b"XYZ\x00010\x00" + bytes(40)), "FAC"),
        (_dg2_with_bdb(0x5F2E, b"FAC"), "truncated"),
        (_dg2_with_bdb(0x7F2E, encode_tlv(0x65, encode_tlv(0xA0, b""))), "A1"),
        (_dg2_with_bdb(0x5F2F, b""), "no biometric data block"),
        (encode_tlv(0x75, encode_tlv(0x7F61, encode_tlv(0x02, b"\x00"))), "7F60"),
        (encode_tlv(0x75, b""), "7F61"),
    ],
)
def test_malformed_containers(dg2: bytes, message: str) -> None:
    with pytest.raises(BiometricError, match=message):
        parse_dg2(dg2)


def test_image_type_must_match_the_declared_type(images: dict[str, bytes]) -> None:
    dg2 = bytearray(encode_dg2(images["jpeg"], 180, 220, ISO_19794_5))
    offset = dg2.index(b"FAC\x00") + 14 + 20 + 1  # image data type byte of the image information
    dg2[offset] = 1  # claims JPEG 2000
    with pytest.raises(BiometricError, match="does not match"):
        parse_dg2(bytes(dg2))


def test_not_an_image_and_corrupt_image(images: dict[str, bytes]) -> None:
    with pytest.raises(BiometricError, match="neither JPEG"):
        parse_dg2(_dg2_with_bdb(0x7F2E, _bare_39794(b"GIF89a")))
    for fmt, data in images.items():
        corrupt = FaceImage(ISO_19794_5, fmt, 0, 0, data[: len(data) // 3])
        with pytest.raises(BiometricError, match="cannot be decoded"):
            decode_portrait(corrupt)


def test_decompression_bomb_refused(images: dict[str, bytes]) -> None:
    face = FaceImage(ISO_19794_5, "jpeg", 0, 0, images["jpeg"])
    with pytest.raises(BiometricError, match="too large"):
        decode_portrait(face, max_pixels=1000)


def _bare_39794(image: bytes) -> bytes:
    two_d = encode_tlv(0xA0, encode_tlv(0x80, image))
    rep = encode_tlv(0x30, encode_tlv(0x80, b"\x01") + encode_tlv(0xA1, encode_tlv(0xA0, two_d)))
    return encode_tlv(0x65, encode_tlv(0xA1, rep))


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_fuzz_dg2_mutations_give_named_failures(images: dict[str, bytes], data: st.DataObject) -> None:
    container = data.draw(st.sampled_from([ISO_19794_5, ISO_39794_5]))
    dg2 = bytearray(encode_dg2(images["jpeg"], 180, 220, container))
    header = 120  # mutate the structure, not only the image body
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, min(header, len(dg2) - 1)))
        dg2[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(dg2)))
    try:
        face = parse_dg2(bytes(dg2[:cut]) if data.draw(st.booleans()) else bytes(dg2))
    except BiometricError:
        return
    with contextlib.suppress(BiometricError):
        decode_portrait(face)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(blob: bytes) -> None:
    for dg2 in (blob, _dg2_with_bdb(0x5F2E, blob), _dg2_with_bdb(0x7F2E, blob)):
        with contextlib.suppress(BiometricError):
            parse_dg2(dg2)
