"""Errors of the decision log, each with a stable ``code``; messages never carry biometrics or secrets."""

from kiosk.errors import KioskError


class StoreError(KioskError):
    """Any failure of the decision log; the operation it interrupted did not happen."""

    code = "LOG_ERROR"


class StoreLockedError(StoreError):
    """Another kiosk process already has this log open for writing."""

    code = "LOG_LOCKED"


class StoreBusyError(StoreError):
    """The database stayed locked by another writer for longer than the busy timeout."""

    code = "LOG_BUSY"


class StoreReadOnlyError(StoreError):
    code = "LOG_READ_ONLY"


class StoreFullError(StoreError):
    code = "LOG_DISK_FULL"


class StoreIOError(StoreError):
    code = "LOG_IO_ERROR"


class StoreCorruptError(StoreError):
    code = "LOG_CORRUPT"


class StoreSchemaError(StoreError):
    """The file is not a decision log, or has a schema this program does not know."""

    code = "LOG_SCHEMA"


class KeyRingError(StoreError):
    code = "KEY_INVALID"


class EvidenceError(StoreError):
    code = "EVIDENCE_INVALID"


class RecordInvalidError(StoreError):
    """A decision or resolution that cannot be logged as given (missing field, non-finite number, ...)."""

    code = "LOG_RECORD_INVALID"


class DuplicateRecordError(StoreError):
    code = "LOG_DUPLICATE"


class UnknownDecisionError(StoreError):
    code = "LOG_UNKNOWN_DECISION"


class AlreadyResolvedError(StoreError):
    """The case was closed by another resolution first (two consoles on one case: the first one wins)."""

    code = "CASE_ALREADY_RESOLVED"

    def __init__(self, message: str, *, officer: str, resolution: str, time_utc: str) -> None:
        super().__init__(message)
        self.officer, self.resolution, self.time_utc = officer, resolution, time_utc


class AccountError(StoreError):
    """An account operation that cannot be done as asked (unknown account, weak password, bad role, ...)."""

    code = "ACCOUNT_INVALID"


class SignInError(StoreError):
    """Wrong account or password; deliberately does not say which."""

    code = "SIGN_IN_FAILED"


class AccountLockedError(SignInError):
    code = "ACCOUNT_LOCKED"


class SessionError(StoreError):
    """The session is unknown, expired, signed out, or its account is locked or disabled: it reads nothing."""

    code = "SESSION_INVALID"


class PermissionDeniedError(StoreError):
    """The session's role or gates do not allow this."""

    code = "PERMISSION_DENIED"
