"""Errors of the kiosk application. Each carries a stable machine-readable ``code``."""


class KioskError(Exception):
    code = "KIOSK_ERROR"


class ConfigError(KioskError):
    code = "CONFIG_INVALID"
