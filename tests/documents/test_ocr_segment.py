"""Character cell placement measured against the generator's ground truth: every character centre of the
rendered MRZ is mapped through the capture's homography and the reader's rectification."""

from __future__ import annotations

import cv2
import numpy as np

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
