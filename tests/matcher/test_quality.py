"""Quality measures: a good face passes, each synthetic degradation trips its own reason code."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from matcher import FaceEngine
from matcher.align import ARCFACE_112
from matcher.quality import NOSE_DEPTH_PER_IED, QualityLimits, assess, estimate_pose
from matcher.types import Face

LIVE = QualityLimits()


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    return FaceEngine.load(threads=1)


@pytest.fixture(scope="module")
def astronaut(engine: FaceEngine) -> tuple[np.ndarray, Face]:
    image = np.ascontiguousarray(skdata.astronaut()[:, :, ::-1])
    faces = engine.detect(image)
    assert len(faces) == 1
    return image, faces[0]


def _moved(face: Face, matrix: np.ndarray) -> Face:
    """The same face after an affine image transform (2x3) moved its pixels."""
    pts = face.landmarks @ matrix[:, :2].T + matrix[:, 2]
    corners = np.array(face.box).reshape(2, 2) @ matrix[:, :2].T + matrix[:, 2]
    box = (*corners.min(axis=0), *corners.max(axis=0))
    return Face(box=tuple(float(v) for v in box), landmarks=pts.astype(np.float32), score=face.score)


def test_good_image_passes(astronaut: tuple[np.ndarray, Face]) -> None:
    image, face = astronaut
    report = assess(image, face, LIVE)
    assert report.passed, report.as_dict()
    assert report.reasons == []
    assert [m.name for m in report.measures] == [
        "inter_eye_px",
        "yaw_deg",
        "pitch_deg",
        "roll_deg",
        "sharpness",
        "brightness",
        "contrast",
        "detector_score",
    ]
    assert abs(report.value("yaw_deg")) < 10 and abs(report.value("pitch_deg")) < 10


def test_blur_is_blurry(astronaut: tuple[np.ndarray, Face]) -> None:
    image, face = astronaut
    blurred = cv2.GaussianBlur(image, (0, 0), 3.0)
    report = assess(blurred, face, LIVE)
    assert report.reasons == ["BLURRY"]
    assert report.value("sharpness") < assess(image, face, LIVE).value("sharpness") / 4


def test_dark_bright_and_flat(astronaut: tuple[np.ndarray, Face]) -> None:
    image, face = astronaut
    dark = (image.astype(np.float32) * 0.2).astype(np.uint8)
    assert "TOO_DARK" in assess(dark, face, LIVE).reasons
    bright = (255 - (255 - image.astype(np.float32)) * 0.1).astype(np.uint8)
    assert "TOO_BRIGHT" in assess(bright, face, LIVE).reasons
    flat = (128 + (image.astype(np.float32) - 128) * 0.3).astype(np.uint8)
    assert assess(flat, face, LIVE).reasons == ["LOW_CONTRAST"]
    # Exposure and contrast do not read as blur: sharpness is a ratio.
    assert "BLURRY" not in assess(dark, face, LIVE).reasons + assess(flat, face, LIVE).reasons


@pytest.mark.parametrize("angle", [30.0, -30.0])
def test_roll(engine: FaceEngine, astronaut: tuple[np.ndarray, Face], angle: float) -> None:
    image, face = astronaut
    before = assess(image, face, LIVE).value("roll_deg")
    centre = tuple(float(v) for v in face.landmarks[2])
    matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)  # positive angle: counter-clockwise on screen
    rotated = cv2.warpAffine(image, matrix, image.shape[1::-1], borderMode=cv2.BORDER_REFLECT)
    report = assess(rotated, _moved(face, matrix), LIVE)
    assert report.reasons == ["POSE_ROLL"]
    assert report.value("roll_deg") == pytest.approx(before - angle, abs=0.5)
    # The real detector agrees on the rotated picture.
    redetected = engine.detect(rotated)
    # SCRFD places landmarks less precisely on strongly rolled faces (trained mostly upright).
    assert assess(rotated, redetected[0], LIVE).value("roll_deg") == pytest.approx(before - angle, abs=6)


def test_small_face(astronaut: tuple[np.ndarray, Face]) -> None:
    image, face = astronaut
    scale = 0.5
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    report = assess(small, _moved(face, np.array([[scale, 0, 0], [0, scale, 0]])), LIVE)
    assert "FACE_TOO_SMALL" in report.reasons
    assert report.value("inter_eye_px") == pytest.approx(assess(image, face).value("inter_eye_px") * scale)
    # Enrolment limits accept it: a document portrait is the only picture there is.
    assert (
        "FACE_TOO_SMALL"
        not in assess(
            small, _moved(face, np.array([[scale, 0, 0], [0, scale, 0]])), QualityLimits.for_enrolment()
        ).reasons
    )


def test_sharpness_does_not_depend_on_face_size(astronaut: tuple[np.ndarray, Face]) -> None:
    # The same capture at two distances, both above the embedder's resolution: a 3x "high-resolution"
    # picture and its half-size version.
    image, face = astronaut
    near = cv2.resize(image, None, fx=3.0, fy=3.0, interpolation=cv2.INTER_CUBIC)
    near_face = _moved(face, np.array([[3.0, 0, 1.0], [0, 3.0, 1.0]]))
    far = cv2.resize(near, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    far_face = _moved(near_face, np.array([[0.5, 0, -0.25], [0, 0.5, -0.25]]))
    ratio = assess(near, near_face).value("sharpness") / assess(far, far_face).value("sharpness")
    assert 0.8 < ratio < 1.25


def test_low_detector_confidence(astronaut: tuple[np.ndarray, Face]) -> None:
    image, face = astronaut
    unsure = Face(box=face.box, landmarks=face.landmarks, score=0.3)
    assert assess(image, unsure, LIVE).reasons == ["LOW_CONFIDENCE"]


def _project(yaw_deg: float, pitch_deg: float, scale: float = 3.0) -> np.ndarray:
    """Landmarks of the reference 3D face (template x, y; nose tip d in front) under weak perspective."""
    ied = np.linalg.norm(ARCFACE_112[1] - ARCFACE_112[0])
    pts = ARCFACE_112 - (ARCFACE_112[0] + ARCFACE_112[1]) / 2
    depth = np.array([0.0, 0.0, NOSE_DEPTH_PER_IED * ied, 0.0, 0.0])  # towards the camera
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    # Pitch about the horizontal axis (face up: points in front move up), then yaw about the vertical one.
    y = pts[:, 1] * math.cos(pitch) - depth * math.sin(pitch)
    z = pts[:, 1] * math.sin(pitch) + depth * math.cos(pitch)
    x = pts[:, 0] * math.cos(yaw) + z * math.sin(yaw)
    return np.stack([x, y], axis=1) * scale + 200


@pytest.mark.parametrize(("yaw", "pitch"), [(0, 0), (20, 0), (-35, 0), (0, 20), (0, -25), (25, 15)])
def test_pose_geometry_recovers_known_angles(yaw: float, pitch: float) -> None:
    pose = estimate_pose(_project(yaw, pitch))
    assert pose.yaw == pytest.approx(yaw, abs=1.5)
    assert pose.pitch == pytest.approx(pitch, abs=1.5)
    assert pose.roll == pytest.approx(0, abs=0.5)  # the template eyes are 0.3 degrees off level


def test_pose_limits_trip_their_codes(astronaut: tuple[np.ndarray, Face]) -> None:
    image, face = astronaut
    for (yaw, pitch), code in (((40, 0), "POSE_YAW"), ((0, 35), "POSE_PITCH"), ((0, -35), "POSE_PITCH")):
        turned = Face(box=face.box, landmarks=_project(yaw, pitch).astype(np.float32), score=face.score)
        assert code in assess(image, turned, LIVE).reasons


def test_mirror_negates_yaw() -> None:
    turned = _project(15, 5)
    mirrored = turned.copy()
    mirrored[:, 0] = 400 - mirrored[:, 0]
    mirrored = mirrored[[1, 0, 2, 4, 3]]  # image-left eye first again
    a, b = estimate_pose(turned), estimate_pose(mirrored)
    assert b.yaw == pytest.approx(-a.yaw) and b.pitch == pytest.approx(a.pitch)


def test_degenerate_landmarks_fail_without_crashing(astronaut: tuple[np.ndarray, Face]) -> None:
    image, face = astronaut
    collapsed = Face(box=face.box, landmarks=np.full((5, 2), 100.0, np.float32), score=0.9)
    report = assess(image, collapsed, LIVE)
    assert not report.passed and "FACE_TOO_SMALL" in report.reasons
    outside = Face(box=face.box, landmarks=face.landmarks + 5000, score=0.9)
    assert not assess(image, outside, LIVE).passed


def test_rejects_non_image(astronaut: tuple[np.ndarray, Face]) -> None:
    _, face = astronaut
    with pytest.raises(ValueError, match="BGR uint8"):
        assess(np.zeros((10, 10, 3), np.float32), face)


def test_enrolment_limits_are_looser_everywhere() -> None:
    live, enrol = QualityLimits.for_live_capture(), QualityLimits.for_enrolment()
    assert live == QualityLimits()
    assert enrol.min_inter_eye_px < live.min_inter_eye_px
    assert enrol.max_yaw_deg > live.max_yaw_deg and enrol.max_pitch_deg > live.max_pitch_deg
    assert enrol.max_roll_deg > live.max_roll_deg
    assert enrol.min_sharpness < live.min_sharpness and enrol.min_contrast < live.min_contrast
    assert enrol.min_brightness < live.min_brightness and enrol.max_brightness > live.max_brightness
    assert enrol.min_detector_score <= live.min_detector_score
