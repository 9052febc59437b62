"""Biometric core of the e-gate: detection, quality, alignment, embedding, comparison, watchlists. No Qt."""

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
