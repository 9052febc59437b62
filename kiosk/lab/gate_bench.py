"""``kiosk bench``: throughput of the headless gate and the time the decision log adds to a transaction.

The demo travellers (data page + chip, all six outcomes) are run in turn through one gate with its real
decision log (SQLite, synchronous=FULL) on the disk of ``directory``. Frames are already in memory, so
camera waits are excluded; everything else a transaction does is included (reading the data page and the
chip, passive authentication, portrait template, live detection/quality/template, 1:1, 1:N, policy, log)."""

from __future__ import annotations

import dataclasses
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk.devices.camera import FrameListCamera
from kiosk.gate.events import Decided, GateEvent

LOG_TARGET_MS = 5.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _figures(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "p95": round(_percentile(values, 0.95), 3),
        "p99": round(_percentile(values, 0.99), 3),
        "max": round(max(values), 3),
    }


def run_bench(
    transactions: int = 60,
    *,
    directory: str | Path | None = None,
    synchronous: str = "FULL",
    echo: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run ``transactions`` transactions and return the figures (and ``summary`` lines to print)."""
    from kiosk.gate.assemble import open_gate
    from kiosk.gate.verify import run_transaction
    from kiosk.lab.demo import DEMO_POLICY, TRAVELLERS, build_demo
    from matcher import FaceEngine

    if transactions < 1:
        raise ValueError("transactions must be at least 1")
    workdir = Path(tempfile.mkdtemp(prefix="kiosk-bench-", dir=directory))
    try:
        engine = FaceEngine.load(multiple_face_ratio=DEMO_POLICY.second_face_min_ratio)
        if echo:
            echo(f"building demo travellers in {workdir} ...")
        setup = build_demo(workdir, engine)
        gate = open_gate(dataclasses.replace(setup.config, log_synchronous=synchronous), engine=engine)
        stage_ms: dict[str, list[float]] = {}
        gate.flow.subscribe(lambda e: _collect(e, stage_ms))
        totals: list[float] = []
        outcomes: dict[str, int] = {}
        try:
            for i in range(transactions):
                t = TRAVELLERS[i % len(TRAVELLERS)]
                camera = FrameListCamera(setup.frames[t.label])  # frames in memory: no camera waits
                start = time.perf_counter()
                decision = run_transaction(gate.flow, setup.presentations[t.label], camera)
                totals.append((time.perf_counter() - start) * 1000.0)
                outcomes[decision.outcome] = outcomes.get(decision.outcome, 0) + 1
        finally:
            gate.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    log_ms = stage_ms.get("log", [])
    result: dict[str, Any] = {
        "transactions": transactions,
        "log_synchronous": synchronous,
        "transactions_per_second": round(transactions / (sum(totals) / 1000.0), 2),
        "transaction_ms": _figures(totals),
        "log_append_ms": _figures(log_ms),
        "log_target_ms": LOG_TARGET_MS,
        "log_within_target": max(log_ms) <= LOG_TARGET_MS,
        "stages_median_ms": {k: round(statistics.median(v), 3) for k, v in sorted(stage_ms.items())},
        "outcomes": outcomes,
    }
    lg, tx = result["log_append_ms"], result["transaction_ms"]
    result["summary"] = [
        f"transactions: {transactions} ({', '.join(f'{k} {v}' for k, v in outcomes.items())}), "
        "frames in memory (no camera waits)",
        f"throughput: {result['transactions_per_second']} transactions/s; per transaction median "
        f"{tx['median']} ms, p95 {tx['p95']} ms, p99 {tx['p99']} ms",
        f"decision log append (synchronous={synchronous}): median {lg['median']} ms, "
        f"p99 {lg['p99']} ms, max {lg['max']} ms "
        f"(target <= {LOG_TARGET_MS} ms: {'met' if result['log_within_target'] else 'NOT met'})",
        "stage medians (ms): " + ", ".join(f"{k} {v}" for k, v in result["stages_median_ms"].items()),
    ]
    return result


def _collect(event: GateEvent, stage_ms: dict[str, list[float]]) -> None:
    if isinstance(event, Decided):
        for stage, ms in event.timings_ms.items():
            stage_ms.setdefault(stage, []).append(float(ms))
