"""Helpers of the upstream tests: TLS file set, kiosks with real decision logs."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk.decision import Decision
from kiosk.store import DecisionLog, KeyRing
from kiosk.sync.settings import SyncConfig
from kiosk.upstream.db import UpstreamDB


@dataclass(frozen=True)
class Tls:
    ca: Path
    cert: Path
    key: Path


@dataclass
class Kiosk:
    id: str
    key: Ed25519PrivateKey
    key_file: Path
    log_path: Path
    keys: KeyRing

    def append(self, count: int, *, refer_every: int = 5) -> list[str]:
        """Log ``count`` decisions quickly (straight into a real DecisionLog; no face pipeline)."""
        ids = []
        with DecisionLog(self.log_path, self.keys, exclusive=False, synchronous="NORMAL") as log:
            for n in range(count):
                refer = n % refer_every == 1
                ids.append(
                    log.append(
                        Decision(
                            kiosk_id=self.id,
                            outcome="REFER" if refer else "PASS",
                            reason_codes=("FACE_MISMATCH",) if refer else (),
                            document_type="P",
                            issuing_state="UTO",
                            document_number_hash=self.keys.hash_document_number(secrets.token_hex(4), "UTO"),
                            document_checks={"mrz.check_digits": True},
                            quality={"yaw": 2.5},
                            face_score=0.21 if refer else 0.64,
                            face_threshold=0.3581,
                            models={"embedder": "w600k_mbf@test"},
                        )
                    )
                )
        return ids

    def sync_config(self, url: str, tls: Tls, **overrides: object) -> SyncConfig:
        values: dict[str, object] = {
            "url": url,
            "key_file": self.key_file,
            "ca_file": tls.ca,
            "batch_size": 100,
            "timeout_s": 2.0,
            "interval_s": 0.05,
            "max_backoff_s": 0.5,
        }
        values.update(overrides)
        return SyncConfig(**values)  # type: ignore[arg-type]


def new_kiosk(db: UpstreamDB, folder: Path, kiosk_id: str, *, enrol: bool = True) -> Kiosk:
    from kiosk.upstream.enrol import enrol as enrol_client
    from matcher.signing import generate_signing_key, load_signing_key

    folder.mkdir(parents=True, exist_ok=True)
    private, public = folder / f"{kiosk_id}.key", folder / f"{kiosk_id}.pub"
    generate_signing_key(private, public)
    if enrol:
        enrol_client(db, kiosk_id, "kiosk", public)
    keys = KeyRing(secrets.token_bytes(32))
    DecisionLog(folder / f"{kiosk_id}.db", keys).close()  # the log exists before anything syncs it
    return Kiosk(kiosk_id, load_signing_key(private), private, folder / f"{kiosk_id}.db", keys)
