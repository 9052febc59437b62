"""The console against the upstream service of a group of gates: ``UpstreamService`` is both the
``CaseSource`` and the sign-in authority of a ``CaseQueue``.

The officer signs in by opening their sealed signing key with their password
(:mod:`kiosk.officer.officer_key`; five wrong passwords lock this console for 15 minutes); every request is
then signed with it
(:mod:`kiosk.sync.protocol`), and the service decides from the officer's enrolment which gates' cases it
returns and accepts resolutions for (:mod:`kiosk.upstream.officers`): whatever this client asks, it gets no
other gate's case. Sessions end after ``SESSION_IDLE`` without an action and ``SESSION_MAX`` in any case, as
on a gate's own log.

Evidence arrives sealed to the officer service's X25519 key (:mod:`kiosk.sync.evidence`); the console holds
that private key (``--evidence-key``) and opens each item in memory only. The service records each opening.

A resolution made here is stored upstream (first one wins there) and reaches the gate's own chain when its
sync next pulls (within ``[sync] interval_s``), where a gate holding the traveller acts on it.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import ssl
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk.officer.officer_key import open_officer_key
from kiosk.store.accounts import LOCKOUT, MAX_FAILURES, SESSION_IDLE, SESSION_MAX, OnDuty, Role, Session
from kiosk.store.errors import (
    AccountLockedError,
    AlreadyResolvedError,
    EvidenceError,
    PermissionDeniedError,
    SessionError,
    SignInError,
    StoreError,
)
from kiosk.store.records import Case, GateActivity, Resolution, decision_from_row, resolution_from_row
from kiosk.sync.evidence import EvidenceKeyError, load_officer_private_key, open_for_officer
from kiosk.sync.protocol import sign_request
from matcher.utc import iso_utc, utc_now

log = logging.getLogger("kiosk.officer.upstream")


class UpstreamUnavailableError(StoreError):
    """The upstream service could not be asked (network, TLS, a 5xx answer); nothing was changed."""

    code = "OFFICER_UPSTREAM_UNAVAILABLE"


class UpstreamService:
    """Cases, evidence, resolutions and gate states of the gates the signed-in officer covers upstream."""

    def __init__(
        self,
        url: str,
        key_file: Path,
        *,
        evidence_key: Path | None = None,
        ca_file: Path | None = None,
        timeout_s: float = 10.0,
        clock: Callable[[], datetime] = utc_now,
        session_idle: timedelta = SESSION_IDLE,
        session_max: timedelta = SESSION_MAX,
    ) -> None:
        if not url.startswith("https://"):
            raise StoreError(f"the upstream service is an https:// address, not {url!r}")
        if not key_file.is_file():
            raise StoreError(f"officer key {key_file} does not exist (`kiosk officer keygen` makes one)")
        self.key_file = key_file
        self._evidence_key = load_officer_private_key(evidence_key) if evidence_key is not None else None
        verify: ssl.SSLContext | bool = True
        if ca_file is not None:
            if not ca_file.is_file():
                raise StoreError(f"CA file {ca_file} does not exist")
            verify = ssl.create_default_context(cafile=str(ca_file))
        self.http = httpx.Client(base_url=url.rstrip("/"), verify=verify, timeout=timeout_s)
        self.clock, self.session_idle, self.session_max = clock, session_idle, session_max
        self._key: Ed25519PrivateKey | None = None
        self._session: Session | None = None
        self._started = self._used = clock()
        self._failures = 0
        self._locked_until: datetime | None = None

    def close(self) -> None:
        self._key = self._session = None
        self.http.close()

    def __enter__(self) -> UpstreamService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------- requests

    def _request(self, method: str, path: str, payload: Any = None, **params: Any) -> Any:
        """A signed request as the signed-in officer; the JSON answer. 403 -> PermissionDeniedError, 404 ->
        None, 409 -> AlreadyResolvedError, unreachable or 5xx -> UpstreamUnavailableError."""
        if self._key is None or self._session is None:
            raise SessionError("not signed in")
        body = json.dumps(payload).encode() if payload is not None else b""
        headers = sign_request(self._key, self._session.account_id, method, path, body)
        headers["content-type"] = "application/json"
        try:
            response = self.http.request(method, path, content=body, headers=headers, params=params or None)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailableError(f"upstream unreachable: {type(exc).__name__}: {exc}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = {"error": response.text[:300]}
        status = response.status_code
        if status == 200:
            return answer
        message = str(answer.get("error", ""))
        if status == 404:
            return None
        if status == 403:
            raise PermissionDeniedError(message)
        if status == 409 and answer.get("code") == AlreadyResolvedError.code:
            raise AlreadyResolvedError(
                message,
                officer=answer["officer"],
                resolution=answer["resolution"],
                time_utc=answer["time_utc"],
            )
        if status == 401:
            raise SessionError(f"the upstream refused this officer's key: {message}")
        if status >= 500:
            raise UpstreamUnavailableError(f"upstream answered {status}: {message}")
        raise StoreError(f"upstream answered {status}: {message}")

    # ------------------------------------------------------------------------------------------- sign-in

    def sign_in(self, account_id: str, password: str) -> Session:
        """Open the officer's key with ``password`` and ask the service who it is enrolled as (role,
        gates). Wrong passwords lock this console after ``MAX_FAILURES`` for ``LOCKOUT``."""
        now = self.clock()
        if self._locked_until is not None and now < self._locked_until:
            until = iso_utc(self._locked_until)
            raise AccountLockedError(
                f"this console is locked after {MAX_FAILURES} failed sign-ins until {until}"
            )
        try:
            key = open_officer_key(self.key_file, account_id, password)
        except SignInError:
            self._failures += 1
            if self._failures < MAX_FAILURES:
                raise
            self._failures, self._locked_until = 0, now + LOCKOUT
            until = iso_utc(self._locked_until)
            raise AccountLockedError(
                f"this console is locked after {MAX_FAILURES} failed sign-ins until {until}"
            ) from None
        self._failures, self._locked_until = 0, None
        self._key = key
        self._session = Session(secrets.token_urlsafe(32), account_id, "officer", ())
        try:
            me = self._request("GET", "/v1/me")
        except BaseException:
            self._key = self._session = None
            raise
        role: Role = me["role"]
        self._session = Session(self._session.token, me["account_id"], role, tuple(me["gates"]))
        self._started = self._used = now
        return self._session

    def sign_out(self, session: Session) -> None:
        """Tell the service this officer left the console (the gates' view), then forget the key."""
        if self._session is None or session.token != self._session.token:
            return
        try:
            self._request("POST", "/v1/sign-out", {})
        except StoreError as exc:  # the officer leaves all the same; the service counts them gone later
            log.warning("signing out upstream failed: %s", exc)
        finally:
            self._key = self._session = None

    def authorize(self, session: Session, role: Role | None = None, *, touch: bool = True) -> Session:
        """The session as it stands (this console's: ended, idle or too old -> SessionError). What it may
        read is decided by the service on each request."""
        now = self.clock()
        current = self._session
        if current is None or session.token != current.token:
            raise SessionError("not signed in")
        if now - self._used >= self.session_idle or now - self._started >= self.session_max:
            self._key = self._session = None
            raise SessionError("the session has expired: sign in again")
        if role == "supervisor" and current.role != "supervisor":
            raise PermissionDeniedError(f"account {current.account_id} is not a supervisor")
        if touch:
            self._used = now
        return current

    def on_duty(self) -> list[OnDuty]:
        answer = self._request("GET", "/v1/gates")
        return [OnDuty(o["account_id"], o["role"], tuple(o["gates"])) for o in answer["on_duty"]]

    def note_evidence_opened(self, session: Session, decision_id: str) -> None:
        """Nothing to do here: the service records each opening when it serves the sealed items."""

    # ------------------------------------------------------------------------------------------- cases

    def open_cases(self, *, kiosk_ids: Collection[str] | None, limit: int) -> list[Case]:
        answer = self._request("GET", "/v1/cases/open", limit=limit)
        cases = [_case(found) for found in answer["cases"]]
        return [c for c in cases if kiosk_ids is None or c.kiosk_id in kiosk_ids]

    def case(self, decision_id: str) -> Case | None:
        found = self._request("GET", f"/v1/cases/{decision_id}")
        return _case(found) if found is not None else None

    def evidence(self, decision_id: str) -> dict[str, bytes]:
        if self._evidence_key is None:
            raise EvidenceError("opening evidence upstream needs the officer service's key (--evidence-key)")
        answer = self._request("GET", f"/v1/cases/{decision_id}/evidence") or {"evidence": []}
        items = {}
        for item in answer["evidence"]:
            try:
                sealed = base64.b64decode(item["sealed"], validate=True)
                items[item["kind"]] = open_for_officer(self._evidence_key, sealed, decision_id, item["kind"])
            except (EvidenceKeyError, ValueError, KeyError) as exc:
                raise EvidenceError(f"evidence of case {decision_id} does not open: {exc}") from None
        return items

    def resolve(
        self, decision_id: str, officer: str, resolution: str, *, reason_code: str, note: str
    ) -> Resolution:
        if self._session is None or officer != self._session.account_id:
            raise SessionError("a resolution upstream is made under the signed-in officer's key")
        payload = {"resolution": resolution, "reason_code": reason_code, "note": note}
        answer = self._request("POST", f"/v1/cases/{decision_id}/resolution", payload)
        if answer is None:
            raise StoreError(f"no referred case {decision_id} upstream")
        return _pending(answer["resolution"])

    def gate_activity(self) -> list[GateActivity]:
        answer = self._request("GET", "/v1/gates")
        return [
            GateActivity(
                g["kiosk_id"],
                g["running"],
                g["last_decision_utc"],
                g["open_cases"],
                g["waiting"],
                g["upstream_backlog"],
            )
            for g in answer["gates"]
        ]


def _pending(row: dict[str, Any]) -> Resolution:
    """A resolution made upstream and not yet in its kiosk's chain (no place in a chain yet)."""
    return resolution_from_row({**row, "seq": 0, "prev_hash": "", "hash": ""})


def _case(found: dict[str, Any]) -> Case:
    """A case as the service returns it: the kiosk's chained decision and resolutions, then the
    resolutions made upstream that its chain does not hold yet (overtaken ones left out)."""
    chained = [resolution_from_row(record) for record in found["resolutions"]]
    known = {r.id for r in chained}
    pending = [_pending(r) for r in found["upstream"] if r["state"] == "pending" and r["id"] not in known]
    return Case(decision_from_row(found["record"]), (*chained, *pending))
