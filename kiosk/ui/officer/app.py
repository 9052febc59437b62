"""``kiosk officer``: open the console on a gate's decision log."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from kiosk.officer.cases import CaseQueue, LocalCaseSource
from kiosk.officer.upstream import UpstreamService
from kiosk.store.accounts import Accounts
from kiosk.store.errors import StoreError
from kiosk.store.keys import KeyRing
from kiosk.store.log import DecisionLog
from kiosk.texts import reason_text
from kiosk.ui.officer.window import POLL_MS, OfficerWindow


def open_window(log: DecisionLog, accounts: Accounts, *, poll_ms: int = POLL_MS) -> OfficerWindow:
    """The console window over a local log (a QApplication must exist)."""
    queue = CaseQueue(LocalCaseSource(log), accounts)
    return OfficerWindow(queue, accounts, reason_text=reason_text, poll_ms=poll_ms)


def run_upstream_console(service: UpstreamService) -> int:
    """Run the console on the upstream service of a group of gates until its window closes (the officer
    signs in with the password of their sealed key)."""
    with service:
        app = QApplication.instance() or QApplication(sys.argv[:1])
        window = OfficerWindow(CaseQueue(service, service), service, reason_text=reason_text)
        window.show()
        return app.exec()


def run_console(log_path: Path, keys: KeyRing) -> int:
    """Run the console until its window closes; returns the exit status. The log is opened shared (the
    gate keeps its instance lock) and with the key, to decrypt evidence in memory."""
    if not log_path.is_file():
        raise StoreError(f"decision log {log_path} does not exist")
    with DecisionLog(log_path, keys, exclusive=False) as log, Accounts(log_path) as accounts:
        if not accounts.count():
            raise StoreError(
                f"decision log {log_path} has no accounts: create the first supervisor with "
                f"`kiosk officer add ID --role supervisor --log {log_path}`"
            )
        app = QApplication.instance() or QApplication(sys.argv[:1])
        window = open_window(log, accounts)
        window.show()
        return app.exec()
