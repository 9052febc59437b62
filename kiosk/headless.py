"""The kiosk without a display: the configured document reader and camera drive the gate flow."""

from __future__ import annotations

import time
from collections.abc import Callable

from kiosk.config import KioskConfig
from kiosk.devices.camera import CameraExhausted, open_camera
from kiosk.devices.document_reader import FolderDocumentReader
from kiosk.errors import ConfigError
from kiosk.gate.events import Decided, GateEvent, State
from kiosk.systemd import Watchdog, notify
from kiosk.transaction import open_gate


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
    except BaseException:
        gate.close()
        raise
    flow = gate.flow
    current = None

    def mark_done(event: GateEvent) -> None:
        # in the step that commits the decision, not when the result display ends: a kiosk stopped during
        # the display must not decide the same presentation again after a restart
        if isinstance(event, Decided) and current is not None:
            reader.done(current)

    flow.subscribe(mark_done)
    flow.subscribe(on_event)
    served = 0
    watchdog = Watchdog()
    notify(f"READY=1\nSTATUS=kiosk {config.kiosk_id}: serving")
    camera_dry = False
    try:
        while not should_stop():
            watchdog.tick()
            flow.tick()
            if flow.state is State.IDLE:
                if current is not None:
                    current = None
                    served += 1
                    if max_transactions is not None and served >= max_transactions:
                        break
                current = reader.poll()
                if current is None:
                    time.sleep(poll_s)
                    continue
                flow.present(current)
            elif flow.state is State.FACE_CAPTURE:
                frame = None
                if not camera_dry:
                    try:
                        frame = camera.read()
                    except CameraExhausted:
                        camera_dry = True
                if frame is None:
                    time.sleep(0.02)  # nothing from the camera now; the capture time-out still runs
                else:
                    flow.offer_frame(frame)
            else:
                time.sleep(0.02)  # result display: tick() returns to idle after policy.result_hold_s
    finally:
        notify("STOPPING=1")
        camera.close()
        gate.close()
    return served
