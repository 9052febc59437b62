"""Helpers of the export tests: a generated log of thousands of decisions appended through the real
``DecisionLog``, supervisor and officer accounts, an Ed25519 signing key pair, and the CLI as a subprocess."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kiosk.lab.decisions import generate_log
from kiosk.store.accounts import MAX_FAILURES, Accounts, Argon2Cost, Session
from kiosk.store.errors import StoreError
from kiosk.store.keys import KeyRing, generate_key_file
from kiosk.store.log import DecisionLog
from kiosk.store.records import LoggedDecision
from matcher.signing import generate_signing_key

REPO = Path(__file__).resolve().parents[2]
CHEAP = Argon2Cost(
    memory_kib=8192, iterations=1, lanes=1
)  # still Argon2id; sign-in verifies with its own cost
PASSWORD = "correct horse battery staple"
START = datetime(2026, 11, 1, tzinfo=UTC)
DECISIONS = 3000
LEGACY_EVERY = 10  # every 10th generated decision is a version-1 record (no traveller fields, no timings)
ACCOUNTS_AT = START + timedelta(hours=8)
EVIDENCE_OPENED = 3


def kiosk(
    *args: str, password: str = PASSWORD, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("kiosk")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-c", "from kiosk.cli import main; main()"]
    env = {**os.environ, "EGATE_PASSWORD": password, **(env or {})}
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)


@dataclass(frozen=True)
class World:
    log: Path
    keys: KeyRing
    key_file: Path
    private_key: Path
    public_key: Path
    supervisor: Session
    officer: Session


def make_world(folder: Path, count: int = DECISIONS, span: timedelta = timedelta(days=2)) -> World:
    """A log of ``count`` generated decisions over ``span`` from START, with accounts and keys."""
    folder.mkdir(parents=True, exist_ok=True)
    key_file = generate_key_file(folder / "log.key")
    keys = KeyRing.from_file(key_file)
    log = folder / "decisions.db"
    generate_log(log, keys, count, start=START, span=span, evidence_every=5, legacy_every=LEGACY_EVERY)
    with DecisionLog(log, readonly=True) as read:
        referred = [r.id for r in read.records() if isinstance(r, LoggedDecision) and r.outcome == "REFER"]
    # the accounts were set up, and an officer worked, on the morning of the first day: the account chain's
    # events of the period (EES Art. 46: who opened which case's evidence, when; failed sign-ins, lock-out)
    with Accounts(log, cost=CHEAP, clock=lambda: ACCOUNTS_AT) as then:
        then.add(None, "sup-1", "supervisor", PASSWORD)
        supervisor = then.sign_in("sup-1", PASSWORD)
        then.add(supervisor, "off-1", "officer", PASSWORD)
        then.add(supervisor, "sup-north", "supervisor", PASSWORD, gates=("gate-01",))
        officer = then.sign_in("off-1", PASSWORD)
        for decision_id in referred[:EVIDENCE_OPENED]:
            then.note_evidence_opened(officer, decision_id)
        for _ in range(MAX_FAILURES):  # locks the account out on the last one
            with contextlib.suppress(StoreError):
                then.sign_in("off-1", "not the password")
        then.unlock(supervisor, "off-1")
    with Accounts(log, cost=CHEAP) as accounts:  # today's sessions
        supervisor = accounts.sign_in("sup-1", PASSWORD)
        officer = accounts.sign_in("off-1", PASSWORD)
    private, public = folder / "export.pem", folder / "export.pub"
    generate_signing_key(private, public)
    return World(log, keys, key_file, private, public, supervisor, officer)
