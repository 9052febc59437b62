"""FaceEngine: detection, face choice, alignment, embedding and comparison behind one small API.

Loading is explicit (``FaceEngine.load``), verified (sha256 of every model file against the manifest) and
reported (``engine.load_report`` and an INFO log line per model). Importing this module loads nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from matcher.align import align_face
from matcher.detect import Detector
from matcher.embed import ArcFaceEmbedder
from matcher.errors import (
    ImageError,
    ModelError,
    MultipleFacesError,
    NoFaceError,
    PoorQualityError,
    TemplateMismatchError,
)
from matcher.landmarks import Landmarks106
from matcher.liveness import MiniFASNet, PassiveLiveness
from matcher.models import Manifest, ModelSpec, interpolate_threshold, load_manifest, read_verified
from matcher.types import Face, QualityReport, Template

if TYPE_CHECKING:
    from matcher.quality import QualityLimits

log = logging.getLogger(__name__)

DEFAULT_MULTIPLE_FACE_RATIO = 0.5
# Second detection pass when the first finds nothing: border added around the image (fraction of its long
# side) and long side of the padded image after shrinking.
CONTEXT_BORDER = 0.25
CONTEXT_SIDE = 320


@dataclass(frozen=True)
class LoadedModel:
    """What was loaded, from where, verified how and how long it took: for logs and decision records."""

    role: str
    name: str
    model_id: str
    path: Path
    sha256: str
    licence: str
    load_ms: float


def _build_detector(spec: ModelSpec, model: bytes, threads: int | None) -> Detector:
    params = dict(spec.params)
    if spec.kind == "scrfd":
        from matcher.detect.scrfd import SCRFD

        return SCRFD(
            model,
            threads=threads,
            max_side=params.get("max_side", 640),
            score_threshold=params.get("score_threshold", 0.5),
            nms_iou=params.get("nms_iou", 0.4),
            strides=tuple(params.get("strides", (8, 16, 32))),
            anchors_per_cell=params.get("anchors_per_cell", 2),
            colour_order=spec.input.get("colour_order", "RGB"),
            mean=spec.input.get("mean", 127.5),
            std=spec.input.get("std", 128.0),
        )
    if spec.kind == "yunet":
        from matcher.detect.yunet import YuNet

        return YuNet(
            model,
            threads=threads,
            max_side=params.get("max_side", 640),
            score_threshold=params.get("score_threshold", 0.6),
            nms_iou=params.get("nms_iou", 0.3),
            top_k=params.get("top_k", 50),
        )
    raise ModelError(f"detector {spec.name!r} has unknown kind {spec.kind!r} (known: scrfd, yunet)")


def _build_embedder(spec: ModelSpec, model: bytes, threads: int | None) -> ArcFaceEmbedder:
    if spec.kind != "arcface":
        raise ModelError(f"embedder {spec.name!r} has unknown kind {spec.kind!r} (known: arcface)")
    size = spec.input.get("size", [112, 112])
    alignment_size = int((spec.alignment or {}).get("size", 112))
    if list(size) != [alignment_size, alignment_size]:
        raise ModelError(
            f"embedder {spec.name!r}: input size {size} differs from its alignment template size"
        )
    return ArcFaceEmbedder(
        model,
        threads=threads,
        size=alignment_size,
        colour_order=spec.input.get("colour_order", "RGB"),
        mean=spec.input.get("mean", 127.5),
        std=spec.input.get("std", 127.5),
    )


def _build_pad(spec: ModelSpec, model: bytes, threads: int | None, detector_kind: str) -> MiniFASNet:
    if spec.kind != "minifasnet":
        raise ModelError(f"PAD model {spec.name!r} has unknown kind {spec.kind!r} (known: minifasnet)")
    box_map = (spec.params.get("box_map") or {}).get(detector_kind)
    if box_map is None:
        raise ModelError(
            f"PAD model {spec.name!r} has no box mapping for {detector_kind} detector boxes "
            "(params.box_map): measure it against the reference crop before using this detector"
        )
    raw_bgr = (spec.input.get("colour_order"), spec.input.get("mean"), spec.input.get("std")) == ("BGR", 0, 1)
    if not raw_bgr:
        raise ModelError(f"PAD model {spec.name!r}: MiniFASNet takes raw BGR 0-255 (mean 0, std 1)")
    return MiniFASNet(
        model,
        crop_scale=spec.params["crop_scale"],
        box_map=tuple(box_map),
        threads=threads,
        size=int(spec.input.get("size", [80, 80])[0]),
        live_index=int(spec.params.get("live_index", 1)),
    )


def _build_landmarks(spec: ModelSpec, model: bytes, threads: int | None) -> Landmarks106:
    if spec.kind != "insightface_2d106":
        raise ModelError(
            f"landmark model {spec.name!r} has unknown kind {spec.kind!r} (known: insightface_2d106)"
        )
    return Landmarks106(
        model,
        threads=threads,
        size=int(spec.input.get("size", [192, 192])[0]),
        box_scale=float(spec.params.get("box_scale", 1.5)),
        colour_order=spec.input.get("colour_order", "RGB"),
        mean=spec.input.get("mean", 0.0),
        std=spec.input.get("std", 1.0),
    )


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Check an image array (BGR, BGRA or grey, uint8) and return it as HxWx3 BGR uint8."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ImageError("image must be a uint8 numpy array (BGR)")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ImageError(f"image must be H x W x 3 BGR, got shape {image.shape}")
    return image


class FaceEngine:
    """The matcher's face pipeline. Build it with :meth:`load`; it is not thread-safe (one per worker)."""

    def __init__(
        self,
        *,
        manifest: Manifest,
        detector_spec: ModelSpec,
        embedder_spec: ModelSpec,
        detector: Detector,
        embedder: ArcFaceEmbedder,
        flip_fusion: bool,
        multiple_face_ratio: float,
        load_report: tuple[LoadedModel, ...] = (),
        pad_specs: tuple[ModelSpec, ...] = (),
        passive_liveness: PassiveLiveness | None = None,
        landmark_spec: ModelSpec | None = None,
        landmark_model: Landmarks106 | None = None,
    ) -> None:
        if not 0.0 < multiple_face_ratio <= 1.0:
            raise ValueError(f"multiple_face_ratio must lie in (0, 1], got {multiple_face_ratio}")
        self.manifest = manifest
        self.detector_spec = detector_spec
        self.embedder_spec = embedder_spec
        self._detector = detector
        self._embedder = embedder
        self.flip_fusion = flip_fusion
        self.multiple_face_ratio = multiple_face_ratio
        self.load_report = load_report
        self.pad_specs = pad_specs
        self.passive_liveness = passive_liveness
        self.landmark_spec = landmark_spec
        self._landmarks = landmark_model
        self._template_name = str((embedder_spec.alignment or {}).get("template", "arcface_112"))

    @classmethod
    def load(
        cls,
        manifest: Manifest | Path | str | None = None,
        *,
        detector: str | None = None,
        threads: int | None = None,
        flip_fusion: bool | None = None,
        multiple_face_ratio: float = DEFAULT_MULTIPLE_FACE_RATIO,
        liveness: bool = False,
        landmarks: bool = False,
    ) -> FaceEngine:
        """Load the manifest's default embedder and ``detector`` (a manifest model name; default the
        manifest's default detector), each read once and sha256-verified, one CPU session per model.

        ``threads``: intra-op threads per session (None: onnxruntime's default, all cores).
        ``flip_fusion``: add the embedding of the mirrored face (None: the embedder's manifest
        ``params.flip_fusion``, default False). ``multiple_face_ratio``: see :meth:`select_face`.
        ``liveness``: also load every model of the manifest's ``pad_models`` for :meth:`liveness`.
        ``landmarks``: also load the manifest's landmark model (``landmark_models``) for :meth:`landmarks`.
        """
        if not isinstance(manifest, Manifest):
            manifest = load_manifest(Path(manifest) if manifest is not None else None)
        det_spec = manifest.get(detector) if detector else manifest.default("detector")
        if det_spec.role != "detector":
            raise ModelError(f"model {det_spec.name!r} is a {det_spec.role}, not a detector")
        emb_spec = manifest.default("embedder")
        pad_specs = tuple(manifest.pad_models.values()) if liveness else ()
        if liveness and not pad_specs:
            raise ModelError(f"manifest {manifest.path} lists no pad_models: liveness cannot be loaded")
        landmark_spec = next(iter(manifest.landmark_models.values()), None) if landmarks else None
        if landmarks and landmark_spec is None:
            raise ModelError(f"manifest {manifest.path} lists no landmark_models: landmarks cannot be loaded")
        report = []
        built = {}
        networks = []
        landmark_model = None
        for spec in (det_spec, emb_spec, *pad_specs, *([landmark_spec] if landmark_spec else [])):
            start = time.perf_counter()
            path, data = read_verified(spec, manifest)
            if spec.role == "pad":
                networks.append(_build_pad(spec, data, threads, det_spec.kind))
            elif spec.role == "landmarks":
                landmark_model = _build_landmarks(spec, data, threads)
            else:
                build = _build_detector if spec.role == "detector" else _build_embedder
                built[spec.role] = build(spec, data, threads)
            ms = (time.perf_counter() - start) * 1000
            report.append(
                LoadedModel(spec.role, spec.name, spec.model_id, path, spec.sha256, spec.licence, ms)
            )
            log.info("loaded %s %s from %s (sha256 verified) in %.0f ms", spec.role, spec.model_id, path, ms)
        if flip_fusion is None:
            flip_fusion = bool(emb_spec.params.get("flip_fusion", False))
        engine = cls(
            manifest=manifest,
            detector_spec=det_spec,
            embedder_spec=emb_spec,
            detector=built["detector"],
            embedder=built["embedder"],
            flip_fusion=flip_fusion,
            multiple_face_ratio=multiple_face_ratio,
            load_report=tuple(report),
            pad_specs=pad_specs,
            passive_liveness=PassiveLiveness(networks) if networks else None,
            landmark_spec=landmark_spec,
            landmark_model=landmark_model,
        )
        engine._warm_up()
        return engine

    def _warm_up(self) -> None:
        """One inference per session, so that the first real request does not pay onnxruntime's set-up."""
        blank = np.zeros((160, 160, 3), dtype=np.uint8)
        self._detector.infer(blank)
        size = self._embedder.size
        self.embed(np.full((size, size, 3), 128, dtype=np.uint8))
        if self.passive_liveness is not None:
            face = Face(box=(40.0, 40.0, 120.0, 120.0), landmarks=np.zeros((5, 2), np.float32), score=1.0)
            self.passive_liveness.score(blank, face)
        if self._landmarks is not None:
            self._landmarks.infer(blank, (40.0, 40.0, 120.0, 120.0))

    @property
    def model_id(self) -> str:
        """Id of the embedder; every template this engine makes carries it."""
        return self.embedder_spec.model_id

    @property
    def model_versions(self) -> dict[str, str]:
        """Role -> model id of every model in use, for decision records (``pad``: the PAD models, comma
        separated, when liveness is loaded)."""
        versions = {"detector": self.detector_spec.model_id, "embedder": self.embedder_spec.model_id}
        if self.pad_specs:
            versions["pad"] = ",".join(spec.model_id for spec in self.pad_specs)
        if self.landmark_spec is not None:
            versions["landmarks"] = self.landmark_spec.model_id
        return versions

    # -- stages -------------------------------------------------------------------------------------------

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        """Every face the detector finds, largest first, with box, five landmarks and score."""
        image_bgr = as_bgr(image_bgr)
        faces = self._detector.infer(image_bgr) or self._detect_in_context(image_bgr)
        return sorted(faces, key=lambda f: -f.area)

    def _detect_in_context(self, image_bgr: np.ndarray) -> list[Face]:
        """Second look when nothing was found. A face filling the whole picture (a tightly cropped portrait)
        lacks the surroundings the detector learnt with and can be missed: pad the image with a grey border
        and shrink it, then map the faces back to the original coordinates."""
        h, w = image_bgr.shape[:2]
        border = round(CONTEXT_BORDER * max(h, w))
        padded = cv2.copyMakeBorder(
            image_bgr, border, border, border, border, cv2.BORDER_CONSTANT, value=(127,) * 3
        )
        scale = min(1.0, CONTEXT_SIDE / max(padded.shape[:2]))
        if scale < 1.0:
            size = (max(1, round(padded.shape[1] * scale)), max(1, round(padded.shape[0] * scale)))
            padded = cv2.resize(padded, size, interpolation=cv2.INTER_AREA)
        faces = []
        for face in self._detector.infer(padded):
            x1, y1, x2, y2 = (v / scale - border for v in face.box)
            box = (max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2))
            landmarks = (face.landmarks / scale - border).astype(np.float32)
            faces.append(Face(box=box, landmarks=landmarks, score=face.score))
        return faces

    def select_face(self, faces: list[Face], image_shape: tuple[int, ...]) -> Face:
        """The face to use: the one with the largest centrality-weighted area (area times one minus its
        centre's distance from the image centre over the half-diagonal). NoFaceError when there is no face;
        MultipleFacesError when another face's weighted area is at least ``multiple_face_ratio`` of the
        chosen one's, i.e. when it is not clear who is the subject (e.g. two people side by side)."""
        if not faces:
            raise NoFaceError("no face found in the image")
        h, w = image_shape[:2]
        half_diagonal = 0.5 * float(np.hypot(w, h))

        def weight(face: Face) -> float:
            cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
            off_centre = min(1.0, float(np.hypot(cx - w / 2, cy - h / 2)) / half_diagonal)
            return face.area * (1.0 - off_centre)

        weights = [weight(f) for f in faces]
        best = int(np.argmax(weights))
        bar = self.multiple_face_ratio * max(weights[best], 1e-9)
        rivals = sum(1 for i, wt in enumerate(weights) if i != best and wt >= bar)
        if rivals:
            raise MultipleFacesError(
                f"{rivals + 1} faces of comparable size and position; exactly one person must be in view"
            )
        return faces[best]

    def align(self, image_bgr: np.ndarray, face: Face) -> np.ndarray:
        """The face warped onto the embedder's five-point template (e.g. 112x112 BGR)."""
        return align_face(image_bgr, face.landmarks, self._template_name)

    def embed(self, aligned_bgr: np.ndarray) -> np.ndarray:
        """Unit-norm float32 embedding of one aligned face (with its mirror image added if flip fusion)."""
        batch = aligned_bgr[None]
        if self.flip_fusion:
            batch = np.concatenate([batch, aligned_bgr[None, :, ::-1]])
        vector = self._embedder.infer(np.ascontiguousarray(batch)).sum(axis=0)
        norm = float(np.linalg.norm(vector))
        if not np.isfinite(norm) or norm <= 1e-12:
            raise ModelError(f"embedder {self.model_id} produced a degenerate embedding")
        return (vector / norm).astype(np.float32)

    def liveness(self, image_bgr: np.ndarray, face: Face) -> float:
        """Passive single-frame liveness of a detected face: the PAD models' live probabilities averaged, in
        [0, 1] (higher = more likely a live face). One signal, never a decision alone: thresholds belong to
        the caller, set on genuine frames of the kiosk's own camera. ModelError unless loaded with
        ``FaceEngine.load(liveness=True)``."""
        if self.passive_liveness is None:
            raise ModelError("liveness models are not loaded: use FaceEngine.load(liveness=True)")
        return self.passive_liveness.score(as_bgr(image_bgr), face)

    @property
    def has_landmarks(self) -> bool:
        """Whether :meth:`landmarks` can run (``FaceEngine.load(landmarks=True)``)."""
        return self._landmarks is not None

    def landmarks(self, image_bgr: np.ndarray, face: Face) -> np.ndarray:
        """InsightFace's 106 landmarks of a detected face (float32 106 x 2, image coordinates), for the live
        capture's eyes and mouth (``matcher.quality.assess_live``). ModelError unless loaded with
        ``FaceEngine.load(landmarks=True)``."""
        if self._landmarks is None:
            raise ModelError("the landmark model is not loaded: use FaceEngine.load(landmarks=True)")
        return self._landmarks.infer(as_bgr(image_bgr), face.box)

    # -- templates and comparison ---------------------------------------------------------------------------

    def template(self, image_bgr: np.ndarray, *, limits: QualityLimits | None = None) -> Template:
        """Template of the one usable face of the image (see :meth:`select_face`); with ``limits`` the face
        must also pass the quality checks (PoorQualityError otherwise)."""
        image_bgr = as_bgr(image_bgr)
        face = self.select_face(self.detect(image_bgr), image_bgr.shape)
        return self.template_for_face(image_bgr, face, limits=limits)

    def template_for_face(
        self, image_bgr: np.ndarray, face: Face, *, limits: QualityLimits | None = None
    ) -> Template:
        """Template of a face the caller chose; with ``limits`` its quality report is checked and attached."""
        image_bgr = as_bgr(image_bgr)
        report: QualityReport | None = None
        if limits is not None:
            from matcher.quality import assess

            report = assess(image_bgr, face, limits)
            if not report.passed:
                raise PoorQualityError(f"face quality too poor: {', '.join(report.reasons)}", report)
        vector = self.embed(self.align(image_bgr, face))
        return Template(vector=vector, model_id=self.model_id, quality=report, face=face)

    def compare(self, t1: Template, t2: Template) -> float:
        """Cosine similarity of two templates of this engine's embedder, in [-1, 1]; higher = more alike."""
        t1.check_compatible(t2)
        if t1.model_id != self.model_id:
            raise TemplateMismatchError(
                f"templates come from {t1.model_id!r}, this engine uses {self.model_id!r}"
            )
        return float(np.clip(np.dot(t1.vector, t2.vector), -1.0, 1.0))

    def threshold(self, fmr: float = 1e-3) -> float:
        """Score threshold for the false match rate ``fmr``, from the embedder's calibrated table
        (log-linear interpolation between calibrated points). ModelError when uncalibrated, when the
        calibration was made for another model file or flip-fusion setting, or ``fmr`` is out of range."""
        spec = self.embedder_spec
        table = spec.thresholds or {}
        if not table.get("fmr"):
            raise ModelError(
                f"embedder {spec.model_id} has no calibrated thresholds in {self.manifest.path}; "
                "run the calibration first"
            )
        if table.get("model_sha256", spec.sha256) != spec.sha256:
            raise ModelError(
                f"thresholds in {self.manifest.path} were calibrated for another {spec.name} file "
                f"(sha256 {table['model_sha256']}); recalibrate for sha256 {spec.sha256}"
            )
        if "flip_fusion" in table and bool(table["flip_fusion"]) != self.flip_fusion:
            raise ModelError(
                f"thresholds were calibrated with flip_fusion={bool(table['flip_fusion'])}, "
                f"this engine runs with flip_fusion={self.flip_fusion}"
            )
        try:
            return interpolate_threshold(table["fmr"], float(fmr))
        except ValueError as exc:
            raise ModelError(f"no threshold for {spec.model_id}: {exc}") from None
