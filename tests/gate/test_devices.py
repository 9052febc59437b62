"""Camera sources, the folder document reader and the log-only barrier."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.config import CameraConfig
from kiosk.devices.barrier import LogBarrier
from kiosk.devices.camera import (
    CameraError,
    CameraExhausted,
    FrameFolderCamera,
    FrameListCamera,
    VideoFileCamera,
    open_camera,
)
from kiosk.devices.document_reader import DocumentReaderError, FolderDocumentReader
from kiosk.documents.checks import DocumentError
from kiosk.documents.presentation import Presentation


def _frame(value: int) -> np.ndarray:
    return np.full((48, 64, 3), value, np.uint8)


def test_frame_folder_in_name_order_with_a_corrupt_frame(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "002.png"), _frame(20))
    cv2.imwrite(str(tmp_path / "001.png"), _frame(10))
    (tmp_path / "003.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    (tmp_path / "notes.txt").write_text("ignored")
    cam = FrameFolderCamera(tmp_path)
    assert int(cam.read()[0, 0, 0]) == 10
    assert int(cam.read()[0, 0, 0]) == 20
    assert cam.read() is None  # a bad frame, not a crash
    with pytest.raises(CameraExhausted):
        cam.read()
    looping = FrameFolderCamera(tmp_path, loop=True)
    values = [looping.read() for _ in range(4)]
    assert int(values[3][0, 0, 0]) == 10


def test_video_file_camera(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for v in (30, 120, 220):
        writer.write(_frame(v))
    writer.release()
    cam = open_camera(CameraConfig(kind="video", path=path))
    assert isinstance(cam, VideoFileCamera)
    means = [float(cam.read().mean()) for _ in range(3)]
    assert means[0] < means[1] < means[2]
    with pytest.raises(CameraExhausted):
        cam.read()
    cam.close()


def test_missing_sources_are_named_errors(tmp_path: Path) -> None:
    with pytest.raises(CameraError):
        FrameFolderCamera(tmp_path / "none")
    with pytest.raises(CameraError):
        FrameFolderCamera(tmp_path)  # empty
    with pytest.raises(CameraError):
        VideoFileCamera(tmp_path / "none.mp4")
    with pytest.raises(DocumentReaderError):
        FolderDocumentReader(tmp_path / "none")


def test_frame_list_camera() -> None:
    cam = FrameListCamera([_frame(1), None])
    assert cam.read() is not None and cam.read() is None
    with pytest.raises(CameraExhausted):
        cam.read()


def test_folder_document_reader(tmp_path: Path) -> None:
    reader_dir, done = tmp_path / "reader", tmp_path / "done"
    (reader_dir / "01-a" / "chip").mkdir(parents=True)
    cv2.imwrite(str(reader_dir / "01-a" / "page.png"), _frame(5))
    (reader_dir / "02-b").mkdir()
    (reader_dir / "02-b" / "EF.SOD").write_bytes(b"x")
    reader = FolderDocumentReader(reader_dir, done_path=done)
    first = reader.poll()
    assert first is not None and first.name == "01-a"
    assert first.page == reader_dir / "01-a" / "page.png" and first.chip == reader_dir / "01-a" / "chip"
    second = reader.poll()
    assert second is not None and second.chip == reader_dir / "02-b" and second.page is None
    assert reader.poll() is None
    reader.done(first)
    assert (done / "01-a" / "page.png").is_file() and not (reader_dir / "01-a").exists()


def test_presentation_from_paths(tmp_path: Path) -> None:
    page = tmp_path / "page.jpg"
    page.write_bytes(b"")
    assert Presentation.from_path(page).page == page
    (tmp_path / "empty").mkdir()
    assert Presentation.from_path(tmp_path / "empty").empty
    with pytest.raises(DocumentError):
        Presentation.from_path(tmp_path / "missing")


def test_log_barrier() -> None:
    barrier = LogBarrier()
    barrier.open("t-1")
    assert barrier.is_open and barrier.opened == 1
    barrier.close()
    assert not barrier.is_open


def test_simulated_pad_sensor_reports_its_score_or_fails() -> None:
    from kiosk.devices.pad_sensor import PadSensorError, SimulatedPadSensor, open_pad_sensor

    frame = np.zeros((48, 64, 3), np.uint8)
    sensor = open_pad_sensor("simulated", simulated_score=0.3)
    assert sensor is not None and sensor.device_id == "simulated"
    assert sensor.measure(frame, (1.0, 2.0, 30.0, 40.0)) == 0.3
    assert open_pad_sensor("none") is None
    with pytest.raises(ValueError, match="unknown PAD sensor kind 'depth'"):
        open_pad_sensor("depth")
    with pytest.raises(ValueError, match="probability"):
        SimulatedPadSensor(1.5)
    with pytest.raises(PadSensorError, match="no reading"):
        SimulatedPadSensor(fail=True).measure(frame, (0.0, 0.0, 1.0, 1.0))
