"""Assembling a gate from its configuration: ``open_gate`` loads the real components once (face engine,
trust store, chip reader, watchlists, document lists, decision log and key, barrier, PAD sensor) and returns
the ``Gate`` holding the ``GateFlow``; ``make_evidence`` is the flow's evidence factory."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from kiosk.config import KioskConfig
from kiosk.devices.barrier import GateBarrier, open_barrier
from kiosk.devices.pad_sensor import open_pad_sensor
from kiosk.document_lists import open_document_lists
from kiosk.documents.checks import DocumentError
from kiosk.documents.presentation import Presentation
from kiosk.errors import ConfigError
from kiosk.gate.flow import GateFlow
from kiosk.gate.ports import Clock, DocumentFacts, DocumentReadFn, FaceMatcher, SystemClock
from matcher.types import Template

if TYPE_CHECKING:  # loaded when a gate is opened, not when this module is imported
    from kiosk.devices.chip_reader import PcscChipDevice
    from kiosk.documents.chip import TrustStore
    from kiosk.store import DecisionLog, Evidence
    from matcher.watchlist import WatchlistStore

log = logging.getLogger("kiosk.gate.assemble")


@dataclass
class Gate:
    """A configured gate: the flow plus the components it owns (closed together)."""

    flow: GateFlow
    decision_log: DecisionLog | None = None

    def close(self) -> None:
        if self.decision_log is not None:
            self.decision_log.close()


def document_reader_for(
    trust: TrustStore | None,
    extra_state_codes: tuple[str, ...] = (),
    chip_reader: PcscChipDevice | None = None,
) -> DocumentReadFn:
    """The function the flow calls to read a presentation (data page and/or chip) with the trust store.
    ``chip_reader`` (a ``kiosk.devices.chip_reader.PcscChipDevice``): the chip is read from it, opened with
    the MRZ of the page, instead of from the presentation's chip folder."""
    from kiosk.documents.reading import read_document

    def read(presentation: Presentation, today: date) -> DocumentFacts:
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


def open_chip_reader(config: KioskConfig) -> PcscChipDevice | None:
    """The configured PC/SC chip reader, checked to be connected; None for chip folders
    (DocumentReaderError when the PC/SC service or the reader is missing)."""
    if config.chip_reader.kind != "pcsc":
        return None
    from kiosk.devices.chip_reader import PcscChipDevice

    device = PcscChipDevice(config.chip_reader.reader, config.chip_reader.time_budget_s)
    device.check()
    return device


def load_trust_store(path: Path | None) -> TrustStore | None:
    if path is None:
        return None
    from kiosk.documents.chip import TrustStore

    return TrustStore.from_folder(path)


def open_gate(
    config: KioskConfig,
    *,
    engine: FaceMatcher | None = None,
    log_decisions: bool = True,
    barrier: GateBarrier | None = None,
    clock: Clock | None = None,
    threads: int | None = None,
) -> Gate:
    """Load the components the configuration names and return the gate. ``engine`` reuses a loaded one;
    ``threads``: the face models' compute threads each (None: onnxruntime's default, every core)."""
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
            landmarks=True,  # the live capture's eyes and mouth (EYES_CLOSED, MOUTH_OPEN)
            threads=threads,
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
        releases=decision_log,  # the officers' resolutions reach the gate's own log (console or sync)
    )
    return Gate(flow=flow, decision_log=decision_log)


def open_watchlists(config: KioskConfig, now: datetime) -> WatchlistStore | None:
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


def make_evidence(
    live_face: np.ndarray,
    template: Template | None,
    frames: Sequence[np.ndarray] = (),
    portrait: np.ndarray | None = None,
    document: Mapping[str, str] | None = None,
) -> Evidence:
    """The store's Evidence of a referred case: the live face and the document portrait it was compared
    with as the officer views them (``EVIDENCE_LONG_SIDE`` px, JPEG ``EVIDENCE_QUALITY``: the case view
    shows them 260 px high), the template bytes; ``frames`` (every frame of a capture with a liveness alarm,
    full size: an officer looks for screen edges and moire in them) as JPEGs packed in one item; the
    document's data (its number only here, sealed) for the officer."""
    from kiosk.store import Evidence
    from kiosk.store.evidence import pack_frames

    return Evidence(
        live_face=_jpeg(_bounded(live_face), EVIDENCE_QUALITY),
        live_template=template.to_bytes() if template else None,
        capture_frames=pack_frames([j for j in map(_jpeg, frames) if j]) if len(frames) else None,
        document_portrait=_jpeg(_bounded(portrait), EVIDENCE_QUALITY) if portrait is not None else None,
        document_data=json.dumps(dict(document), sort_keys=True).encode() if document else None,
    )


EVIDENCE_LONG_SIDE = 320  # px: each referral fsyncs its evidence; 320 px is above what the case view shows
EVIDENCE_QUALITY = 85


def _bounded(image: np.ndarray) -> np.ndarray:
    """``image`` shrunk (area averaging) so its longer side is at most ``EVIDENCE_LONG_SIDE``."""
    height, width = image.shape[:2]
    scale = EVIDENCE_LONG_SIDE / max(height, width)
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _jpeg(image: np.ndarray, quality: int = 90) -> bytes | None:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return data.tobytes() if ok else None
