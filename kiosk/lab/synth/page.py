"""Render a document data page (TD3 passport page, TD2, or the MRZ side of a TD1 card) from MRZ data."""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Protocol

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kiosk.documents.layout import CAP_HEIGHT_MM, LAYOUTS, PITCH_MM
from kiosk.lab.synth.fonts import _MPL, font_path

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


class MrzData(Protocol):
    """What the renderer needs of an MRZ record (``kiosk.documents.mrz.MrzRecord`` fits)."""

    format: str
    lines: tuple[str, ...]
    issuing_state: str
    surname: str
    given_names: str
    document_number: str
    nationality: str
    date_of_birth: date | None
    sex: str
    expiry_date: date | None


@cache
def _font(path: str, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, max(px, 4))


@cache
def _cap_ratio(path: str) -> float:
    """Capital height as a fraction of the font size (measured on 'X')."""
    box = _font(path, 200).getbbox("X", anchor="ls")
    return (box[3] - box[1]) / 200.0


def _mm(value: float, dpi: float) -> float:
    return value * dpi / 25.4


def _guilloche(h: int, w: int, rng: np.random.Generator, tint: np.ndarray) -> np.ndarray:
    """Light security-print background: pastel base, sinusoidal line pattern and paper texture."""
    page = np.empty((h, w, 3), np.float32)
    page[:] = tint
    xs = np.linspace(0, 1, 400)
    pattern = np.zeros((h, w), np.uint8)
    thickness = max(1, round(w / 1500))
    for k in range(int(rng.integers(18, 36))):
        freq, amp, phase = rng.uniform(2, 9), rng.uniform(0.01, 0.06), rng.uniform(0, 6.3)
        y0 = (k + rng.uniform(-0.3, 0.3)) / 30
        ys = y0 + amp * np.sin(2 * np.pi * freq * xs + phase)
        pts = np.stack([xs * w, ys * h], axis=1).astype(np.int32)
        cv2.polylines(pattern, [pts], False, 255, thickness, cv2.LINE_AA)
    strength = rng.uniform(0.04, 0.14)
    colour = rng.uniform(0.3, 0.8, 3).astype(np.float32)
    page -= (pattern[..., None] / 255.0) * strength * 255 * colour
    texture = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), max(1.0, w / 800))
    page += (texture / (texture.std() + 1e-6) * rng.uniform(1, 4))[..., None]
    return page


def _paste_portrait(page: np.ndarray, portrait_bgr: np.ndarray, box: tuple[int, int, int, int]) -> None:
    x, y, w, h = box
    ph, pw = portrait_bgr.shape[:2]
    scale = max(w / pw, h / ph)
    resized = cv2.resize(portrait_bgr, (max(w, round(pw * scale)), max(h, round(ph * scale))), cv2.INTER_AREA)
    oy, ox = (resized.shape[0] - h) // 2, (resized.shape[1] - w) // 2
    page[y : y + h, x : x + w] = resized[oy : oy + h, ox : ox + w, ::-1]  # BGR -> RGB


def _fmt_date(d: date | None) -> str:
    return "" if d is None else f"{d.day:02d} {_MONTHS[d.month - 1]} {d.year}"


def render_data_page(
    record: MrzData,
    portrait_bgr: np.ndarray | None,
    *,
    font: str = "ocr-b",
    dpi: float = 300.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Render the data page of ``record`` (its ``format`` picks the layout) as a BGR uint8 image.

    The MRZ lines are set in ``font`` on the ICAO pitch (2.54 mm) at ``dpi``; the portrait (if the format
    has one on this side) fills the layout's portrait box. ``rng`` varies background, ink and text size."""
    rng = rng if rng is not None else np.random.default_rng(0)
    layout = LAYOUTS[record.format]
    w, h = round(_mm(layout.width, dpi)), round(_mm(layout.height, dpi))
    tint = rng.uniform(215, 250, 3).astype(np.float32)
    page = np.clip(_guilloche(h, w, rng, tint), 0, 255).astype(np.uint8)
    if layout.portrait is not None and portrait_bgr is not None:
        px, py, pw, ph = (round(_mm(v, dpi)) for v in layout.portrait)
        _paste_portrait(page, portrait_bgr, (px, py, pw, ph))
    image = Image.fromarray(page)
    draw = ImageDraw.Draw(image)
    sans = str(_MPL / "DejaVuSans.ttf")
    label_font, value_font = _font(sans, round(_mm(1.5, dpi))), _font(sans, round(_mm(2.4, dpi)))
    header_font = _font(sans, round(_mm(3.2, dpi)))
    title = f"{'PASSPORT' if record.format == 'TD3' else 'IDENTITY CARD'}  {record.issuing_state}"
    draw.text((_mm(6, dpi), _mm(4, dpi)), title, fill=(40, 40, 70), font=header_font)
    fields = (
        ("Surname", record.surname),
        ("Given names", record.given_names),
        ("Nationality", record.nationality),
        ("Date of birth", _fmt_date(record.date_of_birth)),
        ("Sex", record.sex),
        ("Date of expiry", _fmt_date(record.expiry_date)),
        ("Document no.", record.document_number),
    )
    left = (layout.portrait[0] + layout.portrait[2] + 5) if layout.portrait else 5.0
    top = 12.0 if layout.portrait else 10.0
    room = layout.baseline(0) - CAP_HEIGHT_MM - 3 - top
    fields = fields[: max(1, min(len(fields), int(room / 4.8)))]  # the TD1 back has room for few
    step = room / len(fields)
    for i, (label, value) in enumerate(fields):
        y = top + i * step
        draw.text((_mm(left, dpi), _mm(y, dpi)), label, fill=(90, 90, 110), font=label_font)
        draw.text((_mm(left, dpi), _mm(y + 1.9, dpi)), value[:28], fill=(25, 25, 35), font=value_font)
    path = str(font_path(font))
    cap_mm = CAP_HEIGHT_MM * rng.uniform(0.9, 1.1)
    mrz_font = _font(path, round(_mm(cap_mm, dpi) / _cap_ratio(path)))
    ink = tuple(int(v) for v in rng.integers(5, 45, 3))
    for line_no, text in enumerate(record.lines):
        baseline = _mm(layout.baseline(line_no), dpi)
        for i, ch in enumerate(text):
            cx = _mm(layout.mrz_left + (i + 0.5) * PITCH_MM, dpi)
            draw.text((cx, baseline), ch, fill=ink, font=mrz_font, anchor="ms")
    return np.ascontiguousarray(np.asarray(image)[..., ::-1])
