"""Assembling a gate from its configuration, and running single transactions through it.

``open_gate`` loads the real components once (face engine, trust store, watchlists, decision log) and
returns the ``GateFlow``; ``run_transaction`` drives one document + camera through it; ``verify`` is the
Python function behind ``kiosk verify``."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.config import KioskConfig
from kiosk.decision import Decision
from kiosk.devices.barrier import GateBarrier, open_barrier
from kiosk.devices.camera import IMAGE_SUFFIXES, Camera, CameraExhausted, FrameListCamera
from kiosk.devices.document_reader import Presentation
from kiosk.devices.pad_sensor import open_pad_sensor
from kiosk.document_lists import open_document_lists
from kiosk.documents.checks import DocumentError
from kiosk.errors import ConfigError, KioskError
from kiosk.flow import Clock, DocumentReadFn, GateFlow, SystemClock
from kiosk.gate.events import Decided, State
from matcher.errors import ImageError

log = logging.getLogger("kiosk.transaction")

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


def document_reader_for(
    trust: Any | None, extra_state_codes: tuple[str, ...] = (), chip_reader: Any | None = None
) -> DocumentReadFn:
    """The function the flow calls to read a presentation (data page and/or chip) with the trust store.
    ``chip_reader`` (a ``kiosk.devices.chip_reader.PcscChipDevice``): the chip is read from it, opened with
    the MRZ of the page, instead of from the presentation's chip folder."""
    from kiosk.documents.reader import read_document

    def read(presentation: Presentation, today: date) -> Any:
        if chip_reader is not None and presentation.page is None:
            raise DocumentError(
                f"presentation {presentation.name!r} holds no data page to open the chip with"
            )
        if presentation.empty:
            raise DocumentError(f"presentation {presentation.name!r} holds neither a data page nor a chip")
        return read_document(
            page=presentation.page,
            chip=chip_reader if chip_reader is not None else presentation.chip,
            trust=trust,
            today=today,
            extra_codes=extra_state_codes,
        )

    return read


def open_chip_reader(config: KioskConfig) -> Any | None:
    """The configured PC/SC chip reader, checked to be connected; None for chip folders
    (DocumentReaderError when the PC/SC service or the reader is missing)."""
    if config.chip_reader.kind != "pcsc":
        return None
    from kiosk.devices.chip_reader import PcscChipDevice

    device = PcscChipDevice(config.chip_reader.reader, config.chip_reader.time_budget_s)
    device.check()
    return device


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

    if log_decisions and config.log_path is None:
        raise ConfigError(
            "store.path is not set: the kiosk does not run without a decision log "
            "(kiosk run --no-log, for development only)"
        )
    if engine is None:
        engine = FaceEngine.load(
            config.manifest,
            multiple_face_ratio=config.policy.second_face_min_ratio,
            liveness=config.policy.liveness_required,
        )
    watchlist = open_watchlists(config, (clock or SystemClock()).now())
    decision_log = keys = None
    if log_decisions and config.log_path is not None:
        from kiosk.store import DecisionLog
        from kiosk.store.keys import KeyRing

        keys = KeyRing.load(config.key_file)
        if not config.log_path.exists():  # said aloud: a mistyped store.path would start a second log
            log.warning("decision log %s does not exist: starting a new, empty log there", config.log_path)
        config.log_path.parent.mkdir(parents=True, exist_ok=True)
        decision_log = DecisionLog(config.log_path, keys, synchronous=config.log_synchronous)
    flow = GateFlow(
        engine,
        document_reader_for(
            load_trust_store(config.trust_store), config.extra_state_codes, open_chip_reader(config)
        ),
        policy=config.policy,
        kiosk_id=config.kiosk_id,
        watchlist=watchlist,
        document_lists=document_lists,
        decision_log=decision_log,
        keys=keys,
        barrier=barrier if barrier is not None else open_barrier(config.barrier.kind),
        clock=clock,
        evidence_factory=make_evidence if decision_log is not None else None,
        liveness=config.liveness,
        pad_sensor=open_pad_sensor(
            config.liveness.sensor, simulated_score=config.liveness.simulated_sensor_score
        ),
    )
    return Gate(flow=flow, decision_log=decision_log)


def open_watchlists(config: KioskConfig, now: datetime) -> Any | None:
    """The configured watchlist store, loaded, or None when none is configured. ConfigError when the store
    does not exist, holds no list, lacks a configured list, or a list is empty or was last refreshed longer
    ago than ``watchlist.max_age_hours``: a gate must never screen against nothing without a word."""
    if config.watchlist is None:
        return None
    from matcher.watchlist import WatchlistMissingError, WatchlistStore
    from matcher.watchlist.search import to_epoch

    try:
        store = WatchlistStore(config.watchlist)
    except WatchlistMissingError as exc:
        raise ConfigError(f"watchlist.path: {exc}") from None
    lists = {li.list_id: li for li in store.lists()}
    wanted = config.watchlist_lists or tuple(lists)
    if not wanted:
        raise ConfigError(
            f"watchlist store {config.watchlist} holds no list: the gate would screen against nothing"
        )
    for list_id in wanted:
        info = lists.get(list_id)
        if info is None:
            raise ConfigError(
                f"watchlist.lists names {list_id!r}, which is not in the store {config.watchlist}"
            )
        if info.entry_count == 0:
            raise ConfigError(f"watchlist {list_id!r} in {config.watchlist} is empty")
        refreshed = store.last_bundle(list_id) or info.updated_at
        age_h = (now.timestamp() - to_epoch(refreshed)) / 3600
        if config.watchlist_max_age_h and age_h > config.watchlist_max_age_h:
            raise ConfigError(
                f"watchlist {list_id!r} was last refreshed at {refreshed} ({age_h:.0f} h ago), longer ago "
                f"than watchlist.max_age_hours = {config.watchlist_max_age_h:g}"
            )
    store.refresh()  # load every index now: a corrupt one stops the start, not a traveller
    return store


def make_evidence(live_face: np.ndarray, template: Any | None, frames: Sequence[np.ndarray] = ()) -> Any:
    """The store's Evidence of a referred case: the live face as JPEG and the template bytes; ``frames``
    (every frame of a capture with a liveness alarm) as JPEGs packed in one item."""
    from kiosk.store import Evidence
    from kiosk.store.evidence import pack_frames

    return Evidence(
        live_face=_jpeg(live_face),
        live_template=template.to_bytes() if template else None,
        capture_frames=pack_frames([j for j in map(_jpeg, frames) if j]) if len(frames) else None,
    )


def _jpeg(image: np.ndarray) -> bytes | None:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return data.tobytes() if ok else None


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
        flow.offer_frame(frame)
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
    engine: Any | None = None,
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
