"""Helpers of the decision-log tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def raw_sql(path: Path, *statements: str) -> None:
    """Tamper with a log behind the store's back, as an attacker with file access would: drop the
    append-only triggers, run ``statements``, commit."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        triggers = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")]
        for name in triggers:
            conn.execute(f"DROP TRIGGER {name}")
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()
