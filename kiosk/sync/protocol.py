"""The wire protocol between a kiosk's sync and the upstream service (both sides import it).

Requests are signed with the kiosk's Ed25519 key: the signature covers the method, the path, the client id,
a timestamp, a random nonce and the SHA-256 of the body, so a captured request cannot be altered, and the
service refuses it again (nonce seen) or later (timestamp outside the window). A batch is
``{"log_id": ..., "records": [outbox payloads]}``; each record is the chained record exactly as the kiosk's
log hashed it (``kiosk.store.chain``), so the service verifies it with the same pure functions. The record id
is the idempotency key; the answer names the records acknowledged (stored upstream, now or before), the
records refused (each with a code: the kiosk quarantines them) and the anchored head: the last (seq, hash)
of the kiosk's chain the service has verified without a gap.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PROTOCOL = b"egate-sync-v1"
RECORDS_PATH = "/v1/records"
HEAD_PATH = "/v1/head"
RESOLUTIONS_PATH = "/v1/kiosk/resolutions"  # a kiosk pulls the resolutions officers made upstream for it
CLIENT_HEADER = "x-egate-client"
TIME_HEADER = "x-egate-time"
NONCE_HEADER = "x-egate-nonce"
SIGNATURE_HEADER = "x-egate-signature"
REPLAY_WINDOW_S = 300  # a request signed longer ago (or ahead) than this is refused
MAX_BATCH = 1000

# Names that must never carry data in a record going upstream: biometric data and clear document numbers.
# Records carry keyed document-number hashes, scores, counts and evidence digests only; a record where one of
# these names holds text or a structure (not a number: "frames": 12 is a count) was built wrongly and is
# quarantined at the kiosk rather than sent.
FORBIDDEN_KEYS = frozenset(
    {
        "document_number", "mrz", "template", "embedding", "image", "portrait", "face_image", "frames",
        "live_face", "live_template", "document_portrait", "capture_frames",
    }
)  # fmt: skip


def _message(method: str, path: str, client_id: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return b"\n".join(
        (PROTOCOL, method.upper().encode(), path.encode(), client_id.encode(), timestamp.encode(),
         nonce.encode(), digest.encode())
    )  # fmt: skip


def sign_request(
    key: Ed25519PrivateKey, client_id: str, method: str, path: str, body: bytes, *, now: float | None = None
) -> dict[str, str]:
    """The authentication headers of one request."""
    timestamp = str(int(now if now is not None else time.time()))
    nonce = secrets.token_hex(16)
    signature = key.sign(_message(method, path, client_id, timestamp, nonce, body))
    return {
        CLIENT_HEADER: client_id,
        TIME_HEADER: timestamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: base64.b64encode(signature).decode("ascii"),
    }


@dataclass(frozen=True)
class SignedRequest:
    client_id: str
    timestamp: int
    nonce: str


class AuthError(Exception):
    """The request is not signed by the client it names (or is stale): answered 401, never retried as is."""


def check_request(
    headers: Mapping[str, str],
    method: str,
    path: str,
    body: bytes,
    public_key_of: Any,
    *,
    now: float | None = None,
) -> SignedRequest:
    """Verify the signature headers; ``public_key_of(client_id)`` gives the enrolled key or None. The nonce
    is returned for the caller to record (replay refusal needs the store)."""
    try:
        client_id, timestamp = headers[CLIENT_HEADER], headers[TIME_HEADER]
        nonce, signature = headers[NONCE_HEADER], base64.b64decode(headers[SIGNATURE_HEADER], validate=True)
        moment = int(timestamp)
    except (KeyError, ValueError):
        raise AuthError("missing or malformed signature headers") from None
    if not (8 <= len(nonce) <= 64) or not nonce.isalnum():
        raise AuthError("malformed nonce")
    if abs((now if now is not None else time.time()) - moment) > REPLAY_WINDOW_S:
        raise AuthError(f"request time outside the {REPLAY_WINDOW_S} s window (clock skew or replay)")
    key: Ed25519PublicKey | None = public_key_of(client_id)
    if key is None:
        raise AuthError(f"unknown client {client_id!r} (enrol it with `kiosk upstream kiosk add`)")
    try:
        key.verify(signature, _message(method, path, client_id, timestamp, nonce, body))
    except InvalidSignature:
        raise AuthError(f"bad signature for client {client_id!r}") from None
    return SignedRequest(client_id, moment, nonce)


def forbidden_keys(record: Mapping[str, Any]) -> set[str]:
    """Forbidden names (``FORBIDDEN_KEYS``) holding data anywhere in ``record``, including inside its JSON
    text fields."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            found.update(
                k
                for k, v in value.items()
                if k in FORBIDDEN_KEYS and isinstance(v, str | list | Mapping) and v
            )
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and value[:1] in ("{", "["):
            with contextlib.suppress(ValueError):
                walk(json.loads(value))

    walk(record)
    return found


@dataclass(frozen=True)
class Rejected:
    record_id: str
    code: str
    reason: str


@dataclass(frozen=True)
class BatchAnswer:
    """The service's answer to a batch: acknowledged ids, refused records, anchored head, held back count."""

    acked: tuple[str, ...]
    rejected: tuple[Rejected, ...]
    head_seq: int
    head_hash: str
    held: int

    def to_json(self) -> dict[str, Any]:
        return {
            "acked": list(self.acked),
            "rejected": [{"id": r.record_id, "code": r.code, "reason": r.reason} for r in self.rejected],
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "held": self.held,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BatchAnswer:
        return cls(
            acked=tuple(str(i) for i in data["acked"]),
            rejected=tuple(
                Rejected(str(r["id"]), str(r["code"]), str(r["reason"])) for r in data["rejected"]
            ),
            head_seq=int(data["head"]["seq"]),
            head_hash=str(data["head"]["hash"]),
            held=int(data["held"]),
        )
