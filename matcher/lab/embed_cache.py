"""One template per image of a data set, embedded once: cached on disk (keyed by the pipeline configuration
and the file's content hash) and embedded in parallel worker processes when the cache misses."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from matcher.engine import FaceEngine
from matcher.errors import MatcherError, MultipleFacesError
from matcher.imageio import load_image
from matcher.lab.lfw import (
    LfwDataset,
)
from matcher.quality import measure
from matcher.types import Face

CACHE_ENV = "EGATE_CACHE_DIR"
_PIPELINE_VERSION = 2  # bump when the way templates are made changes without a model change


@dataclass(frozen=True)
class Embeddings:
    """One template per image (zero vector where enrolment failed), its status ("ok" or an error code such
    as NO_FACE, MULTIPLE_FACES, IMAGE_UNREADABLE) and the quality measure values of the chosen face."""

    vectors: np.ndarray
    status: tuple[str, ...]
    quality: tuple[dict[str, float] | None, ...]
    model_id: str
    config: dict[str, Any]
    embedded: int  # images embedded in this run (the rest came from the cache)
    seconds: float  # time spent embedding them

    def enrolled(self, *, several_faces_fail: bool = False) -> np.ndarray:
        """Which images have a template. LFW-format data sets put the subject in the centre, so by default
        an image with several faces is enrolled with its central face; a kiosk refuses it instead
        (``several_faces_fail``), which is the system-level view."""
        accepted = {"ok"} if several_faces_fail else {"ok", "MULTIPLE_FACES"}
        return np.array([s in accepted for s in self.status], dtype=bool)

    def failures(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.status:
            if s != "ok":
                out[s] = out.get(s, 0) + 1
        return out


def default_cache_dir() -> Path:
    """``$EGATE_CACHE_DIR``, else ``$XDG_CACHE_HOME/egate``, else ``~/.cache/egate``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "egate"


def pipeline_config(engine: FaceEngine) -> dict[str, Any]:
    """Everything that decides a template's value; the cache is keyed by it."""
    det, emb = engine.detector_spec, engine.embedder_spec
    return {
        "pipeline": _PIPELINE_VERSION,
        "detector": det.model_id,
        "detector_params": det.params,
        "detector_input": det.input,
        "embedder": emb.model_id,
        "embedder_input": emb.input,
        "alignment": emb.alignment,
        "flip_fusion": engine.flip_fusion,
        "multiple_face_ratio": engine.multiple_face_ratio,
    }


class TemplateCache:
    """SQLite file of templates keyed by image content sha256, one file per pipeline configuration."""

    def __init__(self, cache_dir: Path, config: dict[str, Any]) -> None:
        key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.path = cache_dir / f"templates-{key}.sqlite"
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS templates (sha256 TEXT PRIMARY KEY, status TEXT NOT NULL, "
            "vector BLOB, quality TEXT)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS config (json TEXT)")
        if self._db.execute("SELECT count(*) FROM config").fetchone()[0] == 0:
            self._db.execute("INSERT INTO config VALUES (?)", (json.dumps(config, sort_keys=True),))
        self._db.commit()

    def get_many(self, digests: Iterable[str]) -> dict[str, tuple[str, bytes | None, str | None]]:
        wanted = list(digests)
        out: dict[str, tuple[str, bytes | None, str | None]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT sha256, status, vector, quality FROM templates WHERE sha256 IN ({marks})", chunk
            )
            for digest, status, vector, quality in rows:
                out[digest] = (status, vector, quality)
        return out

    def put_many(self, rows: list[tuple[str, str, bytes | None, str | None]]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO templates VALUES (?, ?, ?, ?)", rows)

    def close(self) -> None:
        self._db.close()


def embed_dataset(
    dataset: LfwDataset,
    engine: FaceEngine,
    *,
    cache_dir: Path | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Embeddings:
    """Template of every image of ``dataset`` (the face :meth:`FaceEngine.select_face` picks, no quality
    gate), read from or added to the on-disk cache. Failures are recorded with their error code.

    ``workers``: processes embedding the images missing from the cache, each with its own one-thread
    engine loaded from the same manifest (None: one per core when more than 200 images are missing).
    ``progress(done, missing)`` is called every 500 embedded images."""
    config = pipeline_config(engine)
    cache = TemplateCache(cache_dir or default_cache_dir(), config)
    try:
        digests = [hashlib.sha256(path.read_bytes()).hexdigest() for path in dataset.images]
        cached = cache.get_many(set(digests))
        missing = {d: p for d, p in zip(digests, dataset.images, strict=True) if d not in cached}
        pending: list[tuple[str, str, bytes | None, str | None]] = []
        start = time.perf_counter()
        for done, (digest, row) in enumerate(_embed_missing(engine, missing, workers), 1):
            cached[digest] = row
            pending.append((digest, *row))
            if len(pending) >= 256:
                cache.put_many(pending)
                pending.clear()
            if progress is not None and done % 500 == 0:
                progress(done, len(missing))
        if pending:
            cache.put_many(pending)
        seconds = time.perf_counter() - start
    finally:
        cache.close()
    rows = [cached[d] for d in digests]
    dim = next((len(vector) // 4 for _, vector, _ in rows if vector is not None), 0)
    vectors = np.zeros((len(rows), dim), dtype=np.float32)
    for i, (_, vector, _) in enumerate(rows):
        if vector is not None:
            vectors[i] = np.frombuffer(vector, dtype="<f4")
    status = tuple(r[0] for r in rows)
    quality = tuple(json.loads(r[2]) if r[2] else None for r in rows)
    return Embeddings(vectors, status, quality, engine.model_id, config, len(missing), seconds)


def _embed_missing(
    engine: FaceEngine, missing: dict[str, Path], workers: int | None
) -> Iterator[tuple[str, tuple[str, bytes | None, str | None]]]:
    if workers is None:
        workers = (os.cpu_count() or 1) if len(missing) > 200 else 1
    if workers <= 1:
        for digest, path in missing.items():
            yield digest, _embed_one(engine, path.read_bytes())
        return
    init = (
        str(engine.manifest.path),
        engine.detector_spec.name,
        engine.flip_fusion,
        engine.multiple_face_ratio,
    )
    context = multiprocessing.get_context("spawn")  # no fork of live onnxruntime sessions
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init, initargs=init) as pool:
        yield from zip(missing, pool.map(_worker_embed, missing.values(), chunksize=32), strict=True)


_worker_engine: FaceEngine | None = None


def _worker_init(manifest: str, detector: str, flip_fusion: bool, multiple_face_ratio: float) -> None:
    global _worker_engine
    _worker_engine = FaceEngine.load(
        Path(manifest),
        detector=detector,
        threads=1,
        flip_fusion=flip_fusion,
        multiple_face_ratio=multiple_face_ratio,
    )


def _worker_embed(path: Path) -> tuple[str, bytes | None, str | None]:
    assert _worker_engine is not None
    return _embed_one(_worker_engine, path.read_bytes())


def _embed_one(engine: FaceEngine, content: bytes) -> tuple[str, bytes | None, str | None]:
    """(status, template bytes, quality JSON) of one image. With several faces the status says so, and the
    template is still made from the face nearest the centre, where LFW-format data sets put the subject;
    whether that counts as an enrolment failure is the evaluation's policy choice."""
    try:
        image = load_image(content)
        faces = engine.detect(image)
        try:
            face, status = engine.select_face(faces, image.shape), "ok"
        except MultipleFacesError as exc:
            face, status = _central_face(faces, image.shape), exc.code
        template = engine.template_for_face(image, face)
    except MatcherError as exc:
        return exc.code, None, None
    measures = {name: round(value, 5) for name, value in measure(image, face).items()}
    return status, template.vector.astype("<f4").tobytes(), json.dumps(measures)


def _central_face(faces: list[Face], shape: tuple[int, ...]) -> Face:
    centre = np.array([shape[1] / 2, shape[0] / 2])
    return min(faces, key=lambda f: float(np.hypot(*((np.array(f.box[:2]) + f.box[2:]) / 2 - centre))))
