"""The kiosk without a display: the configured document reader and camera drive the gate through a
``GateDriver``, under the systemd watchdog."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from kiosk.config import KioskConfig
from kiosk.devices.camera import CameraExhausted, camera_history, open_camera
from kiosk.devices.document_reader import FolderDocumentReader
from kiosk.errors import ConfigError
from kiosk.gate.assemble import Gate, open_gate
from kiosk.gate.driver import GateDriver
from kiosk.gate.events import Decided, GateEvent, State
from kiosk.systemd import Watchdog, notify


class Companion(Protocol):
    """A service running beside the gate in the kiosk process (the upstream sync worker): woken on each
    decision, stopped with the gate. The gate knows it only by this shape, so it imports no wing."""

    def notify(self) -> None: ...

    def stop(self) -> None: ...


def attach_driver(config: KioskConfig, gate: Gate, companion: Companion | None) -> GateDriver:
    """The driver of a gate about to serve (the headless loop's, the traveller kiosk's worker process's):
    the configured document reader (``devices.document_reader.path`` must be set), the camera's stream
    history for the flow (re-checked at every traveller), and ``companion`` woken on each decision."""
    assert config.document_reader.path is not None  # callers refuse to start without it, before loading
    reader = FolderDocumentReader(config.document_reader.path, done_path=config.document_reader.done_path)
    gate.flow.stream_history = camera_history(config.camera)
    if companion is not None:
        gate.flow.subscribe(lambda event: companion.notify() if isinstance(event, Decided) else None)
    return GateDriver(gate.flow, reader)


def run_kiosk(
    config: KioskConfig,
    *,
    on_event: Callable[[GateEvent], None],
    should_stop: Callable[[], bool] = lambda: False,
    max_transactions: int | None = None,
    poll_s: float = 0.2,
    log_decisions: bool = True,
    companion: Callable[[Gate], Companion | None] = lambda gate: None,
) -> int:
    """Serve travellers until ``should_stop()`` or ``max_transactions``; returns the number served.

    Without a configured decision log the kiosk refuses to start (ConfigError) unless ``log_decisions``
    is False (development only: decisions are then recorded nowhere).

    The camera is opened once; a finite frame source (video, folder without loop) that runs dry ends the
    current capture, and later transactions then time out by the policy's capture time-out."""
    if config.document_reader.path is None:
        raise ConfigError("devices.document_reader.path is required to run the kiosk")
    gate = open_gate(config, log_decisions=log_decisions)
    sync = None
    try:
        sync = companion(gate)
        camera = open_camera(config.camera)
        driver = attach_driver(config, gate, sync)
    except BaseException:
        if sync is not None:
            sync.stop()
        gate.close()
        raise
    flow = gate.flow
    flow.subscribe(on_event)
    watchdog = Watchdog()
    notify(f"READY=1\nSTATUS=kiosk {config.kiosk_id}: serving")
    camera_dry = False
    try:
        while not should_stop():
            watchdog.tick()
            if flow.state is State.FACE_CAPTURE and not camera_dry:
                try:
                    frame = camera.read()
                except CameraExhausted:
                    camera_dry = True
                    frame = None
                if frame is not None:
                    driver.offer(frame, camera.timestamp_ms)
            acted = driver.step()
            if max_transactions is not None and driver.served >= max_transactions:
                break
            if not acted:  # nothing presented, no frame from the camera: the time-outs still run
                time.sleep(poll_s if flow.state is State.IDLE else 0.02)
    finally:
        notify("STOPPING=1")
        if sync is not None:
            sync.stop()
        camera.close()
        gate.close()
    return driver.served
