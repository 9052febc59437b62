"""The officer's wing: the case queue over a case source, with roles enforced in the data layer."""

from kiosk.officer.cases import ACTIONS, REASON_CODES, CaseEvidence, CaseQueue, CaseSource, LocalCaseSource

__all__ = ["ACTIONS", "REASON_CODES", "CaseEvidence", "CaseQueue", "CaseSource", "LocalCaseSource"]
