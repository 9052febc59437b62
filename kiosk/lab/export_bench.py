"""``kiosk export-bench``: time and peak memory of exporting a large period (1 million decisions by default).

The log is generated once (``generate.generate_log``: real appends, chain and outbox, officers resolving
referrals) and kept under the cache folder; later runs reuse it. Each run exports the whole period in every
format into a temporary folder, signed with a throw-away key, as a supervisor account created in the cached
log, and reports wall time, rows per second, the process's peak resident memory (``ru_maxrss``: the whole
interpreter with numpy and matplotlib) and, with ``trace``, the Python heap's peak (``tracemalloc``, which
slows the run). The generated log grows by one export event per run.
"""

from __future__ import annotations

import os
import resource
import secrets
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kiosk.decision import RECORD_VERSION
from kiosk.export.build import FORMATS, export_period
from kiosk.export.select import Period
from kiosk.lab.decisions import generate_log
from kiosk.store.accounts import Accounts, Argon2Cost
from kiosk.store.keys import KeyRing
from matcher.signing import generate_signing_key

START = datetime(2026, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=30)
_ACCOUNT = "bench-supervisor"
_CHEAP = Argon2Cost(memory_kib=8192, iterations=1, lanes=1)  # a throw-away account on a throw-away log


@dataclass(frozen=True)
class ExportFigures:
    decisions: int
    chain_rows: int
    generated_s: float | None  # None: the cached log was reused
    export_s: float
    rows_per_s: float
    peak_rss_mib: float
    peak_heap_mib: float | None
    bytes_written: int


def cached_log(cache: Path, count: int, seed: int = 0) -> tuple[Path, float | None]:
    """The generated log of ``count`` decisions under ``cache`` (made when missing); (path, seconds taken)."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"export-bench-v{RECORD_VERSION}-{count}-{seed}.db"  # a new record version: a new log
    if (cache / f"{path.name}.done").is_file():
        return path, None
    for stale in cache.glob(f"{path.name}*"):
        stale.unlink()
    started = time.perf_counter()
    generate_log(path, KeyRing(secrets.token_bytes(32)), count, start=START, span=SPAN, seed=seed)
    with Accounts(path, cost=_CHEAP) as accounts:
        accounts.add(None, _ACCOUNT, "supervisor", _ACCOUNT)
    (cache / f"{path.name}.done").write_text(f"{count} decisions, seed {seed}\n")
    return path, time.perf_counter() - started


def bench_export(cache: Path, *, count: int = 1_000_000, trace: bool = False) -> ExportFigures:
    """Export the whole generated period of the cached log once and measure it."""
    path, generated = cached_log(cache, count)
    with Accounts(path, cost=_CHEAP) as accounts:
        session = accounts.sign_in(_ACCOUNT, _ACCOUNT)
    rows = [0]

    def progress(done: int, total: int) -> None:
        rows[0] = done

    with tempfile.TemporaryDirectory(dir=cache, prefix="export-bench-") as folder:
        generate_signing_key(Path(folder) / "key.pem", Path(folder) / "key.pub")
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        export_period(
            path,
            Period(START, START + SPAN),
            Path(folder) / "out",
            session=session,
            signing_key=Path(folder) / "key.pem",
            formats=FORMATS,
            progress=progress,
        )
        elapsed = time.perf_counter() - started
        heap = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
        if trace:
            tracemalloc.stop()
        written = sum(p.stat().st_size for p in (Path(folder) / "out").rglob("*") if p.is_file())
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return ExportFigures(count, rows[0], generated, elapsed, rows[0] / elapsed, peak_rss, heap, written)


def default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.cwd() / ".cache")) / "egate-export-bench"
