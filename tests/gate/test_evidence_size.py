"""What a referral seals for the officer: the live face and the document portrait as the case view shows them
(at most 320 px on the long side, JPEG q85), liveness-alarm frames at full size."""

from __future__ import annotations

import cv2
import numpy as np
from skimage.data import astronaut

from kiosk.gate.assemble import EVIDENCE_LONG_SIDE, make_evidence
from kiosk.store.evidence import unpack_frames


def _decoded(data: bytes | None) -> np.ndarray:
    assert data is not None and data[:2] == b"\xff\xd8"  # JPEG
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_faces_are_sealed_at_the_size_the_officer_views_them() -> None:
    face = np.ascontiguousarray(astronaut()[..., ::-1])  # 512 x 512, a real face
    portrait = cv2.resize(face, (360, 480))
    small = cv2.resize(face, (150, 200))
    frames = [cv2.resize(face, (640, 480))] * 2
    evidence = make_evidence(face, None, frames, portrait, {"document_number": "X1"})
    assert _decoded(evidence.live_face).shape[:2] == (EVIDENCE_LONG_SIDE, EVIDENCE_LONG_SIDE)
    assert _decoded(evidence.document_portrait).shape[:2] == (EVIDENCE_LONG_SIDE, 240)
    full_size = cv2.imencode(".jpg", portrait, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    assert len(evidence.document_portrait) < 0.6 * len(full_size)  # the bytes each referral fsyncs
    assert all(_decoded(f).shape[:2] == (480, 640) for f in unpack_frames(evidence.capture_frames))
    kept = make_evidence(small, None, (), small, {})  # never enlarged
    assert _decoded(kept.live_face).shape[:2] == (200, 150) and kept.document_data is None
