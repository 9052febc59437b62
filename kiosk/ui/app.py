"""The traveller kiosk assembled: the gate and its driver on a worker thread, the camera on its own thread,
the window on the UI thread (which only paints). ``run_traveller_kiosk`` is what ``kiosk run`` calls when
the configuration's ``[ui] mode`` is ``window``."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMetaObject, Qt, QThread, QTimer
from PySide6.QtWidgets import QApplication

from kiosk.config import KioskConfig
from kiosk.devices.barrier import GateBarrier
from kiosk.devices.camera import Camera, camera_history, open_camera
from kiosk.devices.document_reader import FolderDocumentReader
from kiosk.errors import ConfigError
from kiosk.gate.assemble import open_gate
from kiosk.gate.driver import GateDriver
from kiosk.gate.events import Decided
from kiosk.sync.client import SyncWorker, start_worker
from kiosk.ui.camera_feed import CameraFeed, start_in_thread
from kiosk.ui.flow_bridge import FlowBridge
from kiosk.ui.speech import Speaker
from kiosk.ui.theme import Theme, screen_dpi
from kiosk.ui.traveller.language import TRANSLATIONS_DIR, Languages
from kiosk.ui.traveller.presenter import Page, TravellerPresenter
from kiosk.ui.traveller.screens import CameraPage, Eligibility
from kiosk.ui.traveller.window import TravellerWindow

log = logging.getLogger("kiosk.ui")


class TravellerKiosk:
    """Opens the configured gate, document reader and camera and wires them to a ``TravellerWindow``.
    ``start()`` starts the threads; ``close()`` stops them and closes the gate. A QApplication must exist."""

    def __init__(
        self,
        config: KioskConfig,
        *,
        log_decisions: bool = True,
        engine: Any | None = None,
        clock: Any | None = None,
        camera: Callable[[], Camera] | None = None,
        barrier: GateBarrier | None = None,
        speaker: Speaker | None = None,
        translations_dir: Path = TRANSLATIONS_DIR,
        step_ms: int = 20,
    ) -> None:
        if config.document_reader.path is None:
            raise ConfigError("devices.document_reader.path is required to run the kiosk")
        ui = config.ui
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
        self.gate = open_gate(
            config, engine=engine, log_decisions=log_decisions, clock=clock, barrier=barrier
        )
        self.sync: SyncWorker | None = None
        try:
            reader = FolderDocumentReader(
                config.document_reader.path, done_path=config.document_reader.done_path
            )
            self.gate.flow.stream_history = camera_history(config.camera)  # as the headless loop does
            if self.gate.decision_log is not None:  # [sync], as the headless kiosk: its own log connection
                keys = self.gate.decision_log.keys
                self.sync = start_worker(config.log_path, config.kiosk_id, config.sync, keys=keys)
        except BaseException:
            self.gate.close()
            raise
        if self.sync is not None:
            sync = self.sync
            self.gate.flow.subscribe(lambda event: sync.notify() if isinstance(event, Decided) else None)
        self.driver = GateDriver(self.gate.flow, reader)
        self.feed = CameraFeed(
            camera or (lambda: open_camera(config.camera)),
            self.driver.offer,
            # a live camera's read waits for its next frame, a paced file source sleeps: let them set the pace
            fps=0.0 if config.camera.kind == "opencv" or config.camera.fps > 0 else 30.0,
            fault_after_s=ui.camera_fault_s,
        )
        self.bridge = FlowBridge(self.gate.flow, self.driver.step, period_ms=step_ms)
        w, bridge = self.window, self.bridge
        bridge.event.connect(w.on_event)
        bridge.failed.connect(w.on_fault)
        self.feed.preview.connect(w.on_preview)
        camera_page = w.pages[Page.CAMERA]
        assert isinstance(camera_page, CameraPage)
        # the previews come scaled to the camera picture's box: the UI thread paints them 1:1
        camera_page.view.resized.connect(
            lambda width, height: setattr(self.feed, "preview_size", (width, height))
        )
        self.feed.failed.connect(bridge.suspend)
        w.cancel_requested.connect(bridge.cancel)
        w.more_time_requested.connect(bridge.more_time)
        w.officer_requested.connect(bridge.call_officer)
        self._threads: list[QThread] = []
        self._spoken = ""
        w.screen_shown.connect(self._speak)

    def _speak(self, _screen: object) -> None:
        words = self.window.page.spoken()
        if self.speaker is not None and words != self._spoken:
            self._spoken = words
            self.speaker.say(words, self.languages.lang)

    def start(self) -> None:
        self._threads = [start_in_thread(self.bridge, "gate"), start_in_thread(self.feed, "camera")]

    def close(self) -> None:
        """Stop stepping and reading (in their threads), end the threads, close the gate."""
        for worker, thread in zip((self.bridge, self.feed), self._threads, strict=True):
            if thread.isRunning():
                QMetaObject.invokeMethod(worker, "stop", Qt.ConnectionType.BlockingQueuedConnection)
                thread.quit()
                thread.wait()
        self._threads = []
        if self.speaker is not None:
            self.speaker.stop()
        if self.sync is not None:
            self.sync.stop()
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
