"""The gate barrier. A relay board (or a vendor's gate controller) implements ``GateBarrier``; the kiosk
ships a log-only implementation for demos, tests and kiosks whose barrier is opened by an officer."""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger("kiosk.barrier")


class GateBarrier(Protocol):
    """What the gate flow needs from a barrier. Implementations must not block for long (< 100 ms)."""

    def open(self, transaction_id: str) -> None:
        """Release the exit door for one traveller."""
        ...

    def close(self) -> None:
        """Lock the exit door again (after passage or when the result display ends)."""
        ...


class LogBarrier:
    """Log-only barrier: records the commands it would send, and how many it received."""

    def __init__(self) -> None:
        self.opened = 0
        self.is_open = False

    def open(self, transaction_id: str) -> None:
        self.opened += 1
        self.is_open = True
        log.info("barrier OPEN for transaction %s", transaction_id)

    def close(self) -> None:
        if self.is_open:
            log.info("barrier CLOSE")
        self.is_open = False


def open_barrier(kind: str = "log") -> GateBarrier:
    if kind == "log":
        return LogBarrier()
    raise ValueError(f"unknown barrier kind {kind!r}")
