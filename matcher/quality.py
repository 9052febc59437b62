"""Face image quality: is this capture good enough to compare, and if not, what should the traveller change?

Each measure comes with a reason code the kiosk turns into coaching ("come closer", "look at the camera",
"hold still", ...). Photometric measures are taken on the face normalised to the embedder's geometry (the
five-point ArcFace alignment at 112x112, see :mod:`matcher.align`), on the inner face from the eyebrows to
below the mouth, so they describe what the comparator actually sees and do not depend on image size, face
size or background.

Pose from five landmarks (eyes, nose tip, mouth corners), under weak perspective:

- roll: angle of the line from the image-left eye to the image-right eye (positive: clockwise on screen).
  The landmarks are then rotated by -roll about the eye midpoint so yaw and pitch are read upright.
- yaw: the eyes and mouth corners lie close to one plane, the nose tip stands ``d`` in front of it. Turning
  the head by ``yaw`` moves the nose tip sideways by ``d sin(yaw)`` off the eye/mouth midline while the
  eye distance shrinks to ``IED cos(yaw)``, so ``tan(yaw) = offset / (d/IED * IED_projected)``. Positive:
  nose towards the image right.
- pitch: the nose tip's drop below the eye line, in eye distances (corrected for yaw: ``IED_projected /
  cos(yaw)``), is ``h = 0.571`` on a frontal face; tilting the head by ``pitch`` makes it
  ``h cos(pitch) - d sin(pitch)``, solved in closed form. Positive: face tilted up (chin raised). The mouth
  is not used for pitch: a smile lifts the mouth corners by as much as a 15 degree nod would.

``h`` comes from the ArcFace template (a mean of frontal faces); the nose depth ``d/IED = 0.58`` from the
MediaPipe canonical face model (nose tip 3.6 cm in front of the eye openings, eye centres 6.3 cm apart,
mouth corners within 0.3 cm of the eye plane). A person's own nose shape shifts these angles by several
degrees, which is why the limits are generous.

The live capture adds two kinds of check (:func:`assess_live`): where the face is against the face guide
drawn on the traveller's screen (:class:`FaceGuide`: too close, off to a side, too high or low; from the
detector's box, free), and, once everything else passed, whether the eyes are open and the mouth closed, from
InsightFace's 106 landmarks (:mod:`matcher.landmarks`, about 5 ms a face on one core):

- eye openness: per eye, the mean of three lid-to-lid distances (upper lid points 41/40/42 over lower lid
  points 36/33/37; 95/94/96 over 90/87/91) over the distance between the eye's corners (35-39; 89-93),
  i.e. the eye aspect ratio; the two eyes averaged, so one badly placed eye contour does not decide.
- mouth opening: the mean of three inner-lip gaps (66/62/70 over 54/60/57) over the mouth's width (52-61).

Their limits were set on hand-checked lfw-dev faces (see ``QualityLimits``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np

from matcher.align import ARCFACE_112, umeyama
from matcher.types import Face, QualityMeasure, QualityReport

NOSE_DEPTH_PER_IED = 0.58
_EYE_MID = (ARCFACE_112[0] + ARCFACE_112[1]) / 2
_TEMPLATE_IED = float(np.linalg.norm(ARCFACE_112[1] - ARCFACE_112[0]))
FRONTAL_NOSE_DROP = float((ARCFACE_112[2, 1] - _EYE_MID[1]) / _TEMPLATE_IED)

CROP_SIZE = 112
# Inner face in the 112x112 aligned crop: eyebrows to below the mouth, inside the cheeks.
_INNER = (slice(34, 104), slice(26, 86))


@dataclass(frozen=True)
class QualityLimits:
    """Limits a face must meet. Defaults suit a live kiosk capture, where a failed measure is cheap (the
    traveller is coached and the camera tries again); :meth:`for_enrolment` is looser, for document
    portraits that cannot be retaken. Angles in degrees, luminance in 0..255 grey levels."""

    min_inter_eye_px: float = 30.0  # the embedder's 112x112 crop has 35 px between the eyes
    max_yaw_deg: float = 30.0
    max_pitch_deg: float = 25.0
    max_roll_deg: float = 20.0  # alignment undoes roll; a large one still means the head is not upright
    min_sharpness: float = 0.03
    min_brightness: float = 50.0
    max_brightness: float = 215.0
    min_contrast: float = 15.0
    min_detector_score: float = 0.6
    # Live capture only (assess_live). Set on lfw-dev faces checked by eye (tests/matcher/test_live_quality.py
    # holds the list): 21 with closed eyes (eye openness 0.03-0.12) against 41 open, narrow ones included
    # (0.13-0.32); 31 open mouths (0.19-0.88) against 19 closed (0-0.13); toothy smiles, in between, were
    # left out. At these limits 15 of the 21 closed eyes and 31 of the 31 open mouths are caught, no open eye
    # and no closed mouth is; of 2,982 lfw-dev news photos, 1% are taken for closed eyes and 18% for an open
    # mouth (speech, laughter). The eye limit errs towards open: a narrow eye taken for a closed one would
    # keep a traveller from ever passing, while a blink is gone by the next frame.
    min_eye_openness: float = 0.11
    max_mouth_opening: float = 0.18

    @classmethod
    def for_live_capture(cls) -> QualityLimits:
        return cls()

    @classmethod
    def for_enrolment(cls) -> QualityLimits:
        """Looser limits for a document portrait (chip DG2 or printed page) or an enrolment photo: it is the
        only picture there is, so refuse only what the comparator cannot use."""
        return replace(
            cls(),
            min_inter_eye_px=20.0,
            max_yaw_deg=40.0,
            max_pitch_deg=40.0,
            max_roll_deg=45.0,
            min_sharpness=0.015,
            min_brightness=35.0,
            max_brightness=235.0,
            min_contrast=10.0,
            min_detector_score=0.5,
        )


@dataclass(frozen=True)
class Pose:
    yaw: float
    pitch: float
    roll: float


def estimate_pose(landmarks: np.ndarray) -> Pose:
    """Yaw, pitch, roll in degrees from the five landmarks (see the module docstring for the geometry).
    A degenerate landmark set (eyes on one point) gives 90 degrees, which fails every pose limit."""
    pts = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    left_eye, right_eye = pts[0], pts[1]
    dx, dy = right_eye - left_eye
    ied = math.hypot(dx, dy)
    if not np.all(np.isfinite(pts)) or ied < 1e-6:
        return Pose(90.0, 90.0, 90.0)
    roll = math.atan2(dy, dx)
    cos_r, sin_r = math.cos(-roll), math.sin(-roll)
    centre = (left_eye + right_eye) / 2
    upright = (pts - centre) @ np.array([[cos_r, sin_r], [-sin_r, cos_r]])  # rotate by -roll
    eye_mid = (upright[0] + upright[1]) / 2
    mouth_mid = (upright[3] + upright[4]) / 2
    nose = upright[2]

    midline_x = (eye_mid[0] + mouth_mid[0]) / 2
    yaw = math.atan2(nose[0] - midline_x, NOSE_DEPTH_PER_IED * ied)

    # Nose drop h' = h cos(p) - d sin(p) = R cos(p + phi), with R = hypot(h, d) and phi = atan2(d, h).
    true_ied = ied / max(math.cos(yaw), 1e-6)
    drop = (nose[1] - eye_mid[1]) / true_ied
    radius = math.hypot(FRONTAL_NOSE_DROP, NOSE_DEPTH_PER_IED)
    phi = math.atan2(NOSE_DEPTH_PER_IED, FRONTAL_NOSE_DROP)
    pitch = math.acos(max(-1.0, min(1.0, drop / radius))) - phi
    return Pose(math.degrees(yaw), math.degrees(pitch), math.degrees(roll))


def normalised_face(image_bgr: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Grey 112x112 crop of the face in ArcFace geometry. Large faces are first shrunk with area averaging
    so the crop is not aliased (aliasing would read as false sharpness)."""
    gray = image_bgr if image_bgr.ndim == 2 else cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    pts = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    matrix = umeyama(pts, ARCFACE_112)
    scale = math.sqrt(abs(np.linalg.det(matrix[:, :2])))
    if scale < 1.0:
        # Shrink only the region that lands in the crop (plus a margin), then align at about 1:1.
        inverse = cv2.invertAffineTransform(matrix)
        corners = np.array(
            [[0, 0, 1], [CROP_SIZE, 0, 1], [0, CROP_SIZE, 1], [CROP_SIZE, CROP_SIZE, 1]], float
        )
        src = corners @ inverse.T
        h, w = gray.shape[:2]
        margin = 4 / scale
        x0 = int(max(0, math.floor(src[:, 0].min() - margin)))
        y0 = int(max(0, math.floor(src[:, 1].min() - margin)))
        x1 = int(min(w, math.ceil(src[:, 0].max() + margin)))
        y1 = int(min(h, math.ceil(src[:, 1].max() + margin)))
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            region = gray[y0:y1, x0:x1]
            size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
            gray = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
            fx, fy = size[0] / (x1 - x0), size[1] / (y1 - y0)
            pts = (pts - [x0, y0]) * [fx, fy]
            matrix = umeyama(pts, ARCFACE_112)
    return cv2.warpAffine(
        gray, matrix, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def sharpness(face_gray: np.ndarray) -> float:
    """High-frequency share of the inner face: variance of the Laplacian over the variance of the grey
    levels. Dimensionless, so it is neither fooled by exposure nor by contrast; it falls fast with blur."""
    inner = face_gray[_INNER].astype(np.float32)
    variance = float(inner.var())
    if variance < 1e-6:
        return 0.0
    laplacian = cv2.Laplacian(inner, cv2.CV_32F, ksize=1)[1:-1, 1:-1]
    return float(laplacian.var()) / variance


def measure(image_bgr: np.ndarray, face: Face) -> dict[str, float]:
    """Every quality measure of one face, by name (see :func:`assess`), without judging it."""
    image = np.asarray(image_bgr)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"assess needs a BGR uint8 image, got {image.dtype} of shape {image.shape}")
    landmarks = np.asarray(face.landmarks, dtype=np.float64).reshape(5, 2)
    ied = float(np.linalg.norm(landmarks[1] - landmarks[0]))
    pose = estimate_pose(landmarks)
    if ied >= 2.0 and np.all(np.isfinite(landmarks)):
        crop = normalised_face(image, landmarks)
        inner = crop[_INNER].astype(np.float32)
        sharp, bright, contrast = sharpness(crop), float(inner.mean()), float(inner.std())
    else:  # too few pixels to align: nothing photometric can be measured
        sharp, bright, contrast = 0.0, 0.0, 0.0
    return {
        "inter_eye_px": ied,
        "yaw_deg": pose.yaw,
        "pitch_deg": pose.pitch,
        "roll_deg": pose.roll,
        "sharpness": sharp,
        "brightness": bright,
        "contrast": contrast,
        "detector_score": float(face.score),
    }


def check(values: dict[str, float], limits: QualityLimits | None = None) -> QualityReport:
    """Judge measure values (from :func:`measure`) against ``limits`` (default: live kiosk capture)."""
    limits = limits or QualityLimits()
    bright = values["brightness"]
    if bright < limits.min_brightness:
        bright_reason: str | None = "TOO_DARK"
    elif bright > limits.max_brightness:
        bright_reason = "TOO_BRIGHT"
    else:
        bright_reason = None
    return QualityReport(
        (
            _at_least("inter_eye_px", values["inter_eye_px"], limits.min_inter_eye_px, "FACE_TOO_SMALL"),
            _within("yaw_deg", values["yaw_deg"], limits.max_yaw_deg, "POSE_YAW"),
            _within("pitch_deg", values["pitch_deg"], limits.max_pitch_deg, "POSE_PITCH"),
            _within("roll_deg", values["roll_deg"], limits.max_roll_deg, "POSE_ROLL"),
            _at_least("sharpness", values["sharpness"], limits.min_sharpness, "BLURRY"),
            QualityMeasure(
                "brightness",
                bright,
                f"{limits.min_brightness:g}..{limits.max_brightness:g}",
                bright_reason is None,
                bright_reason,
            ),
            _at_least("contrast", values["contrast"], limits.min_contrast, "LOW_CONTRAST"),
            _at_least(
                "detector_score", values["detector_score"], limits.min_detector_score, "LOW_CONFIDENCE"
            ),
        )
    )


def assess(image_bgr: np.ndarray, face: Face, limits: QualityLimits | None = None) -> QualityReport:
    """Measure one face and check it against ``limits`` (default: live kiosk capture).

    Measures, in coaching order, with the reason code each raises when it fails: ``inter_eye_px``
    (FACE_TOO_SMALL), ``yaw_deg`` (POSE_YAW), ``pitch_deg`` (POSE_PITCH), ``roll_deg`` (POSE_ROLL),
    ``sharpness`` (BLURRY), ``brightness`` (TOO_DARK / TOO_BRIGHT), ``contrast`` (LOW_CONTRAST),
    ``detector_score`` (LOW_CONFIDENCE). Angles are signed; their limits apply to the absolute value.
    """
    return check(measure(image_bgr, face), limits)


def _at_least(name: str, value: float, bound: float, reason: str) -> QualityMeasure:
    passed = bool(value >= bound)
    return QualityMeasure(name, value, f">= {bound:g}", passed, None if passed else reason)


def _within(name: str, value: float, bound: float, reason: str) -> QualityMeasure:
    passed = bool(abs(value) <= bound)
    return QualityMeasure(name, value, f"abs <= {bound:g}", passed, None if passed else reason)


# ----- the live capture: the face guide, the eyes and the mouth --------------------------------------------
@dataclass(frozen=True)
class FaceGuide:
    """The oval face guide of the traveller's screen, in the camera picture's own coordinates: its centre as
    fractions of the picture's width and height, its width and height as fractions of the picture's height.
    The screen draws exactly this oval (mirrored with the picture) and :func:`guide_measures` checks against
    it. ``max_offset``: how far the face box's centre may be from the oval's centre, as a fraction of the
    oval's width (sideways) or height (up and down); ``max_fill``: the face box's height over the oval's
    height above which the traveller is too close (the box runs from the brows to the chin, the oval holds
    the whole head)."""

    centre_x: float = 0.5
    centre_y: float = 0.5
    width: float = 0.45
    height: float = 0.62
    max_offset: float = 0.3
    max_fill: float = 1.0

    def __post_init__(self) -> None:
        for name in ("centre_x", "centre_y", "width", "height", "max_offset", "max_fill"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 < value <= 2.0):
                raise ValueError(f"face guide {name} must be in (0, 2], got {value}")


def guide_measures(
    box: tuple[float, float, float, float], image_shape: tuple[int, ...], guide: FaceGuide
) -> tuple[QualityMeasure, ...]:
    """Where the face box sits in the guide: ``guide_fill`` (TOO_CLOSE), ``guide_offset_x`` (MOVE_LEFT /
    MOVE_RIGHT: the traveller's own left and right; the camera faces the traveller, so a face towards the
    picture's right is towards the traveller's left and they should move to their right), ``guide_offset_y``
    (MOVE_DOWN / MOVE_UP). Offsets are signed, in guide widths and heights; positive: picture right, down."""
    h, w = image_shape[:2]
    x1, y1, x2, y2 = box
    gw, gh = guide.width * h, guide.height * h
    fill = (y2 - y1) / gh
    dx = ((x1 + x2) / 2 - guide.centre_x * w) / gw
    dy = ((y1 + y2) / 2 - guide.centre_y * h) / gh
    sideways = None if abs(dx) <= guide.max_offset else "MOVE_RIGHT" if dx > 0 else "MOVE_LEFT"
    upright = None if abs(dy) <= guide.max_offset else "MOVE_UP" if dy > 0 else "MOVE_DOWN"
    bound = f"abs <= {guide.max_offset:g}"
    return (
        QualityMeasure(
            "guide_fill",
            fill,
            f"<= {guide.max_fill:g}",
            fill <= guide.max_fill,
            None if fill <= guide.max_fill else "TOO_CLOSE",
        ),
        QualityMeasure("guide_offset_x", dx, bound, sideways is None, sideways),
        QualityMeasure("guide_offset_y", dy, bound, upright is None, upright),
    )


def _ratio(
    points: np.ndarray, upper: tuple[int, ...], lower: tuple[int, ...], ends: tuple[int, int]
) -> float:
    width = float(np.linalg.norm(points[ends[0]] - points[ends[1]]))
    if width < 1e-6:
        return 0.0
    gaps = np.linalg.norm(points[list(upper)] - points[list(lower)], axis=1)
    return float(gaps.mean()) / width


def eye_openness(points: np.ndarray) -> float:
    """Both eyes' aspect ratios averaged, from InsightFace's 106 landmarks (module docstring)."""
    pts = np.asarray(points, dtype=np.float64).reshape(106, 2)
    left = _ratio(pts, (41, 40, 42), (36, 33, 37), (35, 39))
    right = _ratio(pts, (95, 94, 96), (90, 87, 91), (89, 93))
    return (left + right) / 2


def mouth_opening(points: np.ndarray) -> float:
    """The inner lips' gap over the mouth's width, from InsightFace's 106 landmarks (module docstring)."""
    pts = np.asarray(points, dtype=np.float64).reshape(106, 2)
    return _ratio(pts, (66, 62, 70), (54, 60, 57), (52, 61))


def assess_live(
    image_bgr: np.ndarray,
    face: Face,
    limits: QualityLimits | None = None,
    *,
    guide: FaceGuide | None = None,
    landmarks: Callable[[np.ndarray, Face], np.ndarray] | None = None,
) -> QualityReport:
    """The live capture's judgement, in coaching order: the face against the ``guide`` (TOO_CLOSE,
    MOVE_LEFT / RIGHT / UP / DOWN), then :func:`assess`, then, only when all of that passed (the landmark
    model costs more than the rest together), ``eye_openness`` (EYES_CLOSED) and ``mouth_opening``
    (MOUTH_OPEN) from ``landmarks(image, face)`` (106 points, e.g. ``FaceEngine.landmarks``)."""
    limits = limits or QualityLimits()
    placed = guide_measures(face.box, np.asarray(image_bgr).shape, guide) if guide is not None else ()
    report = QualityReport((*placed, *assess(image_bgr, face, limits).measures))
    if landmarks is None or not report.passed:
        return report
    points = landmarks(image_bgr, face)
    eyes, mouth = eye_openness(points), mouth_opening(points)
    return QualityReport(
        (
            *report.measures,
            _at_least("eye_openness", eyes, limits.min_eye_openness, "EYES_CLOSED"),
            QualityMeasure(
                "mouth_opening",
                mouth,
                f"<= {limits.max_mouth_opening:g}",
                mouth <= limits.max_mouth_opening,
                None if mouth <= limits.max_mouth_opening else "MOUTH_OPEN",
            ),
        )
    )
