"""Errors of the biometric core. Each carries a stable machine-readable ``code`` the policy and UI act on."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matcher.types import QualityReport


class MatcherError(Exception):
    """Base of every error the matcher raises on purpose."""

    code = "MATCHER_ERROR"


class ImageError(MatcherError):
    """The image cannot be decoded or is not a usable picture (corrupt, truncated, too large, empty)."""

    code = "IMAGE_UNREADABLE"


class ModelError(MatcherError):
    """A model file is missing, altered (sha256 mismatch) or its manifest entry is invalid."""

    code = "MODEL_INVALID"


class TemplateMismatchError(MatcherError):
    """Two templates (or a template and an index) come from different models or dimensions."""

    code = "TEMPLATE_MISMATCH"


class NoFaceError(MatcherError):
    code = "NO_FACE"


class MultipleFacesError(MatcherError):
    code = "MULTIPLE_FACES"


class PoorQualityError(MatcherError):
    """A face was found but fails a quality limit; ``report`` says which, with reason codes."""

    code = "POOR_QUALITY"

    def __init__(self, message: str, report: QualityReport) -> None:
        super().__init__(message)
        self.report = report
