"""The kiosk without a display: the configured document reader and camera drive the gate through a
``GateDriver``, under the systemd watchdog."""

from __future__ import annotations

import time
from collections.abc import Callable

from kiosk.config import KioskConfig
from kiosk.devices.camera import CameraExhausted, camera_history, open_camera
from kiosk.devices.document_reader import FolderDocumentReader
from kiosk.errors import ConfigError
from kiosk.gate.assemble import open_gate
from kiosk.gate.driver import GateDriver
from kiosk.gate.events import GateEvent, State
from kiosk.systemd import Watchdog, notify


def run_kiosk(
    config: KioskConfig,
    *,
    on_event: Callable[[GateEvent], None],
    should_stop: Callable[[], bool] = lambda: False,
    max_transactions: int | None = None,
    poll_s: float = 0.2,
    log_decisions: bool = True,
) -> int:
    """Serve travellers until ``should_stop()`` or ``max_transactions``; returns the number served.

    Without a configured decision log the kiosk refuses to start (ConfigError) unless ``log_decisions``
    is False (development only: decisions are then recorded nowhere).

    The camera is opened once; a finite frame source (video, folder without loop) that runs dry ends the
    current capture, and later transactions then time out by the policy's capture time-out."""
    if config.document_reader.path is None:
        raise ConfigError("devices.document_reader.path is required to run the kiosk")
    gate = open_gate(config, log_decisions=log_decisions)
    try:
        reader = FolderDocumentReader(config.document_reader.path, done_path=config.document_reader.done_path)
        camera = open_camera(config.camera)
        gate.flow.stream_history = camera_history(config.camera)  # re-checked at every traveller
    except BaseException:
        gate.close()
        raise
    flow = gate.flow
    driver = GateDriver(flow, reader)
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
        camera.close()
        gate.close()
    return driver.served
