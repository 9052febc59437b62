"""The kiosk's decision log: a tamper-evident SQLite store of decisions, resolutions, outbox and evidence."""

from kiosk.store.chain import Problem, VerifyResult
from kiosk.store.errors import (
    AlreadyResolvedError,
    DuplicateRecordError,
    EvidenceError,
    KeyRingError,
    RecordInvalidError,
    StoreBusyError,
    StoreCorruptError,
    StoreError,
    StoreFullError,
    StoreIOError,
    StoreLockedError,
    StoreReadOnlyError,
    StoreSchemaError,
    UnknownDecisionError,
)
from kiosk.store.evidence import Evidence
from kiosk.store.keys import KeyRing, generate_key_file
from kiosk.store.log import DecisionLog
from kiosk.store.records import RESOLUTIONS, Case, LoggedDecision, OutboxItem, Resolution

__all__ = [
    "RESOLUTIONS",
    "AlreadyResolvedError",
    "Case",
    "DecisionLog",
    "DuplicateRecordError",
    "Evidence",
    "EvidenceError",
    "KeyRing",
    "KeyRingError",
    "LoggedDecision",
    "OutboxItem",
    "Problem",
    "RecordInvalidError",
    "Resolution",
    "StoreBusyError",
    "StoreCorruptError",
    "StoreError",
    "StoreFullError",
    "StoreIOError",
    "StoreLockedError",
    "StoreReadOnlyError",
    "StoreSchemaError",
    "UnknownDecisionError",
    "VerifyResult",
    "generate_key_file",
]
