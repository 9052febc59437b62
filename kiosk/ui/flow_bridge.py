"""The gate on a worker thread: a QTimer calls ``GateDriver.step()`` (one poll of the document reader, the
newest camera frame, one tick of the flow) there, and every gate event crosses to the window as a queued
``event`` signal. The traveller's requests (cancel, more time, an officer) arrive as queued calls of the
slots, so the flow is only ever touched by this one thread: detection, matching and logging never run on
the UI thread, which only paints.

A step that raises (document reader, log, a bug) or a device fault reported by the camera feed puts the gate
out of service: stepping stops, a transaction in progress is cancelled (an open barrier is locked), the
fault is logged, and ``failed`` tells the window. A barrier that failed to open, or a decision the log could
not hold (disk full), ends that traveller's transaction as the flow decided it (a referral) and then puts
the gate out of service too: the next traveller would meet the same fault. systemd's watchdog is pinged
from the steps, so a worker that hangs gets the kiosk restarted."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from kiosk.gate.events import Decided, GateEvent, State, StateChanged
from kiosk.systemd import Watchdog, notify

log = logging.getLogger("kiosk.ui.bridge")


class FlowBridge(QObject):
    event = Signal(object)  # a kiosk.gate.events.GateEvent
    failed = Signal(str)  # the gate went out of service (a code)

    def __init__(self, flow: Any, step: Callable[[], object], *, period_ms: int = 20) -> None:
        super().__init__()
        self._flow = flow
        self._step = step
        self._period_ms = period_ms
        self._timer: QTimer | None = None
        self._watchdog = Watchdog()
        self.out_of_service = ""
        self._fault_after = ""  # a fault seen in this transaction: out of service once it is over
        flow.subscribe(self.event.emit)
        flow.subscribe(self._watch)

    @Slot()
    def start(self) -> None:
        self._timer = QTimer(self)
        self._timer.setInterval(self._period_ms)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        notify("READY=1\nSTATUS=traveller kiosk: serving")

    @Slot()
    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()

    def _tick(self) -> None:
        if self.out_of_service:
            return
        self._watchdog.tick()
        try:
            self._step()
        except Exception as exc:
            log.exception("gate step failed")
            self.suspend(getattr(exc, "code", type(exc).__name__))

    # ----- the traveller's requests (queued from the UI thread) -------------------------------------------
    @Slot()
    def cancel(self) -> None:
        self._flow.cancel()

    @Slot()
    def more_time(self) -> None:
        self._flow.more_time()

    @Slot()
    def call_officer(self) -> None:
        self._flow.call_officer()

    # ----- faults ------------------------------------------------------------------------------------------
    def _watch(self, event: GateEvent) -> None:
        if isinstance(event, StateChanged) and event.barrier_failed:
            self._fault_after = "BARRIER_FAILED"
        elif isinstance(event, Decided) and "LOG_FAILED" in event.reason_codes:
            self._fault_after = "LOG_FAILED"
        elif isinstance(event, StateChanged) and event.state is State.IDLE and self._fault_after:
            self.suspend(self._fault_after)

    @Slot(str)
    def suspend(self, code: str) -> None:
        """Out of service: no document is taken any more, the current transaction is cancelled."""
        if self.out_of_service:
            return
        self.out_of_service = code or "FAULT"
        log.error("gate out of service: %s (the barrier stays closed)", self.out_of_service)
        notify(f"STATUS=traveller kiosk: out of service ({self.out_of_service})")
        self.stop()
        try:
            if self._flow.state in (State.GATE_OPEN, State.REFERRED):
                self._flow.finish()  # stepping stops: end the result display now, the barrier locks
            elif self._flow.state is not State.IDLE:
                self._flow.cancel()
        except Exception:
            log.exception("the transaction in progress could not be ended")
        self.failed.emit(self.out_of_service)
