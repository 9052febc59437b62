"""One gate transaction from files: ``verify`` (behind ``kiosk verify``) reads a data-page image or chip
folder and a live image or video, and ``run_transaction`` drives one document and a finite camera through an
idle flow (the demo and the benchmarks use it too)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from kiosk.config import KioskConfig
from kiosk.decision import Decision
from kiosk.devices.camera import IMAGE_SUFFIXES, Camera, CameraExhausted, FrameListCamera
from kiosk.documents.checks import DocumentError
from kiosk.documents.presentation import Presentation
from kiosk.errors import KioskError
from kiosk.gate.assemble import open_gate
from kiosk.gate.events import Decided, State
from kiosk.gate.flow import GateFlow
from kiosk.gate.ports import FaceMatcher
from matcher.errors import ImageError

MAX_VIDEO_FRAMES = 300  # a verify video is read up to this many frames (policy still bounds the capture)


def run_transaction(flow: GateFlow, presentation: Presentation, camera: Camera) -> Decision:
    """Drive one traveller through an idle flow: present the document, feed frames until a decision,
    then end the result display. A finite camera that runs dry ends the capture (QUALITY_TIMEOUT); a
    document that could not be read is presented again while the policy grants attempts."""
    flow.present(presentation)
    while flow.state in (State.FACE_CAPTURE, State.DOCUMENT_RETRY):
        if flow.state is State.DOCUMENT_RETRY:
            flow.present(presentation)
            continue
        try:
            frame = camera.read()
        except CameraExhausted:
            flow.source_exhausted()
            break
        flow.offer_frame(frame, camera.timestamp_ms)
        flow.tick()
    decision = flow.last_decision
    flow.finish()
    if decision is None or flow.state is not State.IDLE:
        raise KioskError(f"transaction ended in state {flow.state} without a decision")
    return decision


def live_frames(path: str | Path, *, max_frames: int = MAX_VIDEO_FRAMES) -> list[np.ndarray]:
    """The frames of a live image or video file (an image is one frame). ImageError naming the file and
    the cause when it is neither a readable image nor a video with frames."""
    p = Path(path)
    if p.suffix.lower() in IMAGE_SUFFIXES or not p.is_file():
        return [read_input_image(p, "live capture")]
    frames = list(_video_frames(p, max_frames))
    if frames:
        return frames
    try:
        return [read_input_image(p, "live capture")]  # an image without an image suffix
    except ImageError:
        raise ImageError(f"live capture {p}: neither a video with a decodable frame nor an image") from None


def read_input_image(path: Path, what: str) -> np.ndarray:
    """Decode an input file given on the command line; ImageError ``<what> <path>: <cause>`` when it is
    missing, unreadable, empty, not an image, truncated or too large (an input error, not a traveller's)."""
    from matcher.imageio import decode_image

    if not path.is_file():
        raise ImageError(f"{what} {path}: not found or not a regular file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{what} {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        return decode_image(data)
    except ImageError as exc:
        raise type(exc)(f"{what} {path}: {exc}") from None


def _video_frames(path: Path, limit: int) -> Iterator[np.ndarray]:
    # FFmpeg's own log lines ("moov atom not found") would precede the one-line error: quiet them
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    cap = cv2.VideoCapture(str(path))
    try:
        for _ in range(limit):
            ok, frame = cap.read()
            if not ok or frame is None:
                return
            yield frame
    finally:
        cap.release()


def verify(
    document: str | Path,
    live: str | Path,
    config: KioskConfig,
    *,
    engine: FaceMatcher | None = None,
    log_decisions: bool = False,
) -> tuple[Decision, Decided]:
    """One transaction: a data-page image or chip folder (or a presentation folder) against a live image or
    video. Returns the decision and the decision event (timings, document-list hits).

    Input errors raise before the gate runs (ImageError / DocumentError naming the file and the cause): a
    live file that is not a readable image or video, a page image that does not decode, a folder holding
    neither a page image nor a chip. What the files show (no MRZ, no face, a failed chip) is the decision's.
    """
    presentation = Presentation.from_path(document)
    if presentation.empty:
        raise DocumentError(f"document {document}: holds neither a data-page image nor a chip folder")
    if presentation.page is not None:
        read_input_image(presentation.page, "document page")
    frames = live_frames(live)
    gate = open_gate(config, engine=engine, log_decisions=log_decisions)
    try:
        decided: list[Decided] = []
        gate.flow.subscribe(lambda e: decided.append(e) if isinstance(e, Decided) else None)
        decision = run_transaction(gate.flow, presentation, FrameListCamera(frames))
        return decision, decided[-1]
    finally:
        gate.close()
