"""FAISS indexes of one watchlist: exact inner-product search for small lists, HNSW above.

Both kinds sit in an ``IndexIDMap2`` so every vector carries the entry's stable 64-bit id. The flat index
removes vectors for real; HNSW cannot, so a removed entry stays in the graph as a *tombstone* that searches
exclude through an id selector, and the store rebuilds the graph once tombstones pass a fraction of it.
Vectors are unit-norm, so inner product is cosine similarity for both kinds.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import faiss
import numpy as np

from matcher.errors import TemplateMismatchError

Kind = Literal["flat", "hnsw"]

EXACT_MAX_ENTRIES = 50_000  # exact search stays under ~3 ms on 2 cores up to here (see bench-search)


@dataclass(frozen=True)
class HnswParams:
    m: int = 32  # graph degree; 2*M links per vector on the base layer (256 bytes at M=32)
    ef_construction: int = 80
    ef_search: int = 96


DEFAULT_HNSW = HnswParams()


def choose_kind(n_entries: int, exact_max: int = EXACT_MAX_ENTRIES) -> Kind:
    return "flat" if n_entries <= exact_max else "hnsw"


def new_index(dim: int, kind: Kind, hnsw: HnswParams = DEFAULT_HNSW) -> faiss.IndexIDMap2:
    if kind == "flat":
        inner = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dim, hnsw.m, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = hnsw.ef_construction
        inner.hnsw.efSearch = hnsw.ef_search
    else:
        raise ValueError(f"unknown index kind {kind!r}")
    return faiss.IndexIDMap2(inner)


def kind_of(index: faiss.Index) -> Kind:
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    if isinstance(inner, faiss.IndexFlat):
        return "flat"
    if isinstance(inner, faiss.IndexHNSW):
        return "hnsw"
    raise TemplateMismatchError(f"unsupported watchlist index type {type(inner).__name__}")


def build(ids: np.ndarray, vectors: np.ndarray, kind: Kind, hnsw: HnswParams = DEFAULT_HNSW) -> faiss.Index:
    """A new index of ``kind`` holding ``vectors`` (N x d float32, unit-norm) under ``ids`` (int64)."""
    vectors = check_vectors(vectors)
    index = new_index(vectors.shape[1], kind, hnsw)
    if len(ids):
        index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
    return index


def check_vectors(vectors: np.ndarray, dim: int | None = None) -> np.ndarray:
    """Contiguous float32 N x d, finite, unit-norm (1e-3 tolerance); TemplateMismatchError otherwise."""
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    if v.ndim != 2:
        raise TemplateMismatchError(f"expected a 2-d array of templates, got shape {v.shape}")
    if dim is not None and v.shape[1] != dim:
        raise TemplateMismatchError(f"template dimension {v.shape[1]} does not match the list's {dim}")
    if not np.all(np.isfinite(v)):
        raise TemplateMismatchError("template holds non-finite values")
    norms = np.linalg.norm(v, axis=1)
    if len(v) and np.max(np.abs(norms - 1.0)) > 1e-3:
        raise TemplateMismatchError("templates must be unit-norm (as the engine makes them)")
    return v


def ids_of(index: faiss.IndexIDMap2) -> np.ndarray:
    """All ids stored in the index, tombstones included."""
    return faiss.vector_to_array(index.id_map).astype(np.int64, copy=False)


def vectors_of(index: faiss.IndexIDMap2) -> np.ndarray:
    """All stored vectors, in the order of ``ids_of``."""
    n = index.ntotal
    inner = faiss.downcast_index(index.index)
    return inner.reconstruct_n(0, n) if n else np.zeros((0, index.d), np.float32)


def remove(index: faiss.IndexIDMap2, ids: np.ndarray) -> bool:
    """Remove ``ids`` for real when the kind supports it; False when they must stay as tombstones (HNSW)."""
    if kind_of(index) == "flat":
        index.remove_ids(faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64)))
        return True
    return False


def search(
    index: faiss.IndexIDMap2,
    queries: np.ndarray,
    k: int,
    *,
    exclude: faiss.IDSelector | None = None,
    ef_search: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` cosine scores and ids per query, skipping ids the ``exclude`` selector rejects.

    Thread-safe: a fresh SearchParameters object per call (IndexIDMap2 rewrites the selector inside it).
    Missing results have id -1.
    """
    q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, index.d)
    k = max(1, min(k, index.ntotal)) if index.ntotal else 1
    if kind_of(index) == "hnsw":
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(ef_search or DEFAULT_HNSW.ef_search, k)
    else:
        params = faiss.SearchParameters()
    if exclude is not None:
        params.sel = exclude
    scores, ids = index.search(q, k, params=params)
    return scores, ids


def write_atomic(index: faiss.Index, path: Path, seal: Callable[[bytes], bytes] | None = None) -> str:
    """Write beside the final name, fsync, rename, fsync the folder: a crash leaves old or new, never half.

    Returns the sha256 of the bytes on disk (the store checks it on every load).
    """
    data: bytes | memoryview = memoryview(faiss.serialize_index(index))
    if seal is not None:
        data = seal(bytes(data))
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return hashlib.sha256(data).hexdigest()


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def deserialize(data: bytes) -> faiss.IndexIDMap2:
    index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))  # already downcast by faiss
    if not isinstance(index, faiss.IndexIDMap2):
        raise TemplateMismatchError("watchlist index file does not hold an id-mapped index")
    kind_of(index)
    return index
