"""Biometric core of the e-gate: detection, quality, alignment, embedding, comparison, watchlists. No Qt.

Importing the package loads no model: build a :class:`FaceEngine` with ``FaceEngine.load()``.
"""

from matcher.engine import FaceEngine
from matcher.errors import (
    ImageError,
    MatcherError,
    ModelError,
    MultipleFacesError,
    NoFaceError,
    PoorQualityError,
    TemplateMismatchError,
)
from matcher.types import Face, QualityMeasure, QualityReport, Template

__all__ = [
    "Face",
    "FaceEngine",
    "ImageError",
    "MatcherError",
    "ModelError",
    "MultipleFacesError",
    "NoFaceError",
    "PoorQualityError",
    "QualityMeasure",
    "QualityReport",
    "Template",
    "TemplateMismatchError",
]
