"""The officer console's data layer upstream: which cases a reader may see, resolutions made upstream, the
gates' states, and the kiosks' pull of the resolutions made for them.

Scope is decided here, from the database, on every call: a reader's role and gates are read from its
enrolment in the same transaction as the data, so an officer client reads and resolves the cases of the
gates it covers and no others, whatever it asks (a case of another gate is refused as forbidden). Supervisors
read every gate.

A resolution made upstream is stored ``pending`` and handed to its kiosk when the kiosk next pulls; the
kiosk chains it under the same id, and when that chained copy arrives through ingest it is recognised
(``chained``) instead of being counted twice. The first final resolution wins: upstream refuses one for a
case already closed in a kiosk's chain or upstream, and a kiosk refuses one for a case its own log closed
first; such a pending resolution becomes ``overtaken`` when the kiosk's own closing resolution arrives (the
kiosk's chain is the record), and the console that made it is told on its next read.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from kiosk.store.errors import AlreadyResolvedError
from kiosk.store.records import FINAL_RESOLUTIONS, RESOLUTIONS
from kiosk.upstream.errors import UnknownCase
from matcher.utc import iso_utc, utc_now

if TYPE_CHECKING:
    from kiosk.upstream.db import Tx, UpstreamDB

READERS = ("officer", "supervisor")
PENDING, CHAINED, OVERTAKEN = "pending", "chained", "overtaken"
ON_DUTY = timedelta(minutes=15)  # an officer client seen this recently is at the console (its idle time)
RUNNING = timedelta(seconds=60)  # a kiosk that pulled this recently is running (it pulls every interval_s)
MAX_NOTE = 500
_FINALS = ", ".join("?" * len(FINAL_RESOLUTIONS))
# A referred decision (alias d) is open without a final resolution in its kiosk's chain or made upstream.
OPEN_CASE = (
    f"NOT EXISTS (SELECT 1 FROM records r WHERE r.kind = 'resolution' AND r.decision_id = d.id "
    f"AND r.resolution IN ({_FINALS})) AND NOT EXISTS (SELECT 1 FROM officer_resolutions o "
    f"WHERE o.decision_id = d.id AND o.state != 'overtaken' AND o.resolution IN ({_FINALS}))"
)
_RESOLUTION_COLUMNS = "id, decision_id, officer, resolution, reason_code, note, time_utc, state"


def reader_gates(tx: Tx, reader: str) -> tuple[str, ...] | None:
    """The kiosk ids ``reader`` covers (None: every gate); PermissionError unless it is an enrolled
    officer or supervisor client."""
    row = tx.one("SELECT role, gates FROM clients WHERE id = ?", (reader,))
    if row is None or row[0] not in READERS:
        raise PermissionError(f"client {reader!r} is not an officer or supervisor")
    gates = tuple(json.loads(row[1]))
    return None if row[0] == "supervisor" or "*" in gates else gates


def gate_filter(column: str, gates: tuple[str, ...] | None) -> tuple[str, tuple[str, ...]]:
    """An SQL condition (`` AND column IN (...)``) keeping only ``gates``, and its parameters."""
    if gates is None:
        return "", ()
    if not gates:
        return " AND 1 = 0", ()
    return f" AND {column} IN ({', '.join('?' * len(gates))})", gates


def covered(tx: Tx, reader: str, decision_id: str) -> tuple[str, dict[str, Any]] | None:
    """(kiosk id, decision record) of a decision stored upstream, None when there is none; PermissionError
    when ``reader`` does not cover its gate."""
    gates = reader_gates(tx, reader)
    row = tx.one("SELECT kiosk_id, payload FROM records WHERE id = ? AND kind = 'decision'", (decision_id,))
    if row is None:
        return None
    if gates is not None and row[0] not in gates:
        raise PermissionError(f"case {decision_id} is from gate {row[0]}, which {reader!r} does not cover")
    return row[0], json.loads(row[1])


def chained_resolutions(tx: Tx, decision_id: str) -> list[dict[str, Any]]:
    """A decision's resolutions as its kiosk chained them (the records), in chain order."""
    rows = tx.all(
        "SELECT payload FROM records WHERE kind = 'resolution' AND decision_id = ? ORDER BY seq",
        (decision_id,),
    )
    return [json.loads(row[0]) for row in rows]


def _upstream_resolutions(tx: Tx, decision_id: str) -> list[dict[str, Any]]:
    names = _RESOLUTION_COLUMNS.split(", ")
    rows = tx.all(
        f"SELECT {_RESOLUTION_COLUMNS} FROM officer_resolutions WHERE decision_id = ? ORDER BY time_utc, id",
        (decision_id,),
    )
    return [dict(zip(names, row, strict=True)) for row in rows]


def _case(tx: Tx, decision_id: str, kiosk_id: str, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": decision_id,
        "kiosk_id": kiosk_id,
        "record": record,
        "resolutions": chained_resolutions(tx, decision_id),
        "upstream": _upstream_resolutions(tx, decision_id),
    }


def case(db: UpstreamDB, reader: str, decision_id: str) -> dict[str, Any] | None:
    """A case as the console reads it: ``record`` (the decision as chained), ``resolutions`` (chained
    records) and ``upstream`` (resolutions made upstream and their state); None when unknown."""
    with db.transaction() as tx:
        found = covered(tx, reader, decision_id)
        return _case(tx, decision_id, *found) if found is not None else None


def open_cases(db: UpstreamDB, reader: str, limit: int = 100) -> list[dict[str, Any]]:
    """Referred decisions without a final resolution (in the kiosks' chains or made upstream) of the gates
    ``reader`` covers, whatever it asks; newest first, each as :func:`case` gives it, from one snapshot."""
    with db.transaction() as tx:
        gates = reader_gates(tx, reader)
        where, params = gate_filter("d.kiosk_id", gates)
        rows = tx.all(
            "SELECT d.id, d.kiosk_id, d.payload FROM records d "
            f"WHERE d.kind = 'decision' AND d.outcome = 'REFER' AND {OPEN_CASE}{where} "
            "ORDER BY d.time_utc DESC, d.kiosk_id, d.seq DESC LIMIT ?",
            (*FINAL_RESOLUTIONS, *FINAL_RESOLUTIONS, *params, limit),
        )
        return [
            _case(tx, decision_id, kiosk_id, json.loads(payload)) for decision_id, kiosk_id, payload in rows
        ]


def resolve(
    db: UpstreamDB, reader: str, decision_id: str, resolution: str, reason_code: str, note: str = ""
) -> dict[str, Any]:
    """Store an officer's resolution made upstream (pending until its kiosk chains it). The officer must
    cover the case's gate; a case already closed (a final resolution in the kiosk's chain or upstream)
    raises AlreadyResolvedError naming who closed it. The check and the write hold the kiosk's chain row
    (as ingest does), so of two resolutions only the first is stored."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {', '.join(RESOLUTIONS)}, not {resolution!r}")
    if not reason_code.strip() or len(reason_code) > 64:
        raise ValueError("a resolution needs a reason code")
    if len(note) > MAX_NOTE:
        raise ValueError(f"the note is longer than {MAX_NOTE} characters")
    with db.transaction() as tx:
        role = tx.one("SELECT role FROM clients WHERE id = ?", (reader,))
        if role is None or role[0] != "officer":
            raise PermissionError(f"client {reader!r} is not an officer: only officers resolve cases")
        found = covered(tx, reader, decision_id)
        if found is None or found[1].get("outcome") != "REFER":
            raise UnknownCase(f"no referred case {decision_id}")
        kiosk_id = found[0]
        tx.one("SELECT kiosk_id FROM chains WHERE kiosk_id = ?" + tx.for_update(), (kiosk_id,))
        closing = [r for r in chained_resolutions(tx, decision_id) if r["resolution"] in FINAL_RESOLUTIONS]
        closing += [
            r
            for r in _upstream_resolutions(tx, decision_id)
            if r["resolution"] in FINAL_RESOLUTIONS and r["state"] != OVERTAKEN
        ]
        if closing:
            first = closing[0]
            raise AlreadyResolvedError(
                f"case {decision_id} was already resolved by {first['officer']} "
                f"({first['resolution']} at {first['time_utc']})",
                officer=first["officer"],
                resolution=first["resolution"],
                time_utc=first["time_utc"],
            )
        row = {
            "id": str(uuid.uuid4()),
            "decision_id": decision_id,
            "officer": reader,
            "resolution": resolution,
            "reason_code": reason_code.strip(),
            "note": note.strip(),
            "time_utc": iso_utc(utc_now()),
            "state": PENDING,
        }
        tx.execute(
            f"INSERT INTO officer_resolutions (kiosk_id, {_RESOLUTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, "
            "?, ?)",
            (kiosk_id, *row.values()),
        )
    return row


def gate_states(db: UpstreamDB, reader: str) -> list[dict[str, Any]]:
    """The reader's gates as the upstream sees them: running (pulled within ``RUNNING``), the newest
    decision's time, open cases, a traveller waiting (the newest decision is an open referral), and the
    backlog (records the kiosk reported waiting in its outbox, plus records held here behind a gap)."""
    now = utc_now()
    with db.transaction() as tx:
        gates = reader_gates(tx, reader)
        where, params = gate_filter("c.kiosk_id", gates)
        rows = tx.all(
            "SELECT c.kiosk_id, k.last_seen_utc, c.kiosk_backlog, "
            "(SELECT count(*) FROM records h WHERE h.kiosk_id = c.kiosk_id AND h.chained = 0), "
            "(SELECT max(time_utc) FROM records t WHERE t.kiosk_id = c.kiosk_id AND t.kind = 'decision'), "
            f"(SELECT count(*) FROM records d WHERE d.kiosk_id = c.kiosk_id AND d.kind = 'decision' "
            f"AND d.outcome = 'REFER' AND {OPEN_CASE}), "
            f"(SELECT count(*) FROM records d WHERE d.id = (SELECT n.id FROM records n WHERE n.kiosk_id = "
            "c.kiosk_id AND n.kind = 'decision' ORDER BY n.seq DESC LIMIT 1) AND d.outcome = 'REFER' "
            f"AND {OPEN_CASE}) "
            f"FROM chains c JOIN clients k ON k.id = c.kiosk_id WHERE 1 = 1{where} ORDER BY c.kiosk_id",
            (*FINAL_RESOLUTIONS, *FINAL_RESOLUTIONS, *FINAL_RESOLUTIONS, *FINAL_RESOLUTIONS, *params),
        )
    return [
        {
            "kiosk_id": kiosk_id,
            "running": bool(seen) and seen > iso_utc(now - RUNNING),
            "last_seen_utc": seen,
            "last_decision_utc": last or "",
            "open_cases": int(open_count),
            "waiting": bool(waiting),
            "upstream_backlog": int(backlog) + int(held),
        }
        for kiosk_id, seen, backlog, held, last, open_count, waiting in rows
    ]


def me(db: UpstreamDB, reader: str) -> dict[str, Any]:
    """The reader's own enrolment: id, role, the gates it covers."""
    with db.transaction() as tx:
        reader_gates(tx, reader)
        row = tx.one("SELECT role, gates FROM clients WHERE id = ?", (reader,))
    assert row is not None
    return {"account_id": reader, "role": row[0], "gates": json.loads(row[1])}


def sign_out(db: UpstreamDB, reader: str) -> None:
    """The reader's console signed out: it is no longer on duty (its next request puts it back)."""
    with db.transaction() as tx:
        reader_gates(tx, reader)
        tx.execute("UPDATE clients SET last_seen_utc = NULL WHERE id = ?", (reader,))


def on_duty(db: UpstreamDB) -> list[dict[str, Any]]:
    """Officer and supervisor clients seen within ``ON_DUTY``, with the gates they cover."""
    with db.transaction() as tx:
        rows = tx.all(
            "SELECT id, role, gates FROM clients WHERE role IN ('officer', 'supervisor') "
            "AND last_seen_utc > ? ORDER BY id",
            (iso_utc(utc_now() - ON_DUTY),),
        )
    return [{"account_id": i, "role": role, "gates": json.loads(gates)} for i, role, gates in rows]


def pull_for_kiosk(db: UpstreamDB, kiosk_id: str, backlog: int) -> list[dict[str, Any]]:
    """The pending resolutions made upstream for ``kiosk_id``'s cases (oldest first), and the kiosk's report
    of its outbox backlog kept for the gates' view."""
    with db.transaction() as tx:
        tx.execute("UPDATE chains SET kiosk_backlog = ? WHERE kiosk_id = ?", (max(0, backlog), kiosk_id))
        names = _RESOLUTION_COLUMNS.split(", ")
        rows = tx.all(
            f"SELECT {_RESOLUTION_COLUMNS} FROM officer_resolutions WHERE kiosk_id = ? AND state = ? "
            "ORDER BY time_utc, id",
            (kiosk_id, PENDING),
        )
    return [dict(zip(names, row, strict=True)) for row in rows]


def settle(tx: Tx, kiosk_id: str, records: Sequence[Mapping[str, Any]], now: str) -> None:
    """Ingest's hook: resolutions of the kiosk's chain just stored settle those made upstream. The same id
    chained: ``chained`` (one resolution, not two); another final resolution of the case chained first:
    the pending one is ``overtaken``."""
    for record in records:
        if record.get("kind") != "resolution":
            continue
        tx.execute(
            "UPDATE officer_resolutions SET state = ?, settled_utc = ? WHERE id = ? AND kiosk_id = ? "
            "AND state = ?",
            (CHAINED, now, record["id"], kiosk_id, PENDING),
        )
        if record["resolution"] in FINAL_RESOLUTIONS:
            tx.execute(
                "UPDATE officer_resolutions SET state = ?, settled_utc = ? WHERE decision_id = ? "
                "AND kiosk_id = ? AND state = ? AND id != ?",
                (OVERTAKEN, now, record["decision_id"], kiosk_id, PENDING, record["id"]),
            )
