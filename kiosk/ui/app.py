"""The traveller kiosk assembled: the gate (flow, driver, engine, decision log, document reader, barrier)
in its own worker process, the camera on its own thread, the window on the UI thread (which only paints).
``run_traveller_kiosk`` is what ``kiosk run`` calls when the configuration's ``[ui] mode`` is ``window``."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QMetaObject, Qt, QThread, QTimer
from PySide6.QtWidgets import QApplication

from kiosk.config import KioskConfig
from kiosk.devices.barrier import GateBarrier
from kiosk.devices.camera import Camera, open_camera
from kiosk.gate.assemble import Gate, open_gate
from kiosk.gate.ports import Clock
from kiosk.ui.camera_feed import CameraFeed, start_in_thread
from kiosk.ui.gate_link import HANG_S, GateLink
from kiosk.ui.gate_process import GateSpec
from kiosk.ui.speech import Speaker
from kiosk.ui.theme import Theme, screen_dpi
from kiosk.ui.traveller.language import TRANSLATIONS_DIR, Languages
from kiosk.ui.traveller.presenter import Page, TravellerPresenter
from kiosk.ui.traveller.screens import CameraPage, Eligibility
from kiosk.ui.traveller.window import TravellerWindow

log = logging.getLogger("kiosk.ui")

MIN_FRAME_PIXELS = 1920 * 1080  # the shared frame slot holds at least a full-HD frame
SWITCH_INTERVAL_S = 0.001


class TravellerKiosk:
    """Starts the gate's worker process for the configured gate, opens the camera and wires both to a
    ``TravellerWindow``. The constructor returns once the worker's gate is open (or raises its error);
    ``start()`` starts the camera thread and the watch on the worker; ``close()`` stops both. A QApplication
    must exist. ``clock``, ``barrier`` and ``opener`` (``open_gate`` or a function like it) reach the worker
    process, so they must pickle."""

    def __init__(
        self,
        config: KioskConfig,
        *,
        log_decisions: bool = True,
        clock: Clock | None = None,
        camera: Callable[[], Camera] | None = None,
        barrier: GateBarrier | None = None,
        opener: Callable[..., Gate] = open_gate,
        speaker: Speaker | None = None,
        translations_dir: Path = TRANSLATIONS_DIR,
        hang_s: float = HANG_S,
    ) -> None:
        ui = config.ui
        spec = GateSpec(config, log_decisions=log_decisions, clock=clock, barrier=barrier, opener=opener)
        frame_bytes = 3 * max(MIN_FRAME_PIXELS, config.camera.width * config.camera.height)
        # the worker starts loading now, while the window is built
        self.gate = GateLink(spec, frame_bytes=frame_bytes, hang_s=hang_s)
        try:
            self.speaker = speaker if speaker is not None else Speaker() if ui.speech else None
            self.languages = Languages(translations_dir)
            self.window = TravellerWindow(
                Theme(dpi=screen_dpi()),
                self.languages,
                eligibility=Eligibility(ui.document_kinds, ui.min_age, ui.min_height_cm),
                presenter=TravellerPresenter(idle_s=ui.idle_s),
                default_language=ui.language,
                guide=config.policy.face_guide,  # the oval the live capture is checked against
            )
            self.gate.wait_ready()
        except BaseException:
            self.gate.close()
            raise
        self.feed = CameraFeed(
            camera or (lambda: open_camera(config.camera)),
            self.gate.offer,
            # a live camera's read waits for its next frame, a paced file source sleeps: let them set the pace
            fps=0.0 if config.camera.kind == "opencv" or config.camera.fps > 0 else 30.0,
            fault_after_s=ui.camera_fault_s,
        )
        w, gate = self.window, self.gate
        gate.event.connect(w.on_event)
        gate.failed.connect(w.on_fault)
        gate.restored.connect(w.on_restored)
        self.feed.preview.connect(w.on_preview)
        camera_page = w.pages[Page.CAMERA]
        assert isinstance(camera_page, CameraPage)
        # the previews come scaled to the camera picture's box: the UI thread paints them 1:1
        camera_page.view.resized.connect(
            lambda width, height: setattr(self.feed, "preview_size", (width, height))
        )
        self.feed.failed.connect(gate.suspend)
        w.cancel_requested.connect(gate.cancel)
        w.more_time_requested.connect(gate.more_time)
        w.officer_requested.connect(gate.call_officer)
        self._thread: QThread | None = None
        self._spoken = ""
        w.screen_shown.connect(self._speak)

    def _speak(self, _screen: object) -> None:
        words = self.window.page.spoken()
        if self.speaker is not None and words != self._spoken:
            self._spoken = words
            self.speaker.say(words, self.languages.lang)

    def start(self) -> None:
        # this process holds only the camera thread and the UI thread: the interpreter changes hands within
        # 1 ms instead of Python's 5, so a frame's Python on the camera thread never holds a paint back long
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self.gate.start()
        self._thread = start_in_thread(self.feed, "camera")

    def close(self) -> None:
        """Stop reading the camera (in its thread) and end the thread, stop the gate's worker process."""
        if self._thread is not None and self._thread.isRunning():
            QMetaObject.invokeMethod(self.feed, "stop", Qt.ConnectionType.BlockingQueuedConnection)
            self._thread.quit()
            self._thread.wait()
        self._thread = None
        if self.speaker is not None:
            self.speaker.stop()
        self.gate.close()


def run_traveller_kiosk(config: KioskConfig, *, windowed: bool = False, log_decisions: bool = True) -> int:
    """Open the traveller kiosk full screen (``windowed``: a window, for development) and serve travellers
    until the window closes or SIGTERM / SIGINT; returns the application's exit status."""
    app = QApplication.instance() or QApplication(["kiosk"])
    assert isinstance(app, QApplication)
    kiosk = TravellerKiosk(config, log_decisions=log_decisions)
    for sig in (signal.SIGTERM, signal.SIGINT):
        # a quit posted to the event loop: a signal before app.exec() starts must still end it
        signal.signal(sig, lambda *_: QTimer.singleShot(0, app.quit))
    wake = QTimer()  # lets Python run its signal handlers while Qt's event loop waits
    wake.start(250)
    wake.timeout.connect(lambda: None)
    kiosk.start()
    if windowed or not config.ui.fullscreen:
        kiosk.window.resize(1080, 1280)
        kiosk.window.show()
    else:  # sized to the screen as well: X without a window manager ignores the full-screen request
        kiosk.window.setWindowFlag(Qt.WindowType.FramelessWindowHint, True)
        screen = app.primaryScreen()
        if screen is not None:
            kiosk.window.setGeometry(screen.geometry())
        kiosk.window.showFullScreen()
    try:
        return app.exec()
    finally:
        kiosk.close()
