"""What the traveller kiosk tests hand to the gate's worker process: it crosses to that process by pickle,
so each is a plain module-level class or function (no pytest here), and what the test needs to see of it
lives in a file or shared memory the test process reads too."""

from __future__ import annotations

import multiprocessing
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kiosk.gate.assemble import Gate, open_gate


def process_gone(pid: int) -> bool:
    """No process ``pid`` any more (the worker's, or any)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


class SharedClock:
    """The tests' fake clock (monotonic and wall time that move only when the test says so), its time in
    shared memory: the test advances it, the worker process's flow reads it."""

    def __init__(self) -> None:
        self._t = multiprocessing.get_context("spawn").RawValue("d", 1000.0)
        self._wall0 = datetime.now(UTC)

    def monotonic(self) -> float:
        return self._t.value

    def now(self) -> datetime:
        return self._wall0 + timedelta(seconds=self._t.value - 1000.0)

    def advance(self, seconds: float) -> None:
        self._t.value += seconds


class RecordingBarrier:
    """A barrier writing each command to a file, one line each (``open <transaction>``, ``close``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def open(self, transaction_id: str) -> None:
        with self.path.open("a") as f:
            f.write(f"open {transaction_id}\n")

    def close(self) -> None:
        with self.path.open("a") as f:
            f.write("close\n")

    def commands(self) -> list[str]:
        return self.path.read_text().split() if self.path.exists() else []

    @property
    def opened(self) -> int:
        return self.commands().count("open")

    @property
    def is_open(self) -> bool:
        words = [w for w in self.commands() if w in ("open", "close")]
        return bool(words) and words[-1] == "open"


class FailingBarrier:
    """A barrier whose relay does not answer."""

    def open(self, transaction_id: str) -> None:
        raise OSError("relay board not answering")

    def close(self) -> None:
        pass


def open_gate_with_a_full_log(config, **options) -> Gate:
    """``open_gate``, then the decision log fills: SQLite's own "database or disk is full" on the next write
    that needs a new page."""
    gate = open_gate(config, **options)
    conn = gate.decision_log._conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    return gate


class OpensOnce:
    """``open_gate`` the first time; every later start (a restarted worker) fails as a missing key would."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __call__(self, config, **options) -> Gate:
        from kiosk.errors import ConfigError

        if self.marker.exists():
            raise ConfigError("the decision-log key is gone (test)")
        self.marker.touch()
        return open_gate(config, **options)
