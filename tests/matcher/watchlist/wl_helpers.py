"""Helpers for watchlist tests: synthetic unit-norm templates (no face models needed)."""

from __future__ import annotations

import numpy as np

from matcher.types import Template
from matcher.watchlist import NewEntry

MODEL = "testnet@0123456789ab"
TABLE = {10.0**-k: k / 10 for k in range(2, 9)}  # 1e-2 -> 0.2 ... 1e-8 -> 0.8, like a calibrated curve


def unit(rng: np.random.Generator, n: int, dim: int = 512) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def mate(vector: np.ndarray, cosine: float, rng: np.random.Generator) -> Template:
    """A template at exactly ``cosine`` similarity to ``vector`` (a genuine-like probe)."""
    noise = rng.standard_normal(vector.shape).astype(np.float32)
    noise -= noise.dot(vector) * vector
    noise /= np.linalg.norm(noise)
    return Template(cosine * vector + np.sqrt(1 - cosine**2) * noise, MODEL)


def entries(vectors: np.ndarray, prefix: str = "P", **meta) -> list[NewEntry]:
    return [NewEntry(f"{prefix}{i:05d}", Template(v, MODEL), **meta) for i, v in enumerate(vectors)]
