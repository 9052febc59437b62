"""Face detection with five landmarks: SCRFD (default) and YuNet (optional, from ../shared)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from matcher import FaceEngine, ImageError
from matcher.detect import input_scale, nms
from matcher.imageio import load_image

# Eye, nose and mouth corners of the astronaut (scikit-image), read off the image by hand, +-8 px.
ASTRONAUT_LANDMARKS = np.array([[203, 102], [246, 104], [222, 128], [201, 140], [243, 142]], dtype=np.float32)


def _check_astronaut(faces: list, offset: tuple[float, float] = (0, 0), scale: float = 1.0) -> None:
    assert len(faces) == 1
    face = faces[0]
    expected = ASTRONAUT_LANDMARKS * scale + np.asarray(offset, dtype=np.float32)
    assert face.landmarks.shape == (5, 2)
    np.testing.assert_allclose(face.landmarks, expected, atol=8 * scale)
    x1, y1, x2, y2 = face.box
    assert x1 < face.landmarks[:, 0].min() and face.landmarks[:, 0].max() < x2
    assert y1 < face.landmarks[:, 1].min() and face.landmarks[:, 1].max() < y2
    assert 0.5 < face.score <= 1.0


def test_astronaut_has_one_face_with_landmarks_in_place(engine: FaceEngine, astronaut: np.ndarray) -> None:
    _check_astronaut(engine.detect(astronaut))


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (517, 903), (2000, 600)])
def test_any_image_size_keeps_landmarks_in_image_coordinates(
    engine: FaceEngine, astronaut: np.ndarray, width: int, height: int
) -> None:
    canvas = np.full((height, width, 3), 90, dtype=np.uint8)
    x, y = (width - 512) // 2, (height - 512) // 2
    canvas[max(0, y) : y + 512, x : x + 512] = astronaut[max(0, -y) : max(0, -y) + min(512, height)]
    _check_astronaut(engine.detect(canvas), offset=(x, y))


def test_blank_and_tiny_images_have_no_face(engine: FaceEngine) -> None:
    assert engine.detect(np.full((480, 640, 3), 128, dtype=np.uint8)) == []
    assert engine.detect(np.zeros((7, 3, 3), dtype=np.uint8)) == []


def test_bad_arrays_are_image_errors(engine: FaceEngine) -> None:
    with pytest.raises(ImageError):
        engine.detect(np.zeros((10, 10, 3), dtype=np.float32))
    with pytest.raises(ImageError):
        engine.detect(np.zeros((0, 10, 3), dtype=np.uint8))


def test_input_is_never_upscaled() -> None:
    assert input_scale(250, 250, 640) == 1.0
    assert input_scale(1080, 1920, 640) == pytest.approx(1 / 3)


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=np.float32)
    assert nms(boxes, np.array([0.6, 0.9, 0.7]), 0.4) == [1, 2]


@pytest.mark.shared
def test_yunet_from_the_shared_folder(
    shared_dir, astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EGATE_SHARED", str(shared_dir))
    yunet = FaceEngine.load(detector="yunet", threads=1)
    assert yunet.model_versions["detector"].startswith("yunet@8f2383e4dd3c")
    _check_astronaut(yunet.detect(astronaut))


def test_a_face_filling_the_whole_picture_is_found(engine: FaceEngine, astronaut: np.ndarray) -> None:
    # A tight portrait crop (the face box itself, enlarged to 400 px wide), as a document reader may give.
    crop = astronaut[63:178, 180:271]
    scale = 400 / crop.shape[1]
    big = cv2.resize(crop, (400, round(crop.shape[0] * scale)), interpolation=cv2.INTER_CUBIC)
    faces = engine.detect(big)
    assert len(faces) == 1
    np.testing.assert_allclose(faces[0].landmarks, (ASTRONAUT_LANDMARKS - [180, 63]) * scale, atol=8 * scale)


@pytest.mark.slow
@pytest.mark.shared
def test_no_face_is_missed_on_the_lfw_dev_images(engine: FaceEngine, lfw_dir) -> None:
    """Every one of the 9,525 LFW dev images holds a face; detection at the image's own scale finds them all
    (upscaling them to 640 missed some). About half a minute on one core."""
    paths = sorted((lfw_dir / "images").glob("*/*.jpg"))
    assert len(paths) > 9000
    missed = [p.name for p in paths if not engine.detect(load_image(p))]
    assert missed == []
