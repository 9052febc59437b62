"""Helpers of the export tests: a generated log of thousands of decisions appended through the real
``DecisionLog``, supervisor and officer accounts, an Ed25519 signing key pair, and the CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kiosk.lab.decisions import generate_log
from kiosk.store.accounts import Accounts, Argon2Cost, Session
from kiosk.store.keys import KeyRing, generate_key_file
from matcher.signing import generate_signing_key

REPO = Path(__file__).resolve().parents[2]
CHEAP = Argon2Cost(
    memory_kib=8192, iterations=1, lanes=1
)  # still Argon2id; sign-in verifies with its own cost
PASSWORD = "correct horse battery staple"
START = datetime(2026, 11, 1, tzinfo=UTC)
DECISIONS = 3000


def kiosk(*args: str, password: str = PASSWORD, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("kiosk")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-c", "from kiosk.cli import main; main()"]
    env = {**os.environ, "EGATE_PASSWORD": password}
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
    generate_log(log, keys, count, start=START, span=span, evidence_every=5)
    with Accounts(log, cost=CHEAP) as accounts:
        accounts.add(None, "sup-1", "supervisor", PASSWORD)
        supervisor = accounts.sign_in("sup-1", PASSWORD)
        accounts.add(supervisor, "off-1", "officer", PASSWORD)
        accounts.add(supervisor, "sup-north", "supervisor", PASSWORD, gates=("gate-01",))
        officer = accounts.sign_in("off-1", PASSWORD)
    private, public = folder / "export.pem", folder / "export.pub"
    generate_signing_key(private, public)
    return World(log, keys, key_file, private, public, supervisor, officer)
