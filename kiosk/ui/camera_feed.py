"""The camera on its own thread: every frame goes to the screen as a preview image and to the gate's worker
process (``GateLink.offer``: a shared slot that keeps only the newest frame, so the gate judges what the
traveller does now, and a slow match never backs the preview up).

A camera that raises, or gives no frame for ``fault_after_s`` (unplugged), is a fault: ``failed`` is
emitted once and the feed stops; the gate goes out of service and keeps its barrier closed."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np
from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QImage

from kiosk.devices.camera import Camera, CameraExhausted

log = logging.getLogger("kiosk.ui.camera")


def to_qimage(frame: np.ndarray) -> QImage:
    """A BGR (or grey) frame as a QImage holding its own copy of the pixels."""
    frame = np.ascontiguousarray(frame)
    h, w = frame.shape[:2]
    if frame.ndim == 2:
        return QImage(frame.data, w, h, frame.strides[0], QImage.Format.Format_Grayscale8).copy()
    return QImage(frame.data, w, h, frame.strides[0], QImage.Format.Format_BGR888).copy()


def fitted(frame_size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """The (width, height) of a frame of ``frame_size`` scaled to fit ``box``, aspect ratio kept."""
    (fw, fh), (bw, bh) = frame_size, box
    scale = min(bw / fw, bh / fh)
    return max(1, round(fw * scale)), max(1, round(fh * scale))


def preview_image(frame: np.ndarray, box: tuple[int, int] | None = None) -> QImage:
    """The frame as the traveller's screen paints it, made on the camera thread so that the UI thread only
    copies pixels: mirrored (the traveller sees a mirror), scaled to fit ``box`` (width, height; None: as it
    is), as 32-bit RGB (QPainter's fast path: a 24-bit image is converted on every paint). OpenCV releases
    the GIL for the three steps."""
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    h, w = frame.shape[:2]
    if box is not None and fitted((w, h), box) != (w, h):
        size = fitted((w, h), box)
        shrink = size[0] < w
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    bgra = cv2.cvtColor(cv2.flip(frame, 1), cv2.COLOR_BGR2BGRA)  # little-endian RGB32 is B, G, R, A
    h, w = bgra.shape[:2]
    return QImage(bgra.data, w, h, bgra.strides[0], QImage.Format.Format_RGB32).copy()


class CameraFeed(QObject):
    """Reads ``open_camera()`` at ``fps`` on the thread it is moved to (``start_in_thread``; ``fps`` 0: as
    fast as the camera delivers, for a camera that paces itself, so two clocks never beat); each frame
    goes to ``sink`` with the camera's capture time (thread-safe: ``GateLink.offer``) and, as a
    QImage ready to paint (``preview_image``: mirrored, scaled to ``preview_size`` when set), to
    ``preview``. At most ``MAX_PREVIEWS_QUEUED`` previews wait for the thread that made the feed (the UI
    thread): a UI thread held up skips frames instead of queueing them without bound (a megabyte each, 30
    a second)."""

    MAX_PREVIEWS_QUEUED = 2

    preview = Signal(QImage)
    failed = Signal(str)

    def __init__(
        self,
        open_camera: Callable[[], Camera],
        sink: Callable[[np.ndarray, float | None], None],
        *,
        fps: float = 30.0,
        fault_after_s: float = 3.0,
    ) -> None:
        super().__init__()
        self._open = open_camera
        self._period_ms = round(1000.0 / fps) if fps > 0 else 0
        self._fault_after_s = fault_after_s
        self._camera: Camera | None = None
        self._timer: QTimer | None = None
        self._sink = sink
        self._last_frame = 0.0
        self._stopped = False
        self.frames = 0  # frames read (the benchmark's count)
        self.preview_size: tuple[int, int] | None = None  # the preview's box on screen, set by the UI thread
        self.previews_skipped = 0
        self._queued = threading.Semaphore(self.MAX_PREVIEWS_QUEUED)
        self._taken = _Taken(self._queued)  # no parent: it stays on the UI thread when the feed moves
        self.preview.connect(self._taken.taken)

    @Slot()
    def start(self) -> None:
        try:
            self._camera = self._open()
        except Exception as exc:
            self._fail(getattr(exc, "code", "CAMERA_UNAVAILABLE"), exc)
            return
        self._last_frame = time.monotonic()
        self._timer = QTimer(self)
        self._timer.setInterval(self._period_ms)
        self._timer.timeout.connect(self._grab)
        self._timer.start()

    @Slot()
    def stop(self) -> None:
        self._stopped = True
        if self._timer is not None:
            self._timer.stop()
        if self._camera is not None:
            self._camera.close()
            self._camera = None

    def _grab(self) -> None:
        if self._stopped or self._camera is None:
            return
        try:
            frame = self._camera.read()
        except CameraExhausted:  # a finite file source ended: the gate's capture time-out takes over
            log.info("camera source exhausted")
            self.stop()
            return
        except Exception as exc:
            self._fail(getattr(exc, "code", "CAMERA_UNAVAILABLE"), exc)
            return
        now = time.monotonic()
        if frame is None or not isinstance(frame, np.ndarray) or frame.size == 0:
            if now - self._last_frame >= self._fault_after_s:
                self._fail("CAMERA_UNAVAILABLE", f"no frame for {self._fault_after_s:g} s")
            return
        self._last_frame = now
        self.frames += 1
        try:
            self._sink(frame, self._camera.timestamp_ms)
        except ValueError as exc:  # a frame the gate cannot take (larger than its shared frame slot)
            self._fail("CAMERA_UNAVAILABLE", exc)
            return
        if self._queued.acquire(blocking=False):
            self.preview.emit(preview_image(frame, self.preview_size))
        else:
            self.previews_skipped += 1

    def _fail(self, code: str, cause: object) -> None:
        log.error("camera fault %s: %s; the gate is out of service", code, cause)
        self.stop()
        self.failed.emit(code)


class _Taken(QObject):
    """On the UI thread: a preview reached it, so the camera thread may queue another."""

    def __init__(self, queued: threading.Semaphore) -> None:
        super().__init__()
        self._queued = queued

    @Slot(QImage)
    def taken(self, _image: QImage) -> None:
        self._queued.release()


def start_in_thread(worker: QObject, name: str) -> QThread:
    """Move ``worker`` to a new thread, call its ``start`` slot there, and return the running thread."""
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.started.connect(worker.start)  # type: ignore[attr-defined]
    thread.start()
    return thread
