"""Subprocess of the console crash test: opens the officer console on a log, signs in, resolves one case
through the window's own buttons, prints ``RESOLVED <resolution id>`` once the resolution is committed, then
keeps the console running until it is killed.

usage: python console_driver.py DB KEY_FILE ACCOUNT CASE_ID   (the password on stdin)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication

from kiosk.store import DecisionLog, KeyRing
from kiosk.store.accounts import Accounts
from kiosk.ui.officer.app import open_window


def main(argv: list[str]) -> int:
    db, key_file, account, case_id = Path(argv[0]), Path(argv[1]), argv[2], argv[3]
    password = sys.stdin.readline().rstrip("\n")
    app = QApplication([])
    with DecisionLog(db, KeyRing.from_file(key_file), exclusive=False) as log, Accounts(db) as accounts:
        window = open_window(log, accounts, poll_ms=200)
        window.show()

        def signed_in(_session: object) -> None:
            window.open_case(case_id)

        def shown(case: object) -> None:
            if window.case_view.case is not None and window.case_view.case.closed_by is None:
                window.case_view.choose("refuse", "MANUAL_BOOTH", "crash test")
                window.case_view.confirm.click()

        def resolved(resolution: object) -> None:
            print(f"RESOLVED {resolution.id}", flush=True)  # type: ignore[attr-defined]

        window.signed_in.connect(signed_in)
        window.case_shown.connect(shown)
        window.resolved.connect(resolved)
        window.sign_in_page.account.setText(account)
        window.sign_in_page.password.setText(password)
        window.sign_in_page.button.click()
        return app.exec()  # runs until killed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
