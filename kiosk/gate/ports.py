"""What the gate flow calls of its collaborators, and nothing more: the face engine, the watchlists, the
document lists, the decision log, the document reader function, the document-number hasher, the clock and
the evidence factory. The barrier and the PAD sensor are the devices' own Protocols
(``kiosk.devices.barrier.GateBarrier``, ``kiosk.devices.pad_sensor.PadSensor``).

The real components (``matcher.FaceEngine``, ``matcher.watchlist.WatchlistStore``,
``kiosk.document_lists.DocumentScreen``, ``kiosk.store.DecisionLog``, ``kiosk.store.keys.KeyRing``) satisfy
these structurally; the state-machine tests pass small fakes."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Protocol

import numpy as np

from kiosk.decision import Decision
from kiosk.documents.checks import Check
from kiosk.documents.presentation import Presentation
from matcher.quality import QualityLimits
from matcher.types import Face
from matcher.watchlist.documents import DocumentHit


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds of a clock that never goes back (time-outs, event times)."""
        ...

    def now(self) -> datetime:
        """Current UTC time (decision time stamps, document expiry)."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)


class FaceTemplate(Protocol):
    """A template as the flow handles it (``matcher.types.Template``): compared, stored, never looked into
    beyond the face it was made from."""

    @property
    def face(self) -> Face | None: ...


class FaceMatcher(Protocol):
    """The face engine (``matcher.FaceEngine``): detection, quality-checked templates, 1:1 comparison."""

    @property
    def model_versions(self) -> Mapping[str, str]: ...

    @property
    def passive_liveness(self) -> object | None:
        """The PAD models when loaded (``policy.liveness_required`` needs them)."""
        ...

    def threshold(self, fmr: float) -> float: ...

    def detect(self, image_bgr: np.ndarray) -> list[Face]: ...

    def select_face(self, faces: list[Face], image_shape: tuple[int, ...]) -> Face: ...

    def template(self, image_bgr: np.ndarray, *, limits: QualityLimits | None = None) -> Any: ...

    def template_for_face(self, image_bgr: np.ndarray, face: Face) -> Any: ...

    def compare(self, t1: Any, t2: Any) -> float: ...

    def liveness(self, image_bgr: np.ndarray, face: Face) -> float:
        """Passive live probability of the face (used through ``kiosk.liveness.LivenessCheck``)."""
        ...

    @property
    def has_landmarks(self) -> bool:
        """Whether :meth:`landmarks` can run (the landmark model is loaded)."""
        ...

    def landmarks(self, image_bgr: np.ndarray, face: Face) -> np.ndarray:
        """The face's 106 landmarks (the live capture's eyes and mouth), when ``has_landmarks``."""
        ...


class WatchlistAlert(Protocol):
    """One 1:N candidate (``matcher.watchlist.Alert``)."""

    list_id: str
    entry_id: int | str
    category: str
    severity: str
    score: float
    threshold: float


class WatchlistSearch(Protocol):
    """The watchlists the gate screens against (``matcher.watchlist.WatchlistStore``)."""

    def refresh(self) -> object:
        """Pick up list versions published since the last call."""
        ...

    def search(
        self, template: Any, *, top_k: int = 5, now: datetime | None = None
    ) -> Sequence[WatchlistAlert]: ...


class DocumentFacts(Protocol):
    """What the flow uses of a document reading (``kiosk.documents.reading.DocumentReading``)."""

    mrz: Any  # kiosk.documents.mrz.MrzRecord or None: document_number, issuing_state, document_code
    portrait: np.ndarray | None
    portrait_source: str | None
    checks: tuple[Check, ...]


# (presentation, today's date from the flow's clock) -> reading; see kiosk.gate.assemble.document_reader_for
DocumentReadFn = Callable[[Presentation, date], DocumentFacts]


class DocumentScreen(Protocol):
    """Lost, stolen and alerted document numbers (``kiosk.document_lists.DocumentScreen``)."""

    def check(self, reading: Any) -> tuple[DocumentHit, ...]: ...


class DocumentHasher(Protocol):
    """The keyed hash of a document number (``kiosk.store.keys.KeyRing``): the log never holds the number."""

    def hash_document_number(self, number: str, issuing_state: str | None) -> str: ...


class DecisionSink(Protocol):
    """Where decisions go (``kiosk.store.DecisionLog``): one append per transaction, with the evidence."""

    def append(self, decision: Decision, *, evidence: Any = None) -> str: ...


# (live face image, live template or None, every frame of the capture or none, the document portrait or
# None, the document's data for the officer: number, names, dates) -> kiosk.store.Evidence
EvidenceFactory = Callable[[np.ndarray, Any, list[np.ndarray], np.ndarray | None, dict[str, str]], Any]


class OfficerResolution(Protocol):
    """An officer's resolution of a referral as the gate reads it (``kiosk.store.records.Resolution``)."""

    @property
    def id(self) -> str: ...

    @property
    def officer(self) -> str: ...

    @property
    def resolution(self) -> str:
        """ADMITTED, REFUSED, ESCALATED, RETRY (``kiosk.store.records.RESOLUTIONS``) or EXIT_OPENED."""
        ...

    @property
    def reason_code(self) -> str | None: ...


class OfficerReleases(Protocol):
    """Where a gate holding a referred traveller learns the officer's resolution, and records that its exit
    opened on an admit (``kiosk.store.DecisionLog``: the local log; resolutions made on the upstream console
    reach it through the sync)."""

    def resolutions(self, decision_id: str) -> Sequence[OfficerResolution]:
        """The decision's resolutions, oldest first."""
        ...

    def log_exit_opened(self, decision_id: str, officer: str) -> str:
        """Chain that the exit opened for the referral on ``officer``'s admit; returns the row's id."""
        ...
