"""Constants and types shared by the officer tests and their fixtures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kiosk.store.accounts import Argon2Cost

CHEAP = Argon2Cost(memory_kib=8192, iterations=1, lanes=1)  # Argon2id still; the default cost: tests/store
PASSWORDS = {"sup-1": "supervisor-pass-1", "off-1": "officer-pass-11", "off-2": "officer-pass-22"}
OTHER_GATE = "LANE-09"


@dataclass(frozen=True)
class GateLog:
    path: Path
    key_file: Path
    kiosk_id: str
    liveness_case: str  # the decision id of the liveness alarm
    refer_ids: tuple[str, ...]  # every referred decision, in log order
    other_gate_case: str  # a case of a gate the officers do not supervise
