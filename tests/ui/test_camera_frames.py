"""The camera's frames on their way to the gate's worker process and to the screen: the newest frame in
shared memory (read once, exactly as written; the writer never waits for a reader), a frame too large for
it a camera fault, and never more than two previews queued for a UI thread held up."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from kiosk.ui.shared_frame import SharedFrame


@pytest.fixture
def shared():
    frames = SharedFrame.create(640 * 480 * 3, multiprocessing.get_context("spawn").Lock())
    yield frames
    frames.close()


def test_the_reader_gets_the_newest_frame_once(shared) -> None:
    reader = SharedFrame.attach(shared.slot)
    try:
        assert reader.newest() is None  # nothing published yet
        rng = np.random.default_rng(1)
        old, new = (rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(2))
        assert shared.put(old, 1000.0) and shared.put(new, 1033.5)
        frame, stamp = reader.newest()
        assert np.array_equal(frame, new) and stamp == 1033.5  # the newest, never a backlog
        assert reader.newest() is None  # and only once
        grey = rng.integers(0, 256, (240, 320), dtype=np.uint8)
        assert shared.put(grey, None)
        frame, stamp = reader.newest()
        assert np.array_equal(frame, grey) and stamp is None
    finally:
        reader.close()


def test_the_writer_drops_a_frame_rather_than_wait_for_a_reader(shared) -> None:
    frame = np.zeros((480, 640, 3), np.uint8)
    assert shared.slot.lock.acquire()  # a reader copying (or killed while it copied)
    try:
        assert shared.put(frame, 1.0) is False
    finally:
        shared.slot.lock.release()
    assert shared.put(frame, 2.0) is True


def test_a_frame_larger_than_the_slot_is_refused(shared) -> None:
    with pytest.raises(ValueError, match="larger than the shared frame slot"):
        shared.put(np.zeros((720, 1280, 3), np.uint8), None)


def test_a_frame_the_gate_cannot_take_is_a_camera_fault(qtbot, tmp_path, shared) -> None:
    """A camera delivering frames larger than the shared slot puts the gate out of service, never silently
    starving the capture."""
    import cv2

    from kiosk.devices.camera import FrameFolderCamera
    from kiosk.ui.camera_feed import CameraFeed

    cv2.imwrite(str(tmp_path / "big.png"), np.zeros((720, 1280, 3), np.uint8))
    feed = CameraFeed(lambda: FrameFolderCamera(tmp_path, loop=True), shared.put, fps=30.0)
    with qtbot.waitSignal(feed.failed, timeout=5_000) as failed:
        feed.start()
    assert failed.args == ["CAMERA_UNAVAILABLE"]
    feed.stop()


def test_a_held_up_ui_thread_gets_no_pile_of_previews(qtbot, tmp_path) -> None:
    """The UI thread busy for a second: the camera thread goes on reading (the gate gets every frame) but
    queues at most two previews; once the UI thread turns again, previews flow again."""
    import time

    import cv2
    from PySide6.QtCore import QMetaObject, QObject, Qt, Slot
    from PySide6.QtGui import QImage

    from kiosk.devices.camera import FrameFolderCamera
    from kiosk.ui.camera_feed import CameraFeed, start_in_thread

    cv2.imwrite(str(tmp_path / "f.png"), np.zeros((480, 640, 3), np.uint8))
    sunk: list[float] = []
    feed = CameraFeed(lambda: FrameFolderCamera(tmp_path, loop=True), lambda f, t: sunk.append(1.0), fps=30.0)
    painted: list[int] = []

    class Window(QObject):  # on this (the UI) thread: its slot runs when this thread turns
        @Slot(QImage)
        def paint(self, _image: QImage) -> None:
            painted.append(1)

    window = Window()
    feed.preview.connect(window.paint)
    thread = start_in_thread(feed, "camera")
    try:
        time.sleep(1.0)  # held up: no event is processed here
        assert len(sunk) >= 10 and painted == []
        qtbot.wait(100)
        assert 1 <= len(painted) <= CameraFeed.MAX_PREVIEWS_QUEUED + 3  # the two queued, then fresh ones
        assert feed.previews_skipped >= 5
        qtbot.waitUntil(lambda: len(painted) >= 6, timeout=5_000)
    finally:
        QMetaObject.invokeMethod(feed, "stop", Qt.ConnectionType.BlockingQueuedConnection)
        thread.quit()
        thread.wait()
