"""The officer's wing: the case queue over a case source, with roles enforced in the data layer."""

from kiosk.officer.cases import (
    ACTIONS,
    ALARM_KINDS,
    REASON_CODES,
    CaseEvidence,
    CaseQueue,
    CaseSource,
    GateStatus,
    LocalCaseSource,
    alarm_kinds,
)

__all__ = [
    "ACTIONS",
    "ALARM_KINDS",
    "REASON_CODES",
    "CaseEvidence",
    "CaseQueue",
    "CaseSource",
    "GateStatus",
    "LocalCaseSource",
    "alarm_kinds",
]
