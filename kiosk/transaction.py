"""Assembling a gate from its configuration, and running single transactions through it.

``open_gate`` loads the real components once (face engine, trust store, watchlists, decision log) and
returns the ``GateFlow``; ``run_transaction`` drives one document + camera through it; ``verify`` is the
Python function behind ``kiosk verify``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.config import KioskConfig
from kiosk.decision import Decision
from kiosk.devices.barrier import GateBarrier, open_barrier
from kiosk.devices.camera import IMAGE_SUFFIXES, Camera, CameraExhausted, FrameListCamera
from kiosk.devices.document_reader import Presentation
from kiosk.document_lists import open_document_lists
from kiosk.documents.checks import DocumentError
from kiosk.errors import KioskError
from kiosk.flow import Clock, DocumentReadFn, GateFlow, State
from matcher.errors import ImageError

MAX_VIDEO_FRAMES = 300  # a verify video is read up to this many frames (policy still bounds the capture)


@dataclass
class Gate:
    """A configured gate: the flow plus the components it owns (closed together)."""

    flow: GateFlow
    decision_log: Any | None = None

    def close(self) -> None:
        close = getattr(self.decision_log, "close", None)
        if callable(close):
            close()


def document_reader_for(trust: Any | None, extra_state_codes: tuple[str, ...] = ()) -> DocumentReadFn:
    """The function the flow calls to read a presentation (data page and/or chip) with the trust store."""
    from kiosk.documents.reader import read_document

    def read(presentation: Presentation, today: date) -> Any:
        if presentation.empty:
            raise DocumentError(f"presentation {presentation.name!r} holds neither a data page nor a chip")
        return read_document(
            page=presentation.page,
            chip=presentation.chip,
            trust=trust,
            today=today,
            extra_codes=extra_state_codes,
        )

    return read


def load_trust_store(path: Path | None) -> Any | None:
    if path is None:
        return None
    from kiosk.documents.chip import TrustStore

    return TrustStore.from_folder(path)


def open_gate(
    config: KioskConfig,
    *,
    engine: Any | None = None,
    log_decisions: bool = True,
    barrier: GateBarrier | None = None,
    clock: Clock | None = None,
) -> Gate:
    """Load the components the configuration names and return the gate. ``engine`` reuses a loaded one."""
    document_lists = open_document_lists(config.document_lists, clock.now() if clock else None)  # fails first
    from matcher import FaceEngine

    if engine is None:
        engine = FaceEngine.load(config.manifest, multiple_face_ratio=config.policy.second_face_min_ratio)
    watchlist = None
    if config.watchlist is not None:
        from matcher.watchlist import WatchlistStore

        watchlist = WatchlistStore(config.watchlist)
    decision_log = keys = None
    if log_decisions and config.log_path is not None:
        from kiosk.store import DecisionLog
        from kiosk.store.keys import KeyRing

        keys = KeyRing.load(config.key_file)
        config.log_path.parent.mkdir(parents=True, exist_ok=True)
        decision_log = DecisionLog(config.log_path, keys, synchronous=config.log_synchronous)
    flow = GateFlow(
        engine,
        document_reader_for(load_trust_store(config.trust_store), config.extra_state_codes),
        policy=config.policy,
        kiosk_id=config.kiosk_id,
        watchlist=watchlist,
        document_lists=document_lists,
        decision_log=decision_log,
        keys=keys,
        barrier=barrier if barrier is not None else open_barrier(config.barrier.kind),
        clock=clock,
        evidence_factory=make_evidence if decision_log is not None else None,
    )
    return Gate(flow=flow, decision_log=decision_log)


def make_evidence(live_face: np.ndarray, template: Any | None) -> Any:
    """The store's Evidence of a referred case: the live face as JPEG and the template bytes."""
    from kiosk.store import Evidence

    return Evidence(live_face=_jpeg(live_face), live_template=template.to_bytes() if template else None)


def _jpeg(image: np.ndarray) -> bytes | None:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return data.tobytes() if ok else None


def run_transaction(flow: GateFlow, presentation: Presentation, camera: Camera) -> Decision:
    """Drive one traveller through an idle flow: present the document, feed frames until a decision,
    then end the result display. A finite camera that runs dry ends the capture (QUALITY_TIMEOUT)."""
    flow.present(presentation)
    while flow.state is State.FACE_CAPTURE:
        try:
            frame = camera.read()
        except CameraExhausted:
            flow.source_exhausted()
            break
        flow.offer_frame(frame)
        flow.tick()
    decision = flow.last_decision
    flow.finish()
    if decision is None or flow.state is not State.IDLE:
        raise KioskError(f"transaction ended in state {flow.state} without a decision")
    return decision


def live_frames(path: str | Path, *, max_frames: int = MAX_VIDEO_FRAMES) -> list[np.ndarray | None]:
    """The frames of a live image or video file (an image is one frame). Raises ImageError if unreadable."""
    from matcher.imageio import load_image

    p = Path(path)
    if not p.is_file():
        raise ImageError(f"live image or video not found: {p}")
    frames: list[np.ndarray | None] = []
    if p.suffix.lower() not in IMAGE_SUFFIXES:
        frames.extend(_video_frames(p, max_frames))
    if not frames:
        try:
            frames.append(load_image(p))
        except ImageError:  # a corrupt capture is a bad frame for the flow (CAPTURE_UNREADABLE), not a crash
            frames.append(None)
    return frames


def _video_frames(path: Path, limit: int) -> Iterator[np.ndarray]:
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
    engine: Any | None = None,
    log_decisions: bool = False,
) -> tuple[Decision, dict[str, Any]]:
    """One transaction: a data-page image or chip folder (or a presentation folder) against a live image or
    video. Returns the decision and the details of the decision event (reason texts, timings)."""
    gate = open_gate(config, engine=engine, log_decisions=log_decisions)
    try:
        details: dict[str, Any] = {}
        gate.flow.subscribe(lambda e: details.update(e.detail) if e.kind == "decision" else None)
        presentation = Presentation.from_path(document)
        decision = run_transaction(gate.flow, presentation, FrameListCamera(live_frames(live)))
        return decision, details
    finally:
        gate.close()
