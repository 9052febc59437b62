"""Image decoding of untrusted input: every bad file gives a clear ImageError, every odd one is normalised."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from matcher.errors import ImageError
from matcher.imageio import ImageTooLargeError, decode_image, load_image


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


@pytest.fixture(scope="module")
def astronaut_rgb() -> np.ndarray:
    return skdata.astronaut()[:256, 96:352].copy()  # 256x256 RGB crop around the face


def _mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))


def test_jpeg_and_png_decode_to_bgr(astronaut_rgb: np.ndarray, tmp_path: Path) -> None:
    png = _encode(Image.fromarray(astronaut_rgb), "PNG")
    out = decode_image(png)
    assert out.dtype == np.uint8 and out.shape == (256, 256, 3) and out.flags.c_contiguous
    assert np.array_equal(out, astronaut_rgb[:, :, ::-1])  # lossless, channels in BGR order
    path = tmp_path / "a.jpg"
    path.write_bytes(_encode(Image.fromarray(astronaut_rgb), "JPEG", quality=95))
    assert _mean_abs(load_image(path), astronaut_rgb[:, :, ::-1]) < 3
    assert _mean_abs(load_image(str(path)), load_image(path.read_bytes())) == 0


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"", "empty"),
        (b"this is not an image at all" * 10, "not a recognised image format"),
        (b"\xff\xd8\xff\xe0" + bytes(200), "not a recognised|unreadable|corrupt"),  # JPEG magic, garbage
    ],
)
def test_unreadable_bytes(payload: bytes, match: str) -> None:
    with pytest.raises(ImageError, match=match):
        decode_image(payload)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file(astronaut_rgb: np.ndarray, fmt: str) -> None:
    full = _encode(Image.fromarray(astronaut_rgb), fmt)
    with pytest.raises(ImageError) as info:
        decode_image(full[: len(full) // 2])
    assert info.value.code == "IMAGE_UNREADABLE"


def test_zero_byte_file_missing_path_and_directory(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(empty)
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageError, match="directory"):
        load_image(tmp_path)


def test_device_file_is_refused_not_read() -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    with pytest.raises(ImageError, match="not a regular file"):
        load_image("/dev/zero")  # would never end if read


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny valid PNG whose IHDR is rewritten to declare width x height (CRC fixed)."""
    png = bytearray(_encode(Image.new("RGB", (8, 8), (120, 80, 40)), "PNG"))
    ihdr_data = struct.pack(">II", width, height) + bytes(png[24:29])
    png[16:29] = ihdr_data
    png[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr_data) & 0xFFFFFFFF)
    return bytes(png)


def _jpeg_declaring(width: int, height: int) -> bytes:
    """A tiny valid JPEG whose SOF0 marker is rewritten to declare width x height."""
    jpg = bytearray(_encode(Image.new("RGB", (8, 8), (120, 80, 40)), "JPEG"))
    sof = jpg.index(b"\xff\xc0")
    jpg[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(jpg)


@pytest.mark.parametrize("make", [_png_declaring, _jpeg_declaring])
@pytest.mark.parametrize("side", [20000, 8000])  # 400 Mpx (beyond Pillow's own bomb limit) and 64 Mpx
def test_huge_declared_size_refused_from_header(make, side: int) -> None:
    payload = make(side, side)
    assert len(payload) < 2000
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError) as info:
        decode_image(payload)
    assert time.perf_counter() - start < 1.0  # refused from the header, nothing was decoded
    assert info.value.code == "IMAGE_TOO_LARGE"
    assert isinstance(info.value, ImageError)


def test_max_pixels_is_configurable(astronaut_rgb: np.ndarray) -> None:
    png = _encode(Image.fromarray(astronaut_rgb), "PNG")
    with pytest.raises(ImageTooLargeError, match="65,536 pixels"):
        decode_image(png, max_pixels=256 * 256 - 1)
    assert load_image(png, max_pixels=256 * 256).shape == (256, 256, 3)


def test_grayscale_becomes_three_equal_channels(astronaut_rgb: np.ndarray) -> None:
    gray = np.asarray(Image.fromarray(astronaut_rgb).convert("L"))
    out = decode_image(_encode(Image.fromarray(gray), "PNG"))
    assert out.shape == (256, 256, 3)
    assert np.array_equal(out[:, :, 0], gray) and np.array_equal(out[:, :, 1], gray)
    bilevel = decode_image(_encode(Image.fromarray(gray).convert("1"), "PNG"))
    assert set(np.unique(bilevel)) <= {0, 255}


def test_sixteen_bit_grayscale_is_scaled_not_clipped() -> None:
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    out = decode_image(_encode(Image.fromarray(ramp), "PNG"))
    assert out.dtype == np.uint8
    expected = np.round(ramp / 257.0).astype(np.uint8)
    assert np.array_equal(out[:, :, 0], expected)
    assert out.max() == 255 and out.min() == 0 and len(np.unique(out)) > 200


def test_sixteen_bit_colour_png(tmp_path: Path) -> None:
    bgr16 = np.zeros((32, 32, 3), np.uint16)
    bgr16[..., 0] = 65535  # blue full
    bgr16[..., 1] = 32896  # green half (128 * 257)
    bgr16[..., 2] = 257 * 10  # red dark
    path = tmp_path / "deep.png"
    assert cv2.imwrite(str(path), bgr16)
    out = load_image(path)
    assert np.abs(out[0, 0].astype(int) - [255, 128, 10]).max() <= 1


def test_cmyk_jpeg_has_correct_colours() -> None:
    rgb = np.zeros((64, 96, 3), np.uint8)
    rgb[:, :32] = (220, 30, 30)
    rgb[:, 32:64] = (30, 200, 40)
    rgb[:, 64:] = (40, 50, 210)
    cmyk = Image.fromarray(rgb).convert("CMYK")
    out = decode_image(_encode(cmyk, "JPEG", quality=95))
    for x, colour in ((16, (220, 30, 30)), (48, (30, 200, 40)), (80, (40, 50, 210))):
        assert np.abs(out[32, x].astype(int) - colour[::-1]).max() < 12, (x, out[32, x])


@pytest.mark.parametrize(("orientation", "stored_rotation"), [(3, 2), (6, 1), (8, 3)])
def test_exif_rotation_is_applied(astronaut_rgb: np.ndarray, orientation: int, stored_rotation: int) -> None:
    # The camera stores the picture rotated (np.rot90: quarter turns counter-clockwise) and tags the fix.
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(astronaut_rgb, stored_rotation)))
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = decode_image(_encode(stored, "JPEG", quality=95, exif=exif.tobytes()))
    assert out.shape == astronaut_rgb.shape
    assert _mean_abs(out, astronaut_rgb[:, :, ::-1]) < 3  # upright again, face where it belongs


def test_alpha_is_composited_over_white() -> None:
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., :3] = (10, 20, 200)
    rgba[:, :8, 3] = 255  # left half opaque
    rgba[:, 8:, 3] = 0  # right half fully transparent (colour underneath must not leak)
    out = decode_image(_encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert out.shape == (16, 16, 3)
    assert tuple(out[0, 0]) == (200, 20, 10)
    assert tuple(out[0, 15]) == (255, 255, 255)
    gray_alpha = Image.fromarray(rgba[..., 0]).convert("LA")
    assert decode_image(_encode(gray_alpha, "PNG")).shape == (16, 16, 3)


def test_palette_and_other_formats(astronaut_rgb: np.ndarray) -> None:
    img = Image.fromarray(astronaut_rgb)
    for fmt, params in (("GIF", {}), ("BMP", {}), ("WEBP", {"quality": 95}), ("TIFF", {}), ("JPEG2000", {})):
        out = decode_image(_encode(img, fmt, **params))
        assert out.shape == (256, 256, 3), fmt
        assert _mean_abs(out, astronaut_rgb[:, :, ::-1]) < 12, fmt


def test_huge_jpeg_decodes_reduced_in_draft_mode(tmp_path: Path) -> None:
    from matcher.imageio import DRAFT_MIN_SIDE

    big = np.zeros((5000, 8400, 3), np.uint8)
    big[:, :, 1] = np.linspace(0, 255, 8400, dtype=np.uint8)[None, :]
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), big)
    image = load_image(path)
    assert image.shape == (2500, 4200, 3)  # halved in the DCT: the long side stays >= DRAFT_MIN_SIDE
    assert image.shape[1] >= DRAFT_MIN_SIDE
    assert abs(int(image[0, -1, 1]) - 255) < 8  # the same picture, smaller
    small = tmp_path / "small.jpg"
    cv2.imwrite(str(small), big[:3000, :4000])
    assert load_image(small).shape == (3000, 4000, 3)  # at or below the limit: full size
