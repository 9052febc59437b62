"""``kiosk bench-log``: write latency of the decision log (the time ``DecisionLog.append`` adds to a gate
transaction), with ``synchronous=FULL`` (the default: durable across power loss) and ``NORMAL``."""

from __future__ import annotations

import random
import secrets
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kiosk.decision import RECORD_VERSION, Decision, WatchlistHit
from kiosk.store.db import Synchronous
from kiosk.store.evidence import Evidence
from kiosk.store.keys import KeyRing
from kiosk.store.log import DecisionLog


@dataclass(frozen=True)
class LatencyFigures:
    synchronous: str
    count: int
    median_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def _sample_decision(keys: KeyRing, rng: random.Random) -> Decision:
    """A decision of realistic size: a dozen document checks, quality measures, scores, model ids."""
    refer = rng.random() < 0.1
    return Decision(
        kiosk_id="bench-kiosk-01",
        outcome="REFER" if refer else "PASS",
        reason_codes=("FACE_MISMATCH",) if refer else (),
        document_type="P",
        issuing_state="UTO",
        document_number_hash=keys.hash_document_number(f"X{rng.randrange(10**8):08d}", "UTO"),
        document_checks={f"chip.pa.check_{i}": True for i in range(12)},
        quality={
            name: {"value": rng.random() * 100, "passed": True} for name in ("size", "yaw", "blur", "light")
        },
        liveness={"score": rng.random(), "passed": True},
        face_score=rng.random(),
        face_threshold=0.3581,
        watchlist_hits=(WatchlistHit("interpol", "e-1", 0.41, 0.45),) if refer else (),
        models={"detector": "scrfd_500m@0123456789ab", "embedder": "w600k_mbf@ba9876543210"},
        traveller={"age_group": "30-44", "sex": "F", "nationality": "UTO"},
        timings_ms={"document": 85.0, "portrait": 15.0, "capture": 17.0, "match": 0.1, "total": 130.0},
        record_version=RECORD_VERSION,
    )


def bench_log(
    directory: str | Path | None = None,
    *,
    count: int = 1000,
    modes: tuple[Synchronous, ...] = ("FULL", "NORMAL"),
    evidence_every: int = 10,
    seed: int = 0,
) -> list[LatencyFigures]:
    """Append ``count`` decisions to a fresh log per mode (every ``evidence_every``-th with a referral's
    evidence as the gate seals it: ~38 KB) in a temporary folder under ``directory`` (use the kiosk's real
    disk: tmpfs hides fsyncs)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    keys = KeyRing(secrets.token_bytes(32))
    rng = random.Random(seed)
    # the demo impostor's referral as kiosk.gate.assemble.make_evidence seals it (320 px faces, JPEG q85)
    evidence = Evidence(
        live_face=rng.randbytes(15_200),
        live_template=rng.randbytes(2_081),
        document_portrait=rng.randbytes(21_000),
        document_data=rng.randbytes(177),
    )
    results = []
    for mode in modes:
        decisions = [_sample_decision(keys, rng) for _ in range(count)]
        latencies = []
        with (
            tempfile.TemporaryDirectory(dir=directory, prefix="egate-bench-log-") as folder,
            DecisionLog(Path(folder) / "decisions.db", keys, synchronous=mode) as log,
        ):
            for index, decision in enumerate(decisions):
                attach = evidence if evidence_every and index % evidence_every == 0 else None
                start = time.perf_counter_ns()
                log.append(decision, evidence=attach)
                latencies.append((time.perf_counter_ns() - start) / 1e6)
        latencies.sort()
        results.append(
            LatencyFigures(
                synchronous=mode,
                count=count,
                median_ms=statistics.median(latencies),
                p95_ms=latencies[min(count - 1, int(0.95 * count))],
                p99_ms=latencies[min(count - 1, int(0.99 * count))],
                max_ms=latencies[-1],
            )
        )
    return results
