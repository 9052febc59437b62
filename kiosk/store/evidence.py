"""Evidence of referred cases (live face crop, live template, document portrait, and on a liveness alarm every
frame of the capture), sealed with AES-256-GCM.

Each item is encrypted with a fresh nonce; the associated data binds the ciphertext to its decision id, kind,
retention date and key id, so a blob cannot be moved to another case or have its retention extended without
failing authentication. The decision's chained record carries only ``{kind, retain_until, sha256}`` of each
ciphertext: the chain proves which evidence existed without depending on it, so ``purge`` can delete the
blobs after their retention date while the chain still verifies (and a blob swapped in later is detected).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from kiosk.store.errors import EvidenceError
from kiosk.store.keys import KeyRing

EVIDENCE_KINDS = ("live_face", "live_template", "document_portrait", "capture_frames", "document_data")


@dataclass(frozen=True)
class Evidence:
    """What policy keeps for a flagged case. Images as encoded bytes (JPEG/PNG), templates as
    ``matcher.Template.to_bytes()``; the store never decodes them."""

    live_face: bytes | None = None
    live_template: bytes | None = None
    document_portrait: bytes | None = None
    capture_frames: bytes | None = None  # pack_frames() of the capture's encoded frames, in order
    # UTF-8 JSON of the document's data (number, names, dates) for the officer: the number exists in clear
    # only here, sealed, never in a chained record
    document_data: bytes | None = None
    retain_until: datetime | None = None  # None: the log's default retention period from now

    def items(self) -> dict[str, bytes]:
        found = {kind: getattr(self, kind) for kind in EVIDENCE_KINDS if getattr(self, kind) is not None}
        for kind, blob in found.items():
            if not isinstance(blob, bytes) or not blob:
                raise EvidenceError(f"evidence {kind} must be non-empty bytes")
        return found


def pack_frames(frames: Sequence[bytes]) -> bytes:
    """Encoded frames (JPEG/PNG) in order, as one evidence item: a ZIP of frame_0000.jpg... (stored; the
    images are compressed already), readable by any ZIP tool once unsealed."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for i, frame in enumerate(frames):
            archive.writestr(f"frame_{i:04d}.jpg", frame)
    return buffer.getvalue()


def unpack_frames(blob: bytes) -> list[bytes]:
    """The frames of a ``capture_frames`` item, in capture order."""
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        return [archive.read(name) for name in sorted(archive.namelist())]


@dataclass(frozen=True)
class SealedItem:
    kind: str
    key_id: str
    ciphertext: bytes
    retain_until: str  # ISO UTC

    @property
    def digest(self) -> dict[str, str]:
        """What the chain records about this item (no biometric content)."""
        return {
            "kind": self.kind,
            "retain_until": self.retain_until,
            "sha256": ciphertext_digest(self.ciphertext),
        }


def ciphertext_digest(ciphertext: bytes) -> str:
    return hashlib.sha256(ciphertext).hexdigest()


def _associated_data(decision_id: str, kind: str, retain_until: str, key_id: str) -> bytes:
    return f"egate-evidence-v1|{decision_id}|{kind}|{retain_until}|{key_id}".encode()


def seal(keys: KeyRing, decision_id: str, evidence: Evidence, retain_until: str) -> list[SealedItem]:
    return [
        SealedItem(
            kind,
            keys.key_id,
            keys.encrypt(blob, _associated_data(decision_id, kind, retain_until, keys.key_id)),
            retain_until,
        )
        for kind, blob in evidence.items().items()
    ]


def unseal(keys: KeyRing, decision_id: str, item: SealedItem) -> bytes:
    if item.key_id != keys.key_id:
        raise EvidenceError(
            f"evidence {item.kind} of decision {decision_id} was sealed with key {item.key_id}, "
            f"not with the loaded key {keys.key_id}"
        )
    return keys.decrypt(
        item.ciphertext, _associated_data(decision_id, item.kind, item.retain_until, item.key_id)
    )
