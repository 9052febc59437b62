"""``GateDriver``: what feeds the flow, one step at a time. Each ``step()`` ticks the flow once (time-outs,
end of the result display), then either polls the document reader once (idle, or an unreadable document
asked for again) or hands the flow the newest frame offered (capture). No sleeping, no threads: the headless
loop (``kiosk.gate.loop``) and the traveller kiosk's gate process (``kiosk.ui.gate_process``) both call
``step()``, and ``offer(frame)`` before it with the camera's newest frame (only the newest is kept).

The driver marks a presentation done (the folder reader moves it to ``done_path``) in the step that commits
its decision, or when the traveller cancels (the document is handed back), so a kiosk stopped during the
result display does not decide the same presentation again after a restart."""

from __future__ import annotations

import numpy as np

from kiosk.devices.document_reader import DocumentReader
from kiosk.documents.presentation import Presentation
from kiosk.gate.events import Decided, Ended, GateEvent, State, StateChanged
from kiosk.gate.flow import GateFlow


class GateDriver:
    """Drives ``flow`` from ``reader`` and the frames offered; ``served`` counts the transactions ended."""

    def __init__(self, flow: GateFlow, reader: DocumentReader) -> None:
        self.flow = flow
        self.reader = reader
        self.served = 0
        self._current: Presentation | None = None  # the presentation of the running transaction
        self._frame: np.ndarray | None = None
        self._frame_time: float | None = None  # its capture time, as the camera tells it
        flow.subscribe(self._on_event)

    def offer(self, frame: np.ndarray, timestamp_ms: float | None = None) -> None:
        """A camera frame (and its ``Camera.timestamp_ms``); only the newest one offered before the next step
        is used."""
        self._frame, self._frame_time = frame, timestamp_ms

    def step(self) -> bool:
        """One step; True when something happened (a caller with nothing to do may wait a little)."""
        before = self.flow.state
        self.flow.tick()
        if self.flow.state is not before:  # a time-out or the end of the result display: one thing a step
            return True
        # a frame offered outside the capture is stale
        frame, stamp, self._frame = self._frame, self._frame_time, None
        if self.flow.state in (State.IDLE, State.DOCUMENT_RETRY):
            presentation = self.reader.poll()
            if presentation is None:
                return False
            if self._current is not None:  # the unreadable document, presented again: the first is done
                self.reader.done(self._current)
            self._current = presentation
            self.flow.present(presentation)
            return True
        if self.flow.state is State.FACE_CAPTURE and frame is not None:
            self.flow.offer_frame(frame, stamp)
            return True
        return False

    def _on_event(self, event: GateEvent) -> None:
        ended = isinstance(event, Decided) or (
            isinstance(event, StateChanged) and event.ended is Ended.CANCELLED
        )
        if ended and self._current is not None:
            self.reader.done(self._current)
        if isinstance(event, StateChanged) and event.state is State.IDLE and self._current is not None:
            self._current = None
            self.served += 1
