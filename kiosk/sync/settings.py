"""The ``[sync]`` table of the kiosk configuration: where the upstream is and how the kiosk proves itself.
``kiosk.config`` parses it (the one parser); the checks that need several keys are here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kiosk.errors import ConfigError


@dataclass(frozen=True)
class SyncConfig:
    url: str = ""  # https://upstream.example:8443; empty: no sync (the outbox only grows)
    key_file: Path | None = None  # the kiosk's Ed25519 private key (PEM), enrolled upstream by its public key
    ca_file: Path | None = None  # CA certificate(s) the service's certificate must chain to; default: system
    batch_size: int = 200
    timeout_s: float = 10.0  # per request; an answer slower than this is a network error (retried)
    interval_s: float = 1.0  # how often an idle worker looks at the outbox
    max_backoff_s: float = 300.0  # retries back off exponentially with jitter up to this
    disk_warn_free_mb: float = 500.0  # the status warns when the log's file system has less free space
    # The officer service's X25519 public key: when set, the evidence of referred cases goes upstream sealed
    # to it (kiosk.sync.evidence); unset (the default), nothing biometric leaves the kiosk.
    evidence_key: Path | None = None

    def __post_init__(self) -> None:
        if self.url and not self.url.startswith("https://"):
            raise ConfigError(f"sync.url must be an https:// address, not {self.url!r}")
        object.__setattr__(self, "url", self.url.rstrip("/"))
        if self.url and self.key_file is None:
            raise ConfigError("sync.url needs sync.key_file (the kiosk's signing key)")
        if not 1 <= self.batch_size <= 1000:
            raise ConfigError("sync.batch_size must be an integer from 1 to 1000")
        for name in ("timeout_s", "interval_s", "max_backoff_s", "disk_warn_free_mb"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"sync.{name} must be a positive number")

    @property
    def enabled(self) -> bool:
        return bool(self.url)
