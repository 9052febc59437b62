"""The camera's newest frame in shared memory: what the worker reads is the newest frame, once, exactly as
written; the writer never waits for a reader."""

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
