"""The traveller kiosk's side of its gate worker process (``kiosk.ui.gate_process``): starts the process
(``spawn``: a fresh interpreter, no Qt, no threads inherited), hands it the camera's newest frame through a
``SharedFrame``, turns what it sends into Qt signals on the UI thread (``event``: the gate's events,
``failed``: out of service, ``restored``: serving again) and carries the traveller's requests to it.

The worker is watched: it sends ``Alive`` at least every quarter second. A worker that dies (its end of the
pipe closes) or goes ``hang_s`` without a word is killed and started again; meanwhile the traveller sees the
out-of-service page and the gate is closed (the worker owns barrier and log: a dead one opens nothing, a new
one locks the barrier before it serves). Once the new worker is ready the kiosk is back at welcome; a device
fault seen meanwhile (the camera) keeps it out of service. A worker that cannot be started again (its error,
or not ready within ``start_s``) leaves the kiosk out of service for good.

systemd's watchdog (``WatchdogSec``) is pinged from here, on the UI thread, only while the worker answers (or
a new one is being started within ``start_s``): a UI thread that hangs, or a gate that cannot be brought
back, stops the pings and systemd restarts the whole kiosk."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
import time
from enum import Enum
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QSocketNotifier, QTimer, Signal, Slot

from kiosk.systemd import Watchdog, notify
from kiosk.ui.gate_process import Alive, Command, GateSpec, OutOfService, Ready, StartFailed, Suspend, serve
from kiosk.ui.shared_frame import SharedFrame

log = logging.getLogger("kiosk.ui.gate")

HANG_S = 4.0  # no word from the worker this long: hung (a step may read a chip: chip_reader.time_budget_s)
START_S = 60.0  # a worker not ready this long after it was started: given up


class _Phase(Enum):
    STARTING = "starting"
    SERVING = "serving"
    DOWN = "down"  # the worker could not be started again: out of service until the kiosk restarts


class GateLink(QObject):
    """Starts the worker process for ``spec`` at once; ``wait_ready`` blocks until its gate is open (or
    raises the worker's error), ``start`` (on the UI thread) begins listening and watching."""

    event = Signal(object)  # a kiosk.gate.events.GateEvent
    failed = Signal(str)  # out of service (a code)
    restored = Signal()  # a restarted worker serves: back to welcome

    def __init__(self, spec: GateSpec, *, frame_bytes: int, hang_s: float = HANG_S, start_s: float = START_S):
        super().__init__()
        self._spec = spec
        self._frame_bytes = frame_bytes
        self.hang_s, self.start_s = hang_s, start_s
        self._context = multiprocessing.get_context("spawn")
        self.out_of_service = ""  # the code while out of service, "" while serving
        self.restarts = 0
        self._device_fault = ""  # a fault of the kiosk's own devices (camera): survives a worker restart
        self._frames_lock = threading.Lock()  # the camera thread offers while the UI thread may swap frames
        self._frames: SharedFrame | None = None
        self._process: Any = None
        self._conn: Any = None
        self._notifier: QSocketNotifier | None = None
        self._timer: QTimer | None = None
        self._watchdog = Watchdog()
        self._heard = 0.0
        self._spawn()

    @property
    def pid(self) -> int | None:
        """The worker process's id (None between a death and its restart)."""
        return self._process.pid if self._process is not None else None

    # ----- the worker process --------------------------------------------------------------------------
    def _spawn(self) -> None:
        frames = SharedFrame.create(self._frame_bytes, self._context.Lock())
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=serve, args=(theirs, self._spec, frames.slot), name="egate-gate", daemon=True
        )
        process.start()
        theirs.close()  # only the worker holds its end: the pipe closes when it dies
        self._process, self._conn = process, ours
        with self._frames_lock:
            self._frames = frames
        self._phase, self._since = _Phase.STARTING, time.monotonic()

    def wait_ready(self) -> None:
        """Until the first worker has opened the gate; its error (ConfigError, ...) is raised here."""
        if not self._conn.poll(self.start_s):
            self.close()
            raise RuntimeError(f"the gate worker was not ready within {self.start_s:g} s")
        try:
            message = self._conn.recv()
        except EOFError:
            exit_code = self._reap()
            raise RuntimeError(f"the gate worker died while starting (exit code {exit_code})") from None
        if isinstance(message, StartFailed):
            self.close()
            raise message.error
        self._receive(message)

    def _reap(self) -> int | None:
        """The worker gone (killed if it still runs: hung), its pipe and shared frame let go; its exit
        code."""
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier.deleteLater()
            self._notifier = None
        process, self._process = self._process, None
        exit_code = None
        if process is not None:
            if process.is_alive():
                process.kill()
            process.join(5.0)
            exit_code = process.exitcode
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        with self._frames_lock:
            frames, self._frames = self._frames, None
        if frames is not None:
            frames.close()
        return exit_code

    def _lost(self, why: str) -> None:
        """The worker died or hung: out of service now, a new worker started (unless it was a new one
        already: a worker that cannot start is not started again and again)."""
        exit_code = self._reap()
        if self._phase is _Phase.STARTING:
            log.error("the new gate worker %s while starting (exit code %s)", why, exit_code)
            self._give_up()
            return
        log.error("the gate worker %s (exit code %s): the gate is closed, a new one starts", why, exit_code)
        self._out_of_service("GATE_WORKER_FAILED")
        self.restarts += 1
        self._spawn()
        self._listen()

    # ----- on the UI thread ----------------------------------------------------------------------------
    def start(self) -> None:
        self._listen()
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._check)
        self._timer.start()
        notify("READY=1\nSTATUS=traveller kiosk: serving")

    def _listen(self) -> None:
        self._notifier = QSocketNotifier(self._conn.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)

    def _drain(self) -> None:
        conn = self._conn
        try:
            while conn is not None and conn is self._conn and conn.poll():
                self._receive(conn.recv())
        except (EOFError, OSError):
            if conn is self._conn:
                self._lost("died")

    def _receive(self, message: object) -> None:
        self._heard = time.monotonic()
        if isinstance(message, Alive):
            return
        if isinstance(message, OutOfService):
            self._out_of_service(message.code)
        elif isinstance(message, Ready):
            self._phase = _Phase.SERVING
            if self._device_fault:
                self.send(Suspend(self._device_fault))
            elif self.out_of_service:  # a restarted worker
                self.out_of_service = ""
                log.warning("the gate worker serves again (restart %d)", self.restarts)
                notify("STATUS=traveller kiosk: serving")
                self.restored.emit()
        elif isinstance(message, StartFailed):
            log.error("the gate worker could not be started again: %s", message.error)
            self._give_up()
        else:
            self.event.emit(message)  # a GateEvent

    def _check(self) -> None:
        self._drain()  # what the worker said (or its pipe's end) first: a UI thread held up is no hang
        now = time.monotonic()
        if self._phase is _Phase.SERVING and now - self._heard > self.hang_s:
            self._lost(f"did not answer for {now - self._heard:.1f} s")
        elif self._phase is _Phase.STARTING and now - self._since > self.start_s:
            log.error("the gate worker was not ready within %g s", self.start_s)
            self._give_up()
        if self._phase is not _Phase.DOWN:
            self._watchdog.tick()

    def _give_up(self) -> None:
        self._reap()
        self._phase = _Phase.DOWN
        self._out_of_service(self.out_of_service or "GATE_WORKER_FAILED")
        notify("STATUS=traveller kiosk: out of service, the gate worker cannot be started")

    def _out_of_service(self, code: str) -> None:
        if self.out_of_service == code:
            return
        self.out_of_service = code
        notify(f"STATUS=traveller kiosk: out of service ({code})")
        self.failed.emit(code)

    def send(self, message: object) -> None:
        """A command to the worker; dropped while none serves (the kiosk is out of service then)."""
        if self._phase is not _Phase.SERVING or self._conn is None:
            return
        with contextlib.suppress(OSError):  # the worker died: its pipe's end-of-file brings the restart
            self._conn.send(message)

    @Slot()
    def cancel(self) -> None:
        self.send(Command.CANCEL)

    @Slot()
    def more_time(self) -> None:
        self.send(Command.MORE_TIME)

    @Slot()
    def call_officer(self) -> None:
        self.send(Command.CALL_OFFICER)

    @Slot(str)
    def suspend(self, code: str) -> None:
        """A device fault of the kiosk's own (the camera): out of service until the kiosk restarts."""
        self._device_fault = code
        if self._phase is _Phase.SERVING:
            self.send(Suspend(code))
        else:
            self._out_of_service(code)

    # ----- the camera thread ---------------------------------------------------------------------------
    def offer(self, frame: np.ndarray, timestamp_ms: float | None) -> None:
        """The camera's newest frame, for the worker (never waits for it)."""
        with self._frames_lock:
            if self._frames is not None:
                self._frames.put(frame, timestamp_ms)

    # ----- the end -------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the worker (it closes the gate and its log) and let everything go."""
        if self._timer is not None:
            self._timer.stop()
        if self._conn is not None and self._process is not None and self._process.is_alive():
            with contextlib.suppress(OSError):
                self._conn.send(Command.STOP)
            self._process.join(10.0)
            if self._process.is_alive():
                log.error("the gate worker did not stop: killed")
        self._reap()
        self._phase = _Phase.DOWN
