"""What the command line prints of the gate: one readable line per decision, and the JSON of a decision
and of every gate event (``kiosk run --json``, ``kiosk verify --json``, ``kiosk demo``). English texts from
the catalogues: the CLI speaks English."""

from __future__ import annotations

from typing import Any

from kiosk.decision import Decision
from kiosk.gate.events import Coaching, Decided, GateEvent, StateChanged, TimeWarning
from kiosk.texts import coaching_text, reason_text


def decision_line(decision: Decision, label: str = "") -> str:
    """One readable line: outcome, who/what, reason codes and the 1:1 score against its threshold."""
    parts = [f"{decision.outcome:<5}"]
    if label:
        parts.append(f"{label:<34}")
    parts.append(",".join(decision.reason_codes) if decision.reason_codes else "-")
    if decision.face_score is not None and decision.face_threshold is not None:
        parts.append(f"1:1 {decision.face_score:.3f} (thr {decision.face_threshold:.3f})")
    for hit in decision.watchlist_hits:
        parts.append(
            f"watchlist {hit.list_id}/{hit.category or '-'} {hit.score:.3f} (thr {hit.threshold:.3f})"
        )
    return "  ".join(parts)


def decision_json(decision: Decision, decided: Decided | None = None) -> dict[str, Any]:
    data = decision.as_dict()
    data["reasons"] = [{"code": c, "text": reason_text(c)} for c in decision.reason_codes]
    if decided is not None:
        data["timings_ms"] = decided.timings_ms
    return data


def event_json(event: GateEvent) -> dict[str, Any]:
    """One JSON line of ``kiosk run --json``: the kind, the state, the clock time and what the kind carries
    (coaching: the code and the English text; a decision: the record with the officer's texts)."""
    if isinstance(event, Decided):
        return {
            "kind": "decision",
            "state": "decision",
            "time": event.at,
            "decision": decision_json(event.decision, event),
        }
    record: dict[str, Any] = {"kind": "state", "state": str(event.state), "time": event.at}
    if isinstance(event, Coaching):
        record.update(kind="coaching", code=event.code, message=coaching_text(event.code))
    elif isinstance(event, TimeWarning):
        record.update(
            kind="time_warning", seconds_left=event.seconds_left, extensions_left=event.extensions_left
        )
    elif isinstance(event, StateChanged):  # how a wait for the officer ended, why a transaction ended
        record.update(
            {name: str(value) for name in ("ended", "resolution") if (value := getattr(event, name))}
        )
    return record
