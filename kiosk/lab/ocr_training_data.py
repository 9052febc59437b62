"""Training cells for the MRZ character classifier, made the way the reader makes them at run time.

Each sample is a small MRZ block (2 or 3 lines) rendered in a training font at a random resolution,
degraded like a capture (rotation, perspective, light, glare, blur, noise, JPEG), then located, rectified
and cut by the reader's own code; the cells are paired with the rendered characters. Nothing here is drawn
from the benchmark's seeds."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from kiosk.documents.checks import DocumentError
from kiosk.documents.ocr.classify import ALPHABET
from kiosk.documents.ocr.locate import locate_mrz
from kiosk.documents.ocr.segment import cut_cells, rectify
from kiosk.lab.synth.degrade import Degradation, degrade
from kiosk.lab.synth.fonts import font_path
from kiosk.lab.synth.identities import random_record
from kiosk.lab.synth.page import _cap_ratio, _font, _guilloche

_CHAR_WEIGHTS = np.array([0.3] + [0.7 / 36] * 36)
_SHAPES = {"TD3": (2, 44), "TD2": (2, 36), "TD1": (3, 30)}


def _random_lines(rng: np.random.Generator, fmt: str) -> tuple[str, ...]:
    """Real-looking MRZ lines half of the time, uniformly random characters otherwise (class balance)."""
    if rng.random() < 0.5:
        return random_record(rng, fmt).lines
    lines, width = _SHAPES[fmt]
    return tuple("".join(rng.choice(list(ALPHABET), size=width, p=_CHAR_WEIGHTS)) for _ in range(lines))


def render_block(lines: tuple[str, ...], font: str, pitch_px: float, rng: np.random.Generator) -> np.ndarray:
    """An MRZ block on a security-print background, ``pitch_px`` pixels per character (BGR)."""
    n = len(lines[0])
    line_pitch = pitch_px * rng.uniform(1.55, 1.85)
    w, h = round((n + 6) * pitch_px), round((len(lines) + 2.5) * line_pitch)
    tint = rng.uniform(200, 250, 3).astype(np.float32)
    image = Image.fromarray(np.clip(_guilloche(h, w, rng, tint), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    path = str(font_path(font))
    cap = pitch_px * rng.uniform(0.85, 1.05)
    mrz_font = _font(path, round(cap / _cap_ratio(path)))
    ink = tuple(int(v) for v in rng.integers(5, 60, 3))
    for k, text in enumerate(lines):
        baseline = (1.5 + k) * line_pitch + cap / 2
        for i, ch in enumerate(text):
            draw.text(
                (3 * pitch_px + (i + 0.5) * pitch_px, baseline), ch, fill=ink, font=mrz_font, anchor="ms"
            )
    return np.ascontiguousarray(np.asarray(image)[..., ::-1])


def make_cells(
    rng: np.random.Generator, fonts: tuple[str, ...], blocks: int, *, normalise_height: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(cells (N, H, W) float32, labels (N,) int64) from ``blocks`` rendered blocks; unread blocks skipped.
    ``normalise_height``: cut as the reader cuts now (glyphs scaled to the canonical height); off, the
    cells the shipped model was trained on (see ``ocr_train``)."""
    import cv2

    spec = Degradation(max_perspective=0.02, max_blur_sigma=1.6, max_noise_sigma=14.0, min_jpeg_quality=40)
    all_cells, all_labels = [], []
    for _ in range(blocks):
        fmt = str(rng.choice(list(_SHAPES)))
        lines = _random_lines(rng, fmt)
        block = render_block(lines, str(rng.choice(fonts)), rng.uniform(9, 42), rng)
        gray = cv2.cvtColor(degrade(block, rng, spec), cv2.COLOR_BGR2GRAY)
        try:
            region = locate_mrz(gray)
            ink, n = rectify(gray, region)
        except DocumentError:
            continue
        if region.lines != len(lines) or n != len(lines[0]):
            continue
        all_cells.append(cut_cells(ink, region.lines, n, normalise_height=normalise_height))
        all_labels.append([ALPHABET.index(ch) for ch in "".join(lines)])
    return np.concatenate(all_cells), np.concatenate(all_labels).astype(np.int64)
