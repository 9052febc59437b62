"""Synthetic document data pages with known ground truth, for tests, the demo and the OCR benchmark.

Deterministic from a seed: ``sample_page(np.random.default_rng(seed))`` always gives the same page."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from kiosk.documents.layout import LAYOUTS
from kiosk.documents.mrz import MrzRecord
from kiosk.lab.synth.degrade import Degradation, degrade, degrade_with_transform
from kiosk.lab.synth.fonts import TRAINING_FONTS, UNSEEN_FONTS, available_fonts, font_path
from kiosk.lab.synth.identities import random_record
from kiosk.lab.synth.page import render_data_page

__all__ = [
    "TRAINING_FONTS",
    "UNSEEN_FONTS",
    "Degradation",
    "SyntheticPage",
    "available_fonts",
    "default_portrait",
    "degrade",
    "degrade_with_transform",
    "font_path",
    "random_record",
    "render_data_page",
    "sample_page",
]


@cache
def default_portrait() -> np.ndarray:
    """A real face a fresh machine has: scikit-image's astronaut (NASA, public domain), BGR."""
    from skimage.data import astronaut

    return np.ascontiguousarray(astronaut()[80:330, 120:320, ::-1])


@dataclass(frozen=True)
class SyntheticPage:
    image: np.ndarray  # BGR capture
    record: MrzRecord  # ground truth
    font: str
    dpi: float
    page_to_image: np.ndarray  # 3x3 homography from page pixels to capture pixels
    portrait_box: tuple[float, float, float, float] | None  # page pixels (x, y, w, h)


def sample_page(
    rng: np.random.Generator,
    *,
    fonts: tuple[str, ...] = ("ocr-b",),
    formats: tuple[str, ...] = ("TD3",),
    dpi_range: tuple[float, float] = (150.0, 600.0),
    spec: Degradation | None = None,
) -> SyntheticPage:
    """Draw one degraded data page: format, font, resolution, identity and capture all from ``rng``."""
    fmt = str(rng.choice(formats))
    font = str(rng.choice(fonts))
    dpi = float(rng.uniform(*dpi_range))
    record = random_record(rng, fmt)
    page = render_data_page(record, default_portrait(), font=font, dpi=dpi, rng=rng)
    image, homography = degrade_with_transform(page, rng, spec or Degradation())
    box = LAYOUTS[fmt].portrait
    px_box = None if box is None else tuple(v * dpi / 25.4 for v in box)
    return SyntheticPage(image, record, font, dpi, homography, px_box)
