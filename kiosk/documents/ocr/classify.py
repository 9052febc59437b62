"""The MRZ character classifier: a small CNN (trained by this project, see ``train.py``) run with ONNX
Runtime, loaded from the model manifest and verified by its sha256 (``matcher.models`` helpers).

The entry lives under the manifest's ``ocr_models`` key (the face-model ``models`` section admits only
detector and embedder roles); ``matcher.models`` parses it with the other sections."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from matcher.errors import ModelError
from matcher.models import Manifest, ModelSpec, load_manifest, onnx_session, read_verified

ALPHABET = "<0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: Each class's value in a Doc 9303 check digit, modulo 10: classes of equal residue are invisible to it.
CHECK_RESIDUE = np.array([0 if c == "<" else int(c, 36) % 10 for c in ALPHABET])
MODEL_NAME = "mrz_ocr"


def ocr_model_spec(path: Path | None = None) -> tuple[ModelSpec, Manifest]:
    """The ``mrz_ocr`` entry of the manifest (default: EGATE_MODELS_MANIFEST or ``models/manifest.json``),
    parsed with every other section by :func:`matcher.models.load_manifest`."""
    manifest = load_manifest(path, verify=False)
    spec = manifest.ocr_models.get(MODEL_NAME)
    if spec is None:
        raise ModelError(f"model manifest {manifest.path}: no ocr_models.{MODEL_NAME} entry")
    if spec.params.get("alphabet", ALPHABET) != ALPHABET:
        raise ModelError(f"model {MODEL_NAME!r} in {manifest.path} was trained on another alphabet")
    return spec, manifest


class CharClassifier:
    """Per-cell class probabilities over :data:`ALPHABET`."""

    def __init__(self, model: Path | bytes, threads: int = 1) -> None:
        self._session = onnx_session(model, threads)
        self._input = self._session.get_inputs()[0].name

    @classmethod
    def from_manifest(cls, manifest: Path | None = None, threads: int = 1) -> CharClassifier:
        """Load the manifest's model after checking its size and sha256 (ModelError on any mismatch)."""
        spec, parsed = ocr_model_spec(manifest)
        return cls(read_verified(spec, parsed)[1], threads)  # the very bytes that were verified

    @classmethod
    @cache
    def default(cls) -> CharClassifier:
        """The default manifest's model, loaded once per process."""
        return cls.from_manifest()

    def probabilities(self, cells: np.ndarray) -> np.ndarray:
        """(N, H, W) ink cells -> (N, len(ALPHABET)) probabilities."""
        logits = self._session.run(None, {self._input: cells[:, None].astype(np.float32)})[0]
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)
