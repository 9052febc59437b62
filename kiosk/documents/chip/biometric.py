"""DG2: the face biometric template (ICAO Doc 9303 part 10), with its image in one of two containers:

- ISO/IEC 19794-5:2005 (biometric data block tag 5F2E): a binary record ``FAC\\0`` ``010\\0`` ...;
- ISO/IEC 39794-5:2019 (tag 7F2E): a DER-encoded ``FaceImageDataBlock`` ([APPLICATION 5], implicit tags).

The image inside is JPEG or JPEG 2000 (JP2 file or raw J2K codestream); it is decoded with Pillow."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image

from kiosk.documents.chip.lds import DG_TAGS
from kiosk.documents.chip.tlv import Tlv, TlvError, encode_tlv, iter_tlv, read_single

ISO_19794_5 = "ISO/IEC 19794-5"
ISO_39794_5 = "ISO/IEC 39794-5"
MAX_PORTRAIT_PIXELS = 16_000_000  # a chip portrait is well under 1 MP; refuse decompression bombs

_JPEG_MAGIC = b"\xff\xd8\xff"
_JP2_MAGIC = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_J2K_MAGIC = b"\xff\x4f\xff\x51"
_FAC_HEADER = 14
_FAC_INFO = 20
_FAC_FEATURE_POINT = 8
_FAC_IMAGE_INFO = 12
# ISO/IEC 39794-5 imageDataFormat codes.
_FORMAT_CODES_39794 = {"jpeg": 2, "jpeg2000": 3}


class BiometricError(TlvError):
    """DG2 cannot be parsed, or its image cannot be decoded."""

    code = "CHIP_DG2_MALFORMED"


@dataclass(frozen=True)
class FaceImage:
    container: str  # ISO_19794_5 or ISO_39794_5
    image_format: str  # "jpeg" or "jpeg2000", from the image bytes themselves
    width: int  # as declared in the container (0 when not declared)
    height: int
    data: bytes  # the encoded image


def sniff_image_format(data: bytes) -> str:
    if data.startswith(_JPEG_MAGIC):
        return "jpeg"
    if data.startswith(_JP2_MAGIC) or data.startswith(_J2K_MAGIC):
        return "jpeg2000"
    raise BiometricError("face image is neither JPEG nor JPEG 2000")


def parse_dg2(data: bytes) -> FaceImage:
    """The first face image of DG2; BiometricError (a TlvError) on anything malformed."""
    try:
        group = read_single(data, DG_TAGS[2]).child(0x7F61)
        templates = [item for item in group.children() if item.tag == 0x7F60]
        if not templates:
            raise BiometricError("DG2 has no biometric information template (7F60)")
        for item in templates[0].children():
            if item.tag == 0x5F2E:
                return _parse_19794_5(item.value)
            if item.tag == 0x7F2E:
                return _parse_39794_5(item.value)
    except BiometricError:
        raise
    except TlvError as exc:
        raise BiometricError(f"DG2: {exc}") from exc
    raise BiometricError("DG2 has no biometric data block (5F2E or 7F2E)")


def _u(data: bytes, start: int, size: int) -> int:
    return int.from_bytes(data[start : start + size], "big")


def _parse_19794_5(block: bytes) -> FaceImage:
    if len(block) < _FAC_HEADER + _FAC_INFO + _FAC_IMAGE_INFO:
        raise BiometricError("ISO/IEC 19794-5 record is truncated")
    if block[0:4] != b"FAC\x00":
        raise BiometricError("ISO/IEC 19794-5 record does not start with FAC")
    if block[4:8] != b"010\x00":
        raise BiometricError(f"ISO/IEC 19794-5 version {block[4:7]!r} is not supported (010 is)")
    if _u(block, 8, 4) != len(block):
        raise BiometricError("ISO/IEC 19794-5 record length does not match the data block")
    if _u(block, 12, 2) < 1:
        raise BiometricError("ISO/IEC 19794-5 record holds no facial image")
    pos = _FAC_HEADER
    block_length = _u(block, pos, 4)
    feature_points = _u(block, pos + 4, 2)
    image_info = pos + _FAC_INFO + feature_points * _FAC_FEATURE_POINT
    image_start = image_info + _FAC_IMAGE_INFO
    image_end = pos + block_length
    if image_start > image_end or image_end > len(block):
        raise BiometricError("ISO/IEC 19794-5 facial information block length is inconsistent")
    data_type = block[image_info + 1]
    width, height = _u(block, image_info + 2, 2), _u(block, image_info + 4, 2)
    image = block[image_start:image_end]
    image_format = sniff_image_format(image)
    declared = {0: "jpeg", 1: "jpeg2000"}.get(data_type)
    if declared != image_format:
        raise BiometricError(
            f"ISO/IEC 19794-5 image data type {data_type} does not match a {image_format} image"
        )
    return FaceImage(ISO_19794_5, image_format, width, height, image)


def _find(items: list[Tlv], tag: int) -> Tlv:
    for item in items:
        if item.tag == tag:
            return item
    raise BiometricError(f"ISO/IEC 39794-5 element {tag:X} is missing")


def _small_int(item: Tlv) -> int:
    if not 1 <= len(item.value) <= 4:
        raise BiometricError("ISO/IEC 39794-5 integer has a bad length")
    return int.from_bytes(item.value, "big", signed=True)


def _parse_39794_5(block: bytes) -> FaceImage:
    # 7F2E holds the FaceImageDataBlock ([APPLICATION 5] = 65), possibly inside an A1 wrapper, or its fields.
    fields = list(iter_tlv(block))
    if len(fields) == 1 and fields[0].tag == 0xA1 and any(c.tag == 0x65 for c in fields[0].children()):
        fields = list(iter_tlv(_find(fields[0].children(), 0x65).value))
    elif len(fields) == 1 and fields[0].tag == 0x65:
        fields = list(iter_tlv(fields[0].value))
    representations = _find(fields, 0xA1).children()
    if not representations:
        raise BiometricError("ISO/IEC 39794-5 block holds no representation")
    representation = representations[0].children()
    base = _find(_find(representation, 0xA1).children(), 0xA0)
    two_d = _find(base.children(), 0xA0).children()
    image = _find(two_d, 0x80).value
    image_format = sniff_image_format(image)
    width = height = 0
    info = [item for item in two_d if item.tag == 0xA1]
    if info:
        size = [item for item in info[0].children() if item.tag == 0xA7]
        if size:
            parts = size[0].children()
            width, height = _small_int(_find(parts, 0x80)), _small_int(_find(parts, 0x81))
    return FaceImage(ISO_39794_5, image_format, width, height, image)


def decode_portrait(face: FaceImage, *, max_pixels: int = MAX_PORTRAIT_PIXELS) -> np.ndarray:
    """The face image as a BGR uint8 array; BiometricError when it cannot be decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(face.data)) as image:
                if image.width * image.height > max_pixels:
                    raise BiometricError(f"portrait of {image.width}x{image.height} pixels is too large")
                rgb = np.asarray(image.convert("RGB"))
    except BiometricError:
        raise
    except (
        Exception
    ) as exc:  # Pillow raises many types for corrupt data (OSError, SyntaxError, ValueError...)
        raise BiometricError(
            f"the {face.image_format} portrait cannot be decoded: {type(exc).__name__}"
        ) from exc
    return np.ascontiguousarray(rgb[:, :, ::-1])


def encode_face_19794_5(image: bytes, width: int, height: int) -> bytes:
    """An ISO/IEC 19794-5:2005 record with one frontal face image and no feature points."""
    data_type = {"jpeg": 0, "jpeg2000": 1}[sniff_image_format(image)]
    info_length = _FAC_INFO + _FAC_IMAGE_INFO + len(image)
    facial_info = (
        info_length.to_bytes(4, "big")
        + (0).to_bytes(2, "big")  # feature points
        + bytes([0, 0, 0])  # gender, eye colour, hair colour: unspecified
        + bytes(3)  # feature mask
        + bytes(2)  # expression
        + bytes(6)  # pose angles and their uncertainty
    )
    image_info = (
        bytes([1, data_type])  # full frontal
        + width.to_bytes(2, "big")
        + height.to_bytes(2, "big")
        + bytes([1, 2])  # colour space sRGB, source: digital camera
        + bytes(4)  # device type, quality: unspecified
    )
    body = facial_info + image_info + image
    total = _FAC_HEADER + len(body)
    return b"FAC\x00010\x00" + total.to_bytes(4, "big") + (1).to_bytes(2, "big") + body


def _der_int(tag: int, value: int) -> bytes:
    return encode_tlv(tag, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big"))


def encode_face_39794_5(image: bytes, width: int, height: int) -> bytes:
    """A DER FaceImageDataBlock ([APPLICATION 5]) with one 2D representation."""
    code = _FORMAT_CODES_39794[sniff_image_format(image)]
    size = encode_tlv(0xA7, _der_int(0x80, width) + _der_int(0x81, height))
    information = encode_tlv(0xA1, encode_tlv(0xA0, _der_int(0x80, code)) + size)
    two_d = encode_tlv(0xA0, encode_tlv(0x80, image) + information)
    representation = encode_tlv(0x30, _der_int(0x80, 1) + encode_tlv(0xA1, encode_tlv(0xA0, two_d)))
    version = encode_tlv(0xA0, _der_int(0x80, 3) + _der_int(0x81, 2019))
    return encode_tlv(0x65, version + encode_tlv(0xA1, representation))


def encode_dg2(image: bytes, width: int, height: int, container: str = ISO_19794_5) -> bytes:
    """DG2 with one biometric information template in the chosen container."""
    if container == ISO_19794_5:
        bdb = encode_tlv(0x5F2E, encode_face_19794_5(image, width, height))
        format_type = b"\x00\x08"
    elif container == ISO_39794_5:
        bdb = encode_tlv(0x7F2E, encode_face_39794_5(image, width, height))
        format_type = b"\x00\x40"
    else:
        raise ValueError(f"unknown face container {container!r}")
    header = encode_tlv(
        0xA1,
        encode_tlv(0x80, b"\x01\x01")  # ICAO header version
        + encode_tlv(0x81, b"\x02")  # biometric type: facial features
        + encode_tlv(0x87, b"\x01\x01")  # format owner: ISO/IEC JTC 1/SC 37
        + encode_tlv(0x88, format_type),
    )
    template = encode_tlv(0x7F60, header + bdb)
    return encode_tlv(DG_TAGS[2], encode_tlv(0x7F61, encode_tlv(0x02, b"\x01") + template))
