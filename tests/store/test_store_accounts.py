"""Accounts in the decision log: Argon2id passwords, roles, lock-out, expiring sessions, the account chain."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kiosk.store import DecisionLog, KeyRing
from kiosk.store.accounts import Accounts, Argon2Cost, hash_password, password_matches
from kiosk.store.errors import (
    AccountError,
    AccountLockedError,
    PermissionDeniedError,
    SessionError,
    SignInError,
)
from tests.store.store_helpers import raw_sql

CHEAP = Argon2Cost(memory_kib=8192, iterations=1, lanes=1)  # still Argon2id; the default cost is tested below
SUPER_PW, OFFICER_PW = "supervisor-pass-1", "officer-pass-22"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(log_path: Path, keys: KeyRing, clock: Clock):
    DecisionLog(log_path, keys).close()
    with Accounts(log_path, clock=clock, cost=CHEAP) as store:
        store.add(None, "sup-1", "supervisor", SUPER_PW)
        supervisor = store.sign_in("sup-1", SUPER_PW)
        store.add(supervisor, "off-1", "officer", OFFICER_PW, gates=["gate-1", "gate-2"])
        yield store


def test_default_hash_is_argon2id_at_64_mib_and_verifies() -> None:
    phc = hash_password("correct horse battery")
    assert phc.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert password_matches("correct horse battery", phc) and not password_matches("correct horse", phc)


def test_only_a_supervisor_manages_accounts(accounts: Accounts) -> None:
    with pytest.raises(PermissionDeniedError, match="supervisor's sign-in"):
        accounts.add(None, "intruder", "supervisor", "x" * 12)  # bootstrap only for an empty log
    officer = accounts.sign_in("off-1", OFFICER_PW)
    assert (officer.role, officer.gates) == ("officer", ("gate-1", "gate-2"))
    assert officer.covers("gate-1") and not officer.covers("gate-3")
    with pytest.raises(PermissionDeniedError, match="not a supervisor"):
        accounts.add(officer, "off-2", "officer", OFFICER_PW)
    with pytest.raises(PermissionDeniedError):
        accounts.list_accounts(officer)
    with pytest.raises(PermissionDeniedError):
        accounts.unlock(officer, "off-1")
    supervisor = accounts.sign_in("sup-1", SUPER_PW)
    assert [a.account_id for a in accounts.list_accounts(supervisor)] == ["off-1", "sup-1"]
    with pytest.raises(AccountError, match="at least"):
        accounts.add(supervisor, "off-2", "officer", "short")
    with pytest.raises(AccountError, match="already exists"):
        accounts.add(supervisor, "off-1", "officer", OFFICER_PW)
    with pytest.raises(AccountError, match="role"):
        accounts.add(supervisor, "off-2", "admin", OFFICER_PW)  # type: ignore[arg-type]


def test_first_account_must_be_a_supervisor(log_path: Path, keys: KeyRing) -> None:
    DecisionLog(log_path, keys).close()
    with Accounts(log_path, cost=CHEAP) as store, pytest.raises(AccountError, match="first account"):
        store.add(None, "off-1", "officer", OFFICER_PW)


def test_lock_out_after_repeated_failures(accounts: Accounts, clock: Clock) -> None:
    for _ in range(accounts.max_failures - 1):
        with pytest.raises(SignInError, match="wrong account or password") as error:
            accounts.sign_in("off-1", "wrong-password")
        assert type(error.value) is SignInError
    session = accounts.sign_in("off-1", OFFICER_PW)  # a success resets the count
    for _ in range(accounts.max_failures - 1):
        with pytest.raises(SignInError):
            accounts.sign_in("off-1", "wrong-password")
    with pytest.raises(AccountLockedError, match="locked"):
        accounts.sign_in("off-1", "wrong-password")
    with pytest.raises(AccountLockedError):  # the right password does not open a locked account
        accounts.sign_in("off-1", OFFICER_PW)
    with pytest.raises(SessionError):  # and its open sessions end
        accounts.authorize(session)
    clock.now += accounts.lockout + timedelta(seconds=1)
    accounts.sign_in("off-1", OFFICER_PW)
    # a supervisor unlocks early
    for _ in range(accounts.max_failures):
        with pytest.raises(SignInError):
            accounts.sign_in("off-1", "wrong-password")
    accounts.unlock(accounts.sign_in("sup-1", SUPER_PW), "off-1")
    accounts.sign_in("off-1", OFFICER_PW)
    with pytest.raises(SignInError, match="wrong account or password"):
        accounts.sign_in("officer-pass-typed-here", OFFICER_PW)
    last = accounts.events(accounts.sign_in("sup-1", SUPER_PW))[-2]
    assert (last.account_id, last.action, last.detail) == ("?", "sign_in_failed", {"reason": "unknown"})


def test_sessions_expire_end_and_follow_the_account(accounts: Accounts, clock: Clock) -> None:
    session = accounts.sign_in("off-1", OFFICER_PW)
    clock.now += accounts.session_idle - timedelta(seconds=1)
    accounts.authorize(session)  # an action restarts the idle time
    clock.now += accounts.session_idle - timedelta(seconds=1)
    accounts.authorize(session, touch=False)  # polling does not
    clock.now += timedelta(seconds=2)
    with pytest.raises(SessionError, match="expired"):
        accounts.authorize(session)
    session = accounts.sign_in("off-1", OFFICER_PW)
    start = clock.now
    with pytest.raises(SessionError, match="expired"):
        while clock.now - start < 2 * accounts.session_max:
            clock.now += accounts.session_idle - timedelta(seconds=1)
            accounts.authorize(session)  # busy, never idle: still ends after session_max
    assert accounts.session_max <= clock.now - start < accounts.session_max + accounts.session_idle
    session = accounts.sign_in("off-1", OFFICER_PW)
    accounts.sign_out(session)
    with pytest.raises(SessionError, match="ended"):
        accounts.authorize(session)
    session = accounts.sign_in("off-1", OFFICER_PW)
    supervisor = accounts.sign_in("sup-1", SUPER_PW)
    accounts.set_disabled(supervisor, "off-1", True)
    with pytest.raises(SessionError):
        accounts.authorize(session)
    with pytest.raises(SignInError):
        accounts.sign_in("off-1", OFFICER_PW)
    accounts.set_disabled(supervisor, "off-1", False)
    session = accounts.sign_in("off-1", OFFICER_PW)
    accounts.set_role(supervisor, "off-1", "officer", ["gate-3"])  # a changed role ends its sessions
    with pytest.raises(SessionError):
        accounts.authorize(session)
    assert accounts.sign_in("off-1", OFFICER_PW).gates == ("gate-3",)


def test_no_password_or_token_in_the_database_and_changes_are_chained(
    accounts: Accounts, log_path: Path, keys: KeyRing
) -> None:
    session = accounts.sign_in("off-1", OFFICER_PW)
    accounts.set_password(session, "off-1", "officer-pass-33")  # one's own password
    with pytest.raises(SignInError):
        accounts.sign_in("off-1", OFFICER_PW)
    raw = b"".join(p.read_bytes() for p in log_path.parent.glob(log_path.name + "*") if p.is_file())
    assert OFFICER_PW.encode() not in raw and b"officer-pass-33" not in raw
    assert session.token.encode() not in raw
    events = accounts.events(accounts.sign_in("sup-1", SUPER_PW))
    assert [(e.actor, e.account_id, e.action) for e in events[:4]] == [
        ("", "sup-1", "created"),
        ("sup-1", "sup-1", "signed_in"),
        ("sup-1", "off-1", "created"),
        ("off-1", "off-1", "signed_in"),
    ]
    assert events[4].action == "password_set" and events[5].detail == {"reason": "password"}
    with DecisionLog(log_path, keys) as log:
        assert log.verify().ok
    conn = sqlite3.connect(log_path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM account_events")
    conn.close()
    raw_sql(log_path, "UPDATE account_events SET actor = 'sup-1' WHERE seq = 4")
    with DecisionLog(log_path, keys) as log:
        problem = log.verify().first_broken
    assert problem is not None and problem.kind == "account_event" and problem.seq == 4
