"""Keeping a decision log honest and within its retention: verification, purge of expired evidence, key
rotation. Library functions behind ``kiosk verify-log``, ``kiosk purge`` and ``kiosk key rotate``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from kiosk.store.chain import VerifyResult
from kiosk.store.errors import StoreError
from kiosk.store.keys import KeyRing
from kiosk.store.log import DecisionLog


def verify_log(path: str | Path, *, expect_head: tuple[int, str] | None = None) -> VerifyResult:
    """Verify a decision log read-only (safe while the kiosk runs); see :meth:`DecisionLog.verify`."""
    with DecisionLog(path, readonly=True) as log:
        return log.verify(expect_head=expect_head)


def purge_evidence(path: str | Path, *, now: datetime | None = None) -> int:
    """Delete the evidence whose retention date has passed; returns the number of items deleted."""
    if not Path(path).is_file():  # a mistyped path must not become a new, empty log
        raise StoreError(f"decision log {path} does not exist")
    with DecisionLog(path, exclusive=False) as log:
        return log.purge(now)


def rotate_log_key(path: str | Path, old_key_file: str | Path, new_key_file: str | Path) -> int:
    """Switch the log at ``path`` to the key in ``new_key_file`` from its next row on (see
    :meth:`DecisionLog.rotate_key`); refused while a kiosk has the log open. Returns the first seq."""
    if not Path(path).is_file():
        raise StoreError(f"decision log {path} does not exist")
    with DecisionLog(path, KeyRing.from_file(old_key_file)) as log:
        return log.rotate_key(KeyRing.from_file(new_key_file))
