"""Fixtures of the decision-log tests: a key ring, a log path, realistic decisions."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from kiosk.decision import Decision, WatchlistHit
from kiosk.store import KeyRing


@pytest.fixture
def keys() -> KeyRing:
    return KeyRing(secrets.token_bytes(32))


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "decisions.db"


@pytest.fixture
def make_decision(keys: KeyRing) -> Callable[..., Decision]:
    counter = itertools.count()

    def make(outcome: str = "PASS", **fields: object) -> Decision:
        n = next(counter)
        values: dict[str, object] = {
            "kiosk_id": "kiosk-07",
            "outcome": outcome,
            "reason_codes": ("FACE_MISMATCH",) if outcome == "REFER" else (),
            "document_type": "P",
            "issuing_state": "UTO",
            "document_number_hash": keys.hash_document_number(f"L8989{n:04d}", "UTO"),
            "document_checks": {"mrz.check_digits": True, "chip.pa.sod_signature": True},
            "quality": {"yaw": {"value": 3.25, "passed": True}},
            "liveness": {"score": 0.97},
            "face_score": 0.62 if outcome == "PASS" else 0.21,
            "face_threshold": 0.3581,
            "watchlist_hits": (WatchlistHit("wl", "entry-9", 0.51, 0.45),) if outcome == "REFER" else (),
            "models": {"embedder": "w600k_mbf@0123456789ab"},
        }
        values.update(fields)
        return Decision(**values)  # type: ignore[arg-type]

    return make
