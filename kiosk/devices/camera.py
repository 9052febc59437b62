"""Camera sources: an OpenCV VideoCapture device, a video file, or a folder of frames.

A camera hands out BGR frames; ``read()`` returns ``None`` when no frame is available right now (a live
device hiccup) and raises ``CameraExhausted`` when a finite source (file, folder) has no more frames.
``timestamp_ms`` is the capture time of the last frame as the source tells it (the V4L2 buffer time of a
device, the position in a video file; ``None`` when it has none): ``kiosk.devices.frame_integrity`` checks
that it advances."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from kiosk.config import CameraConfig
from kiosk.devices.camera_identity import CameraIdentity, CameraSelection, resolve_camera
from kiosk.devices.frame_integrity import StreamHistory
from kiosk.errors import KioskError
from matcher.imageio import IMAGE_SUFFIXES


class CameraError(KioskError):
    code = "CAMERA_UNAVAILABLE"


class CameraExhausted(KioskError):
    """A finite frame source has delivered its last frame."""

    code = "CAMERA_EXHAUSTED"


class Camera(Protocol):
    timestamp_ms: float | None

    def read(self) -> np.ndarray | None:
        """The next BGR frame, ``None`` if none is available now; CameraExhausted at the end of a file."""
        ...

    def close(self) -> None: ...


class OpenCVCamera:
    """A live camera through ``cv2.VideoCapture(index)``."""

    def __init__(self, device: int | str = 0, *, width: int = 640, height: int = 480) -> None:
        # a device path (the node resolved by identity, kiosk.devices.camera_identity) opens through V4L2
        self._cap = (
            cv2.VideoCapture(device, cv2.CAP_V4L2) if isinstance(device, str) else cv2.VideoCapture(device)
        )
        if not self._cap.isOpened():
            raise CameraError(f"camera device {device} cannot be opened")
        self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self.timestamp_ms: float | None = None

    def read(self) -> np.ndarray | None:
        ok, frame = self._cap.read()
        if not ok or frame is None or not frame.size:
            return None
        self.timestamp_ms = float(self._cap.get(cv2.CAP_PROP_POS_MSEC))  # V4L2: the buffer's capture time
        return frame

    def close(self) -> None:
        self._cap.release()


class _PacedSource:
    """Optional real-time pacing for file sources (``fps`` > 0), so a demo video plays at camera speed."""

    def __init__(self, fps: float) -> None:
        self._period = 1.0 / fps if fps > 0 else 0.0
        self._next = 0.0

    def wait(self) -> None:
        if self._period:
            now = time.monotonic()
            if now < self._next:
                time.sleep(self._next - now)
            self._next = max(now, self._next) + self._period


class VideoFileCamera:
    """Frames of a video file (anything OpenCV's FFmpeg backend decodes)."""

    def __init__(self, path: str | Path, *, loop: bool = False, fps: float = 0.0) -> None:
        self._path = Path(path)
        if not self._path.is_file():
            raise CameraError(f"video file not found: {self._path}")
        self._loop = loop
        self._pace = _PacedSource(fps)
        self._cap = cv2.VideoCapture(str(self._path))
        if not self._cap.isOpened():
            raise CameraError(f"video file cannot be decoded: {self._path}")
        self.timestamp_ms: float | None = None

    def read(self) -> np.ndarray | None:
        self._pace.wait()
        ok, frame = self._cap.read()
        if not ok and self._loop:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._cap.read()
        if not ok or frame is None:
            raise CameraExhausted(f"end of video {self._path.name}")
        # the position of the frame just read: a looped file runs back to 0 (frame integrity: a replay)
        self.timestamp_ms = float(self._cap.get(cv2.CAP_PROP_POS_MSEC))
        return frame

    def close(self) -> None:
        self._cap.release()


class FrameFolderCamera:
    """The image files of a folder, in name order. An undecodable file yields ``None`` (a bad frame)."""

    def __init__(self, path: str | Path, *, loop: bool = False, fps: float = 0.0) -> None:
        folder = Path(path)
        if not folder.is_dir():
            raise CameraError(f"frame folder not found: {folder}")
        self._files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._files:
            raise CameraError(f"no image files in frame folder {folder}")
        self._loop = loop
        self._pace = _PacedSource(fps)
        self._i = 0
        self.timestamp_ms: float | None = None  # image files carry no capture time

    def read(self) -> np.ndarray | None:
        if self._i >= len(self._files):
            if not self._loop:
                raise CameraExhausted("end of frame folder")
            self._i = 0
        self._pace.wait()
        path = self._files[self._i]
        self._i += 1
        return cv2.imread(str(path), cv2.IMREAD_COLOR)

    def close(self) -> None:
        pass


class FrameListCamera:
    """Frames in memory (``kiosk verify``, the demo, the benchmark); ``None`` items are bad frames."""

    def __init__(self, frames: Iterable[np.ndarray | None]) -> None:
        self._it: Iterator[np.ndarray | None] = iter(frames)
        self.timestamp_ms: float | None = None

    def read(self) -> np.ndarray | None:
        try:
            return next(self._it)
        except StopIteration:
            raise CameraExhausted("no more frames") from None

    def close(self) -> None:
        pass


def trusted_camera(
    cfg: CameraConfig, sysfs: Path = Path("/sys"), dev: Path = Path("/dev")
) -> CameraIdentity | None:
    """The configured camera resolved by identity (CameraUntrusted when it cannot be: absent, virtual,
    named by index alone without ``allow_index``); None for a file source, which is no camera at all."""
    if cfg.kind != "opencv":
        return None
    selection = CameraSelection(
        device=cfg.device, usb_id=cfg.usb_id, index=cfg.index, allow_index=cfg.allow_index
    )
    return resolve_camera(selection, sysfs, dev)


def camera_record(cfg: CameraConfig, identity: CameraIdentity | None) -> dict[str, Any]:
    """What a decision records of the frame source: the trusted camera's identity, or the file source."""
    if identity is not None:
        return {"trusted": True, **identity.record()}
    return {"trusted": False, "source": cfg.kind, "note": "development frame source (a file), not a camera"}


def camera_history(cfg: CameraConfig) -> StreamHistory:
    """A gate's frame-stream history (``kiosk.devices.frame_integrity``) for the configured source: the
    trusted camera's identity, checked again at the start of every transaction."""
    identity = trusted_camera(cfg)
    verify = None if identity is None else (lambda: trusted_camera(cfg))
    return StreamHistory(device=camera_record(cfg, identity), verify=verify)


def open_camera(cfg: CameraConfig) -> Camera:
    """The camera the configuration names; a device only once resolved by identity (``trusted_camera``)."""
    if cfg.kind == "opencv":
        identity = trusted_camera(cfg)
        assert identity is not None
        return OpenCVCamera(identity.device, width=cfg.width, height=cfg.height)
    assert cfg.path is not None  # enforced by the configuration loader
    if cfg.kind == "video":
        return VideoFileCamera(cfg.path, loop=cfg.loop, fps=cfg.fps)
    return FrameFolderCamera(cfg.path, loop=cfg.loop, fps=cfg.fps)
