"""Errors of the upstream service, each with a stable ``code``."""

from kiosk.errors import KioskError


class UpstreamError(KioskError):
    code = "UPSTREAM_ERROR"


class UpstreamConfigError(UpstreamError):
    """The service's configuration, certificate or key files are missing or unusable."""

    code = "UPSTREAM_CONFIG"


class DatabaseUnavailable(UpstreamError):
    """The database cannot be reached or dropped the connection: nothing was stored, the client retries."""

    code = "UPSTREAM_DB_UNAVAILABLE"


class LogMismatch(UpstreamError):
    """A kiosk sent records of a log other than the one it started with (a replaced or second log)."""

    code = "UPSTREAM_LOG_MISMATCH"


class UnknownClient(UpstreamError):
    code = "UPSTREAM_UNKNOWN_CLIENT"


class UnknownCase(UpstreamError):
    """No referred case with that id upstream (answered 404)."""

    code = "UPSTREAM_UNKNOWN_CASE"
