"""FaceEngine end to end: face choice, templates, comparison of genuine and impostor pairs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from matcher import (
    FaceEngine,
    MultipleFacesError,
    NoFaceError,
    PoorQualityError,
    Template,
    TemplateMismatchError,
)
from matcher.quality import QualityLimits


def _side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 40) -> np.ndarray:
    height = max(left.shape[0], right.shape[0])
    canvas = np.full((height, left.shape[1] + right.shape[1] + gap, 3), 100, dtype=np.uint8)
    canvas[: left.shape[0], : left.shape[1]] = left
    canvas[: right.shape[0], left.shape[1] + gap :] = right
    return canvas


def _variants(image: np.ndarray) -> list[np.ndarray]:
    """Augmented captures of the same face: mirrored, smaller, rotated, darker, JPEG-compressed."""
    h, w = image.shape[:2]
    rotated = cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), 12, 1.0), (w, h))
    darker = cv2.convertScaleAbs(image, alpha=0.6, beta=-10)
    _, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 25])
    return [
        cv2.flip(image, 1),
        cv2.resize(image, (w * 3 // 5, h * 3 // 5)),
        rotated,
        darker,
        cv2.imdecode(jpeg, 1),
    ]


def test_template_is_unit_norm_float32_tagged_with_the_model(
    engine: FaceEngine, astronaut: np.ndarray
) -> None:
    template = engine.template(astronaut)
    assert template.vector.dtype == np.float32 and template.dim == 512
    assert np.linalg.norm(template.vector) == pytest.approx(1.0, abs=1e-5)
    assert template.model_id == engine.model_id == engine.model_versions["embedder"]
    restored = Template.from_bytes(template.to_bytes())
    assert restored.model_id == template.model_id and np.array_equal(restored.vector, template.vector)


def test_genuine_pairs_score_above_impostor_pairs(
    engine: FaceEngine, astronaut: np.ndarray, grace_hopper: np.ndarray
) -> None:
    a, g = engine.template(astronaut), engine.template(grace_hopper)
    genuine = [engine.compare(a, engine.template(v)) for v in _variants(astronaut)]
    genuine += [engine.compare(g, engine.template(v)) for v in _variants(grace_hopper)]
    impostor = [engine.compare(a, g)] + [
        engine.compare(a, engine.template(v)) for v in _variants(grace_hopper)
    ]
    assert min(genuine) > 0.5, genuine
    assert max(impostor) < 0.25, impostor
    assert engine.compare(a, a) == pytest.approx(1.0, abs=1e-5)


def test_two_comparable_faces_raise_multiple_faces(
    engine: FaceEngine, astronaut: np.ndarray, grace_hopper: np.ndarray
) -> None:
    # Scaled so both faces are about 90 px wide: two travellers side by side.
    pair = _side_by_side(astronaut, cv2.resize(grace_hopper, (272, 318), interpolation=cv2.INTER_AREA))
    assert len(engine.detect(pair)) == 2
    with pytest.raises(MultipleFacesError):
        engine.template(pair)


def test_a_small_face_at_the_edge_does_not_block_the_subject(
    engine: FaceEngine, astronaut: np.ndarray, grace_hopper: np.ndarray
) -> None:
    frame = np.full((700, 900, 3), 100, dtype=np.uint8)
    frame[100:700, 200:712] = grace_hopper
    frame[0:205, 0:205] = cv2.resize(astronaut, (205, 205))  # a bystander, a third of the size, in a corner
    assert len(engine.detect(frame)) == 2
    chosen = engine.template(frame)
    assert engine.compare(chosen, engine.template(grace_hopper)) > 0.8


def test_no_face_raises(engine: FaceEngine) -> None:
    with pytest.raises(NoFaceError):
        engine.template(np.full((300, 300, 3), 200, dtype=np.uint8))


def test_quality_limits_are_applied_and_reported(engine: FaceEngine, astronaut: np.ndarray) -> None:
    template = engine.template(astronaut, limits=QualityLimits.for_enrolment())
    assert template.quality is not None and template.quality.passed
    tiny = cv2.resize(astronaut, (160, 160), interpolation=cv2.INTER_AREA)
    with pytest.raises(PoorQualityError) as info:
        engine.template(tiny, limits=QualityLimits.for_live_capture())
    assert "FACE_TOO_SMALL" in info.value.report.reasons


def test_templates_of_another_model_are_refused(engine: FaceEngine, astronaut: np.ndarray) -> None:
    template = engine.template(astronaut)
    other = Template(vector=template.vector, model_id="other_model@000000000000")
    with pytest.raises(TemplateMismatchError):
        engine.compare(template, other)
    with pytest.raises(TemplateMismatchError):
        engine.compare(other, other)


def test_flip_fusion_keeps_genuine_above_impostor(astronaut: np.ndarray, grace_hopper: np.ndarray) -> None:
    fused = FaceEngine.load(threads=1, flip_fusion=True)
    a, g = fused.template(astronaut), fused.template(grace_hopper)
    assert np.linalg.norm(a.vector) == pytest.approx(1.0, abs=1e-5)
    # With flip fusion the template of a mirrored image equals that of the original, up to interpolation.
    assert fused.compare(a, fused.template(cv2.flip(astronaut, 1))) > 0.95
    assert fused.compare(a, g) < 0.25
