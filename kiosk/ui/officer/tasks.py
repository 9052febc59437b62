"""Blocking work off the UI thread: database reads, evidence decryption and password hashing run on a
``QThreadPool``; their result (or exception) comes back as a queued call on the UI thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class _Relay(QObject):
    """Lives on the UI thread, so signals emitted from a pool thread are delivered there (queued)."""

    done = Signal(object)
    failed = Signal(object)


class _Job(QRunnable):
    def __init__(self, work: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.work, self.relay = work, relay

    def run(self) -> None:
        try:
            result = self.work()
        except Exception as exc:  # handed to the UI thread, which shows it
            self.relay.failed.emit(exc)
        else:
            self.relay.done.emit(result)


class Tasks(QObject):
    """Runs callables on its own thread pool; ``on_done(result)`` / ``on_error(exc)`` run on the UI thread."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self._relays: set[_Relay] = set()

    def run(
        self, work: Callable[[], Any], on_done: Callable[[Any], None], on_error: Callable[[Exception], None]
    ) -> None:
        relay = _Relay(self)
        relay.done.connect(on_done)
        relay.failed.connect(on_error)
        relay.done.connect(relay.deleteLater)
        relay.failed.connect(relay.deleteLater)
        relay.destroyed.connect(lambda *_: self._relays.discard(relay))
        self._relays.add(relay)
        self.pool.start(_Job(work, relay))

    def busy(self) -> bool:
        return bool(self._relays)

    def wait(self, msecs: int = 30000) -> bool:
        return self.pool.waitForDone(msecs)
