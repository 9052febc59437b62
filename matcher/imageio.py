"""Decode untrusted image files and bytes into BGR uint8 arrays, refusing what cannot be used safely.

Every input is treated as hostile: the pixel count is read from the header and checked *before* any pixel
is decoded (a 20000x20000 PNG of a few kilobytes is refused without allocating anything), and every
decoder failure becomes an :class:`~matcher.errors.ImageError`. Pillow reads the header and decodes; the
result is normalised so that callers always get an upright, 3-channel, 8-bit BGR picture:

- EXIF orientation is applied (phone pictures are stored sideways with a rotation tag);
- JPEGs longer than ``DRAFT_MIN_SIDE`` decode reduced in the DCT (2x, 4x or 8x), never below it;
- grayscale, bilevel and palette images are expanded to three channels;
- 16-bit samples are scaled to 8 bits (``round(v / 257)``), never clipped;
- CMYK (e.g. Adobe JPEGs) is converted through its embedded ICC profile when there is one;
- transparency is composited over white, the background of a document portrait.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from matcher.errors import ImageError

DEFAULT_MAX_PIXELS = 50_000_000
#: JPEGs whose long side exceeds this decode reduced by 2, 4 or 8 in the DCT (Pillow's draft mode), keeping
#: the long side at least this long: a 49 MP photo decodes in a fraction of the time and memory, and nothing
#: downstream (face detection at 640 px, the MRZ located at 1000 px) needs more.
DRAFT_MIN_SIDE = 4096

# Formats a camera, a scanner or a passport chip (DG2 holds JPEG or JPEG 2000) plausibly produce. Restricting
# the list keeps Pillow's rarely used parsers out of reach of untrusted input.
ACCEPTED_FORMATS = ("JPEG", "PNG", "JPEG2000", "BMP", "TIFF", "WEBP", "GIF", "PPM")
# The file names taken for images when a folder is read (camera frames, document pages, enrolment photos):
# the one list of the house. The decoder still goes by content, never by name.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".jp2", ".bmp", ".tif", ".tiff", ".webp")

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


class ImageTooLargeError(ImageError):
    """The image header declares more pixels than the caller allows."""

    code = "IMAGE_TOO_LARGE"


def load_image(source: str | Path | bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file (path) or encoded bytes into an upright BGR uint8 array of shape (H, W, 3).

    Raises :class:`ImageError` for a missing path, a directory or other non-regular file, an empty,
    truncated or unrecognised file, and :class:`ImageTooLargeError` when the header declares more than
    ``max_pixels`` pixels.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        return decode_image(bytes(source), max_pixels=max_pixels)
    path = Path(source)
    if not path.exists():
        raise ImageError(f"image file not found: {path}")
    if path.is_dir():
        raise ImageError(f"{path} is a directory, not an image file")
    if not path.is_file():
        # FIFOs and devices (/dev/zero) could block or never end: only regular files are read.
        raise ImageError(f"{path} is not a regular file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return decode_image(data, max_pixels=max_pixels)
    except ImageError as exc:
        raise type(exc)(f"{path}: {exc}") from exc.__cause__


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes (JPEG, PNG, JPEG 2000, BMP, TIFF, WebP, GIF, PPM) into BGR uint8 (H, W, 3).

    Raises :class:`ImageError` when the bytes are empty, truncated or not an accepted image format, and
    :class:`ImageTooLargeError` when the header declares more than ``max_pixels`` pixels.
    """
    if not data:
        raise ImageError("empty image data (zero bytes)")
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"image declares too many pixels ({exc})") from exc
    except UnidentifiedImageError as exc:
        accepted = ", ".join(ACCEPTED_FORMATS)
        raise ImageError(f"not a recognised image format (accepted: {accepted})") from exc
    except Exception as exc:  # any parser failure on untrusted bytes is a bad image, not a crash
        raise ImageError(f"unreadable image header: {exc}") from exc

    with image:
        width, height = image.size
        if width <= 0 or height <= 0:
            raise ImageError(f"image has no pixels ({width}x{height})")
        if width * height > max_pixels:
            raise ImageTooLargeError(
                f"image is {width}x{height} = {width * height:,} pixels, more than the {max_pixels:,} allowed"
            )
        if image.format == "JPEG" and max(width, height) > DRAFT_MIN_SIDE:
            k = DRAFT_MIN_SIDE / max(width, height)
            image.draft(None, (math.ceil(width * k), math.ceil(height * k)))
        try:
            image.load()
            upright = ImageOps.exif_transpose(image)
            rgb = _to_rgb8(upright)
        except ImageError:
            raise
        except Exception as exc:  # truncated or corrupt pixel data
            raise ImageError(f"corrupt or truncated {image.format} image: {exc}") from exc
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _to_rgb8(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to an RGB uint8 array, scaling (not clipping) high bit depths."""
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES:
        gray = np.asarray(image, dtype=np.uint16).astype(np.float32)
        return _gray_to_rgb(np.round(gray / 257.0))
    if mode == "I":
        # 32-bit integer samples: Pillow uses this for some 16-bit TIFF/PNG. Values above 255 are taken as
        # 16-bit data; anything beyond 16 bits is stretched to its own range.
        gray = np.asarray(image, dtype=np.int64).astype(np.float64)
        top = float(gray.max(initial=0))
        if top > 65535:
            low = float(gray.min(initial=0))
            gray = (gray - low) * (255.0 / max(top - low, 1.0))
        elif top > 255:
            gray = gray / 257.0
        return _gray_to_rgb(np.round(gray))
    if mode == "F":
        gray = np.asarray(image, dtype=np.float32)
        if not np.all(np.isfinite(gray)):
            raise ImageError("floating-point image holds non-finite values")
        if float(gray.max(initial=0.0)) <= 1.0:  # the usual [0, 1] convention for float images
            gray = gray * 255.0
        return _gray_to_rgb(np.round(gray))
    if mode == "CMYK":
        return np.asarray(_cmyk_to_rgb(image), dtype=np.uint8)
    if "A" in mode or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    gray8 = np.clip(gray, 0, 255).astype(np.uint8)
    return np.repeat(gray8[:, :, None], 3, axis=2)


def _cmyk_to_rgb(image: Image.Image) -> Image.Image:
    """CMYK to sRGB through the embedded ICC profile when present, else Pillow's device conversion."""
    icc = image.info.get("icc_profile")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: fall back to the device conversion below rather than refuse the picture
    return image.convert("RGB")
