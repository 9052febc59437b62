"""Synthetic data pages: deterministic, valid ground truth, sizes and geometry as specified."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.lab.synth import (
    Degradation,
    default_portrait,
    degrade_with_transform,
    font_path,
    random_record,
    render_data_page,
    sample_page,
)
from kiosk.lab.synth.fonts import FontMissingError


@pytest.mark.parametrize(("fmt", "shape"), [("TD3", (2, 44)), ("TD2", (2, 36)), ("TD1", (3, 30))])
def test_random_records_are_valid(fmt: str, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        record = random_record(rng, fmt)
        assert record.valid, [c for c in record.checks if not c.passed]
        assert record.format == fmt
        assert (len(record.lines), len(record.lines[0])) == shape


def test_page_size_follows_dpi_and_is_deterministic() -> None:
    record = random_record(np.random.default_rng(1), "TD3")
    a = render_data_page(record, default_portrait(), dpi=300, rng=np.random.default_rng(3))
    b = render_data_page(record, default_portrait(), dpi=300, rng=np.random.default_rng(3))
    assert a.shape == (1039, 1476, 3)  # 88 x 125 mm at 300 dpi
    assert np.array_equal(a, b)
    c = render_data_page(record, default_portrait(), dpi=150, rng=np.random.default_rng(3))
    assert c.shape == (520, 738, 3)


def test_sample_page_is_reproducible_from_seed() -> None:
    first = sample_page(np.random.default_rng(11), formats=("TD2",), dpi_range=(150, 200))
    again = sample_page(np.random.default_rng(11), formats=("TD2",), dpi_range=(150, 200))
    assert first.record.lines == again.record.lines
    assert np.array_equal(first.image, again.image)


def test_degradation_keeps_page_inside_frame_and_rotation_bounded() -> None:
    page = np.full((400, 600, 3), 230, np.uint8)
    spec = Degradation(max_rotation_deg=5.0, max_perspective=0.0)
    for seed in range(10):
        image, homography = degrade_with_transform(page, np.random.default_rng(seed), spec)
        corners = np.array([[0, 0, 1], [600, 0, 1], [600, 400, 1], [0, 400, 1]], float) @ homography.T
        corners = corners[:, :2] / corners[:, 2:]
        assert (corners >= -1).all() and (corners[:, 0] <= image.shape[1] + 1).all()
        top = corners[1] - corners[0]
        assert abs(np.degrees(np.arctan2(top[1], top[0]))) <= 5.0 + 1e-6


def test_unknown_font_is_a_named_error() -> None:
    with pytest.raises(FontMissingError) as info:
        font_path("comic-sans")
    assert info.value.code == "FONT_MISSING"
