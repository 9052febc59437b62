"""Geometry of the five-point similarity alignment."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from matcher.align import ARCFACE_112, align_face, alignment_matrix, umeyama


def _similarity(scale: float, angle_deg: float, tx: float, ty: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    rot = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.hstack([rot, [[tx], [ty]]])


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


@pytest.mark.parametrize(
    ("scale", "angle", "tx", "ty"),
    [(1.0, 0.0, 0.0, 0.0), (2.7, 33.0, -40.0, 120.5), (0.31, -170.0, 5.0, 9.0)],
)
def test_umeyama_recovers_a_known_similarity_exactly(
    scale: float, angle: float, tx: float, ty: float
) -> None:
    rng = np.random.default_rng(7)
    src = rng.uniform(-100, 300, size=(5, 2))
    truth = _similarity(scale, angle, tx, ty)
    estimated = umeyama(src, _apply(truth, src))
    np.testing.assert_allclose(estimated, truth, atol=1e-9)


def test_umeyama_never_returns_a_reflection() -> None:
    mirrored = ARCFACE_112 * [-1.0, 1.0]
    matrix = umeyama(mirrored, ARCFACE_112)
    assert np.linalg.det(matrix[:, :2]) > 0


def test_umeyama_rejects_degenerate_points() -> None:
    with pytest.raises(ValueError):
        umeyama(np.ones((5, 2)), ARCFACE_112)
    with pytest.raises(ValueError):
        umeyama(np.ones((5, 2)), np.ones((4, 2)))


def test_landmarks_map_onto_the_template() -> None:
    # Landmarks of a face rotated by 20 degrees, 2.2x larger and shifted, in a 400x400 image.
    inverse = cv2.invertAffineTransform(_similarity(1 / 2.2, -20.0, 0.0, 0.0))
    landmarks = _apply(inverse, ARCFACE_112) + np.array([150.0, 120.0])
    np.testing.assert_allclose(_apply(alignment_matrix(landmarks), landmarks), ARCFACE_112, atol=1e-6)

    # Five bright dots at the landmarks end up on the template points of the 112x112 crop.
    image = np.zeros((400, 400, 3), dtype=np.uint8)
    for x, y in landmarks:
        cv2.circle(image, (round(x), round(y)), 4, (255, 255, 255), -1)
    crop = align_face(image, landmarks)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    for tx, ty in ARCFACE_112:
        x, y = round(tx), round(ty)
        assert crop[y, x].min() > 200, (tx, ty)
    assert crop[5, 5].max() == 0 and crop[56, 20].max() == 0
