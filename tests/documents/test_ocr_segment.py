"""Character cell placement measured against the generator's ground truth: every character centre of the
rendered MRZ is mapped through the capture's homography and the reader's rectification."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from kiosk.documents.layout import CAP_HEIGHT_MM, LAYOUTS, PITCH_MM
from kiosk.documents.ocr import segment
from kiosk.documents.ocr.locate import locate_mrz
from kiosk.lab.synth import Degradation, available_fonts, sample_page

FONT = (available_fonts(("ocr-b",)) or ("dejavu-mono",))[0]


def _centre_errors(seed: int, spec: Degradation) -> np.ndarray:
    """(characters, 2) estimated minus true cell centres, canonical raster pixels (pitch 20 px)."""
    page = sample_page(np.random.default_rng(seed), fonts=(FONT,), formats=("TD3", "TD2", "TD1"), spec=spec)
    gray = cv2.cvtColor(page.image, cv2.COLOR_BGR2GRAY)
    region = locate_mrz(gray)
    ink, n = segment.rectify(gray, region)
    layout = LAYOUTS[page.record.format]
    assert n == layout.chars
    width = (n - 1 + segment.GLYPH_FRACTION) * segment.PITCH
    height = (region.lines - 1) * segment.LINE_PITCH + segment.CAP
    m = segment.MARGIN
    canonical = np.array([[m, m], [m + width, m], [m + width, m + height], [m, m + height]], np.float32)
    page_to_raster = cv2.getPerspectiveTransform(region.quad, canonical) @ page.page_to_image
    mm = np.array(
        [
            (layout.mrz_left + (i + 0.5) * PITCH_MM, layout.baseline(line) - CAP_HEIGHT_MM / 2)
            for line in range(region.lines)
            for i in range(n)
        ]
    )
    truth = cv2.perspectiveTransform((mm * page.dpi / 25.4)[None], page_to_raster)[0]
    return segment.cell_centres(ink, region.lines, n) - truth


def test_cells_follow_perspective_along_the_line() -> None:
    # perspective spaces characters unevenly along a line: a single linear pitch was off by up to 7 px
    # (a third of a character) in the middle of the line on such pages
    spec = Degradation(max_perspective=0.03, max_rotation_deg=5.0)
    worst = [float(np.abs(_centre_errors(seed, spec)[:, 0]).max()) for seed in range(300, 316)]
    assert max(worst) < 2.0
    assert float(np.median(worst)) < 1.0


def test_cells_on_a_flat_capture_are_within_a_pixel_along_the_line() -> None:
    spec = Degradation(max_perspective=0.0, max_rotation_deg=2.0, max_blur_sigma=0.6, glare_probability=0.0)
    for seed in range(320, 324):
        errors = np.abs(_centre_errors(seed, spec))
        assert errors[:, 0].max() < 1.0
        assert errors[:, 1].max() < 2.0  # whole-pixel line centres; the classifier is trained on the same cut


def _spaced_block(line_pitch_caps: float) -> np.ndarray:
    """A TD3 MRZ in OCR-B, 18 px per character, its lines ``line_pitch_caps`` capital heights apart."""
    from PIL import Image, ImageDraw

    from kiosk.lab.synth.fonts import font_path
    from kiosk.lab.synth.page import _cap_ratio, _font

    lines = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
    pitch, cap = 18.0, 15.0
    path = str(font_path(FONT))
    font = _font(path, round(cap / _cap_ratio(path)))
    image = Image.new("L", (round(50 * pitch), round(cap * (2 * line_pitch_caps + 4))), 235)
    draw = ImageDraw.Draw(image)
    for k, text in enumerate(lines):
        baseline = 2.5 * cap + k * line_pitch_caps * cap
        for i, ch in enumerate(text):
            draw.text((3 * pitch + (i + 0.5) * pitch, baseline), ch, fill=20, font=font, anchor="ms")
    return np.asarray(image)


def test_glyphs_are_cut_at_the_canonical_height_however_far_apart_the_lines() -> None:
    # real passports set their MRZ lines further apart than the canonical raster assumes: fitted to the
    # line group's outer ink, their glyphs came out 14-17 rows tall instead of 19, and a squat 0 read as O
    for spacing in (1.6, 2.0, 2.6):
        gray = _spaced_block(spacing)
        region = locate_mrz(gray)
        ink, n = segment.rectify(gray, region)
        cells = segment.cut_cells(ink, region.lines, n)
        strip = np.hstack(list(cells))  # the cut cells side by side, measured as one raster
        centres = np.stack(
            [segment.CELL_W * (np.arange(len(cells)) + 0.5), np.full(len(cells), segment.CELL_H / 2)], axis=1
        )
        assert segment.glyph_height(strip, centres) == pytest.approx(segment.GLYPH_ROWS, abs=1.5), spacing
