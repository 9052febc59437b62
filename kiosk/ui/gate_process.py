"""The gate in its own process, the traveller kiosk's worker: the flow, its driver, the face engine, the
decision log (owned here, and only here), the document reader and the barrier. Detection, matching and
logging hold this process's interpreter, never the one the kiosk's camera and UI threads paint from.

``serve`` is the process's entry (``multiprocessing`` with the ``spawn`` start method: no Qt is imported
here, none is inherited), at a lower priority than the kiosk (``WORKER_NICE``). It opens the gate and
answers ``Ready`` (or ``StartFailed`` with the error), then steps the driver every ``step_s`` with the
newest camera frame from the ``SharedFrame``, sends every gate event back over the pipe, an ``Alive`` at
least every ``alive_s`` (the kiosk's heartbeat), and carries out the traveller's ``Command``s. When the
kiosk's end of the pipe closes (it stopped, or was killed) the worker closes the gate and exits: it never
outlives the kiosk.

A step that raises (document reader, a bug) or a ``Suspend`` (a device fault the kiosk saw: the camera)
puts the gate out of service: stepping stops, a transaction in progress is cancelled (an open barrier is
locked), the fault is logged, and ``OutOfService`` tells the kiosk. A barrier that failed to open, or a
decision the log could not hold (disk full), ends that traveller's transaction as the flow decided it (a
referral) and then puts the gate out of service too: the next traveller would meet the same fault."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from multiprocessing.connection import Connection
from typing import Any

import cv2

from kiosk.config import KioskConfig
from kiosk.devices.barrier import GateBarrier
from kiosk.errors import ConfigError
from kiosk.gate.assemble import Gate, open_gate
from kiosk.gate.events import Decided, GateEvent, State, StateChanged
from kiosk.gate.loop import attach_driver
from kiosk.gate.ports import Clock
from kiosk.sync.client import SyncWorker, start_worker
from kiosk.ui.shared_frame import FrameSlot, SharedFrame

log = logging.getLogger("kiosk.ui.gate")

# The worker runs this much nicer than the kiosk: when both want a core, the camera thread and the painting
# get it first (they need a few milliseconds per frame, on time), the gate's computing takes the rest.
WORKER_NICE = 5
# ... and computes on one core (onnxruntime and OpenCV each): with every core, a match left the kiosk's two
# threads none for whole frames (idle, ui-bench: p95 44.4 -> 41.0 ms, placed -> result p50 +10-20 ms).
WORKER_THREADS = 1


@dataclass(frozen=True)
class GateSpec:
    """What the worker process opens (picklable: it crosses to the new process). ``opener`` is
    ``kiosk.gate.assemble.open_gate`` or a function with its signature; ``clock`` and ``barrier`` as
    ``open_gate`` takes them (None: the configured ones)."""

    config: KioskConfig
    log_decisions: bool = True
    clock: Clock | None = None
    barrier: GateBarrier | None = None
    opener: Callable[..., Gate] = open_gate
    step_s: float = 0.02
    alive_s: float = 0.25


# ----- what crosses the pipe (besides the GateEvents themselves) --------------------------------------------
@dataclass(frozen=True)
class Ready:
    """The gate is open and stepping."""


@dataclass(frozen=True)
class StartFailed:
    """The gate could not be opened (configuration, key, log, model): the error, as raised."""

    error: BaseException


@dataclass(frozen=True)
class Alive:
    """The worker's loop turns (sent at least every ``GateSpec.alive_s``)."""


@dataclass(frozen=True)
class OutOfService:
    """The gate went out of service (a code): no document is taken any more, the barrier stays closed."""

    code: str


class Command(StrEnum):
    """The traveller's requests, and the kiosk's stop."""

    CANCEL = "cancel"
    MORE_TIME = "more_time"
    CALL_OFFICER = "call_officer"
    STOP = "stop"


@dataclass(frozen=True)
class Suspend:
    """A device fault the kiosk saw (the camera): out of service with ``code``."""

    code: str


class GateWorker:
    """The opened gate with its driver and sync, and the rules of going out of service."""

    def __init__(self, spec: GateSpec, send: Callable[[object], None]) -> None:
        config = spec.config
        if config.document_reader.path is None:
            raise ConfigError("devices.document_reader.path is required to run the kiosk")
        self._send = send
        self.gate = spec.opener(
            config,
            log_decisions=spec.log_decisions,
            clock=spec.clock,
            barrier=spec.barrier,
            threads=WORKER_THREADS,
        )
        self.sync: SyncWorker | None = None
        try:
            if self.gate.decision_log is not None:  # [sync], as the headless kiosk: its own log connection
                keys = self.gate.decision_log.keys
                self.sync = start_worker(config.log_path, config.kiosk_id, config.sync, keys=keys)
            self.driver = attach_driver(config, self.gate, self.sync)
            # a worker before this one may have died with the exit open: it is locked before anyone is served
            self.gate.flow.barrier.close()
        except BaseException:
            self.close()
            raise
        self.flow = self.gate.flow
        self.out_of_service = ""
        self._fault_after = ""  # a fault seen in this transaction: out of service once it is over
        self.flow.subscribe(self._send)
        self.flow.subscribe(self._watch)

    def step(self, frame: tuple[Any, float | None] | None) -> None:
        if self.out_of_service:
            return
        try:
            if frame is not None:
                self.driver.offer(*frame)
            self.driver.step()
        except Exception as exc:
            log.exception("gate step failed")
            self.suspend(getattr(exc, "code", type(exc).__name__))

    def wants_frames(self) -> bool:
        return not self.out_of_service and self.flow.state is State.FACE_CAPTURE

    def command(self, message: object) -> None:
        if message == Command.CANCEL:
            self.flow.cancel()
        elif message == Command.MORE_TIME:
            self.flow.more_time()
        elif message == Command.CALL_OFFICER:
            self.flow.call_officer()
        elif isinstance(message, Suspend):
            self.suspend(message.code)
        else:
            log.error("unknown command from the kiosk: %r", message)

    def _watch(self, event: GateEvent) -> None:
        if isinstance(event, StateChanged) and event.barrier_failed:
            self._fault_after = "BARRIER_FAILED"
        elif isinstance(event, Decided) and "LOG_FAILED" in event.reason_codes:
            self._fault_after = "LOG_FAILED"
        elif isinstance(event, StateChanged) and event.state is State.IDLE and self._fault_after:
            self.suspend(self._fault_after)

    def suspend(self, code: str) -> None:
        """Out of service: no document is taken any more, the current transaction is cancelled."""
        if self.out_of_service:
            return
        self.out_of_service = code or "FAULT"
        log.error("gate out of service: %s (the barrier stays closed)", self.out_of_service)
        try:
            if self.flow.state in (State.GATE_OPEN, State.REFERRED):
                self.flow.finish()  # stepping stops: end the result display now, the barrier locks
            elif self.flow.state is not State.IDLE:
                self.flow.cancel()
        except Exception:
            log.exception("the transaction in progress could not be ended")
        self._send(OutOfService(self.out_of_service))

    def close(self) -> None:
        if self.sync is not None:
            self.sync.stop()
        self.gate.close()


def serve(conn: Connection, spec: GateSpec, slot: FrameSlot) -> None:
    """The worker process: open the gate, then step it until the kiosk says stop or its pipe closes."""
    os.nice(WORKER_NICE)
    cv2.setNumThreads(WORKER_THREADS)
    # systemd's stop (SIGTERM to the whole control group) and a terminal's Ctrl-C reach the worker too: it
    # leaves stopping to the kiosk (Command.STOP, or its pipe closing), never dies in the middle of a step
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    frames = SharedFrame.attach(slot)
    try:
        worker = GateWorker(spec, conn.send)
    except BaseException as exc:
        log.exception("the gate could not be opened")
        conn.send(StartFailed(exc))
        frames.close()
        return
    try:
        conn.send(Ready())
        _loop(conn, worker, frames, spec)
    except (EOFError, BrokenPipeError):
        log.info("the kiosk is gone: the gate closes")
    finally:
        worker.close()
        frames.close()


def _loop(conn: Connection, worker: GateWorker, frames: SharedFrame, spec: GateSpec) -> None:
    next_step = next_alive = time.monotonic()
    while True:
        # the kiosk's commands first; EOFError when its end of the pipe closed (it is gone)
        while conn.poll(max(0.0, next_step - time.monotonic())):
            message = conn.recv()
            if message == Command.STOP:
                return
            worker.command(message)
        next_step = time.monotonic() + spec.step_s
        worker.step(frames.newest() if worker.wants_frames() else None)
        if time.monotonic() >= next_alive:
            conn.send(Alive())
            next_alive = time.monotonic() + spec.alive_s
