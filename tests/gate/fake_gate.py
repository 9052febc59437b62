"""A scripted gate for the state-machine tests: a fake face engine, document reader and decision log that
do what the test frames say, so the real ``GateFlow`` runs in milliseconds on fake time.

Frames: ``face_frame(identity)`` shows one face of that identity (a textured frame passing the real quality
measures), ``blank_frame()`` shows none. Presentations: the name says what the reader finds: ``unreadable``
raises DocumentError, ``expired`` reads with a failed expiry check, anything else reads with the portrait of
identity 1."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace
from typing import Any

import numpy as np

from kiosk.decision import Decision
from kiosk.documents.checks import Check, DocumentError
from kiosk.documents.presentation import Presentation
from matcher.errors import NoFaceError
from matcher.types import Face

# ArcFace's five reference points (112 x 112), scaled to a frontal face about 220 px wide
_POINTS = np.array([[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]], np.float32)
FACE = Face(box=(210.0, 130.0, 430.0, 390.0), landmarks=_POINTS * 2.0 + np.float32([208, 130]), score=0.95)


def face_frame(identity: int = 1) -> np.ndarray:
    """A frame showing one face of ``identity`` (grey 8-pixel blocks: sharp, mid-grey, contrasted)."""
    blocks = np.random.default_rng(identity).integers(60, 196, (60, 80), dtype=np.uint8)
    frame = np.repeat(np.kron(blocks, np.ones((8, 8), np.uint8))[:, :, None], 3, axis=2)
    frame[0, 0, 0] = identity
    return frame


def blank_frame() -> np.ndarray:
    return np.full((480, 640, 3), 128, np.uint8)


@dataclass(frozen=True)
class FakeTemplate:
    identity: int
    face: Face | None = None


class FakeEngine:
    """Detects FACE on any textured frame; a template's identity is the frame's first byte."""

    passive_liveness = None
    has_landmarks = False

    def __init__(self) -> None:
        self.model_versions = {"detector": "fake", "embedder": "fake"}

    def threshold(self, fmr: float) -> float:
        return 0.5

    def detect(self, frame: np.ndarray) -> list[Face]:
        return [] if float(frame.std()) == 0.0 else [FACE]

    def select_face(self, faces: list[Face], shape: tuple[int, ...]) -> Face:
        if not faces:
            raise NoFaceError("no face")
        return faces[0]

    def template(self, image: np.ndarray, *, limits: Any = None) -> FakeTemplate:
        return FakeTemplate(int(image[0, 0, 0]))

    def template_for_face(self, frame: np.ndarray, face: Face) -> FakeTemplate:
        return FakeTemplate(int(frame[0, 0, 0]), face)

    def compare(self, a: FakeTemplate, b: FakeTemplate) -> float:
        return 1.0 if a.identity == b.identity else 0.0


def read_document(presentation: Presentation, today: date) -> Any:
    """The scripted document reader (see the module docstring)."""
    if presentation.name == "unreadable":
        raise DocumentError("no MRZ found")
    mrz = SimpleNamespace(
        document_number="X1234567",
        issuing_state="UTO",
        document_code="P",
        nationality="UTO",
        date_of_birth=date(2015, 6, 1) if presentation.name == "minor" else date(1980, 6, 1),
    )
    expired = presentation.name == "expired"
    return SimpleNamespace(
        mrz=mrz,
        portrait=face_frame(1),
        portrait_source="chip",
        checks=(Check("doc.not_expired", not expired),),
    )


@dataclass
class FakeDecisionLog:
    """Records what would be logged."""

    appended: list[Decision] = field(default_factory=list)

    def append(self, decision: Decision, *, evidence: Any = None) -> str:
        self.appended.append(decision)
        return decision.id


@dataclass
class FakeReader:
    """A document reader holding a queue of presentations; records which were handed back (done)."""

    queue: list[Presentation] = field(default_factory=list)
    handed_back: list[str] = field(default_factory=list)
    polls: int = 0

    def poll(self) -> Presentation | None:
        self.polls += 1
        return self.queue.pop(0) if self.queue else None

    def done(self, presentation: Presentation) -> None:
        self.handed_back.append(presentation.name)

    def close(self) -> None:
        pass
