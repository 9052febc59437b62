"""Officer and supervisor accounts, sign-in and sessions, kept in the decision log's database.

- Passwords are hashed with Argon2id (RFC 9106, memory-hard: 64 MiB, 3 passes, 4 lanes by default) through
  ``cryptography``, which the log already uses for its keys; the PHC string (``$argon2id$v=19$m=...``) keeps
  the parameters, so raising them later still verifies older hashes.
- ``MAX_FAILURES`` wrong passwords in a row lock the account for ``LOCKOUT``; a locked account does not sign
  in even with the right password (and is not told whether it was right). Unknown accounts and wrong
  passwords get the same error and cost the same hash.
- A session is a random token; the database keeps only its SHA-256. It ends after ``SESSION_IDLE`` without
  use, after ``SESSION_MAX`` in any case, on sign-out, and as soon as its account is locked or disabled.
- Every account change, sign-in, failed sign-in and lock-out is an ``account_events`` row in a hash chain of
  its own (same functions as the decisions' chain, its own genesis): decisions and resolutions are the chain
  that goes upstream and into exports, and sign-ins of a gate's officers are not travellers' records.
- Roles: ``officer`` reads and resolves cases of its gates (``gates``; ``*`` for all), ``supervisor`` also
  manages accounts. The data layer (here and ``kiosk.officer.cases``) enforces them, whatever a UI shows.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from kiosk.store.chain import Problem, canonical_json, genesis_hash, link_hash, verify_links
from kiosk.store.db import connect, sqlite_errors, write_transaction
from kiosk.store.errors import (
    AccountError,
    AccountLockedError,
    PermissionDeniedError,
    SessionError,
    SignInError,
    StoreError,
)
from matcher.utc import iso_utc, utc_now

Role = Literal["officer", "supervisor"]
ROLES: tuple[Role, ...] = ("officer", "supervisor")
ALL_GATES = "*"
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
SESSION_IDLE = timedelta(minutes=15)
SESSION_MAX = timedelta(hours=12)
MIN_PASSWORD_LENGTH = 10
ACCOUNT_CHAIN = "accounts"
UNKNOWN_ACCOUNT = "?"  # the account id recorded for a sign-in under a name that has no account
_EVENT_COLUMNS = ("seq", "prev_hash", "id", "time_utc", "actor", "account_id", "action", "detail", "hash")


@dataclass(frozen=True)
class Argon2Cost:
    """Argon2id parameters (RFC 9106 section 4, second recommendation by default)."""

    memory_kib: int = 65536
    iterations: int = 3
    lanes: int = 4

    def kdf(self, salt: bytes) -> Argon2id:
        """Argon2id at this cost with ``salt``, deriving 32 bytes (one use: a KDF object derives once)."""
        return Argon2id(
            salt=salt, length=32, iterations=self.iterations, lanes=self.lanes, memory_cost=self.memory_kib
        )


DEFAULT_COST = Argon2Cost()


def hash_password(password: str, cost: Argon2Cost = DEFAULT_COST) -> str:
    """The PHC string of ``password`` with a fresh 16-byte salt."""
    return cost.kdf(secrets.token_bytes(16)).derive_phc_encoded(password.encode("utf-8"))


def password_matches(password: str, phc: str) -> bool:
    try:
        Argon2id.verify_phc_encoded(password.encode("utf-8"), phc)
    except InvalidKey:
        return False
    return True


@dataclass(frozen=True)
class Account:
    account_id: str
    role: Role
    gates: tuple[str, ...]  # kiosk ids this account's cases come from; ("*",) for all
    created_utc: str
    failed_attempts: int
    locked_until: str | None
    disabled: bool

    def covers(self, kiosk_id: str) -> bool:
        return ALL_GATES in self.gates or kiosk_id in self.gates


@dataclass(frozen=True)
class Session:
    """A signed-in account. ``token`` is the secret the console holds; never logged or shown."""

    token: str = field(repr=False)
    account_id: str
    role: Role
    gates: tuple[str, ...]

    def covers(self, kiosk_id: str) -> bool:
        return ALL_GATES in self.gates or kiosk_id in self.gates


@dataclass(frozen=True)
class OnDuty:
    """An account with a live session (signed in, not idle, not locked or disabled)."""

    account_id: str
    role: Role
    gates: tuple[str, ...]

    def covers(self, kiosk_id: str) -> bool:
        return ALL_GATES in self.gates or kiosk_id in self.gates


@dataclass(frozen=True)
class AccountEvent:
    seq: int
    id: str
    time_utc: str
    actor: str  # account id of whoever did it ("" for the first supervisor's creation)
    account_id: str
    action: str  # created, password_set, role_set, gates_set, disabled, enabled, unlocked, signed_in, ...
    detail: dict[str, Any]


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def check_password(password: str) -> None:
    """A new password's length rule (AccountError when it is too short)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


def _check_gates(gates: Sequence[str]) -> tuple[str, ...]:
    cleaned = tuple(dict.fromkeys(gate.strip() for gate in gates))
    if not cleaned or any(not gate for gate in cleaned):
        raise AccountError("an account needs the gates it supervises (kiosk ids, or * for all)")
    return cleaned


class Accounts:
    """The accounts of the decision log at ``path`` (its schema migrated on open). Thread-safe.

    ``clock`` gives the time (tests move it); ``cost`` the Argon2id parameters of new hashes.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], datetime] = utc_now,
        cost: Argon2Cost = DEFAULT_COST,
        session_idle: timedelta = SESSION_IDLE,
        session_max: timedelta = SESSION_MAX,
        max_failures: int = MAX_FAILURES,
        lockout: timedelta = LOCKOUT,
    ) -> None:
        self.path = Path(path)
        self.clock, self.cost = clock, cost
        self.session_idle, self.session_max = session_idle, session_max
        self.max_failures, self.lockout = max_failures, lockout
        self._mutex = threading.RLock()
        if not self.path.is_file():  # a mistyped path must not become a new, empty log
            raise StoreError(f"decision log {self.path} does not exist")
        self._conn = connect(self.path)
        with sqlite_errors(self.path, "reading the log id"):
            log_id = self._conn.execute("SELECT value FROM meta WHERE key = 'log_id'").fetchone()[0]
        self.genesis = genesis_hash(log_id, ACCOUNT_CHAIN)
        self._dummy_hash = hash_password(secrets.token_urlsafe(16), cost)

    def close(self) -> None:
        with self._mutex:
            self._conn.close()

    def __enter__(self) -> Accounts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------- reading

    def _account(self, conn: sqlite3.Connection, account_id: str) -> tuple[Account, str] | None:
        row = conn.execute(
            "SELECT account_id, role, gates, created_utc, failed_attempts, locked_until, disabled, "
            "password_hash FROM accounts WHERE account_id = ?",
            (account_id,),
        ).fetchone()
        if row is None:
            return None
        account = Account(row[0], row[1], tuple(json.loads(row[2])), row[3], row[4], row[5], bool(row[6]))
        return account, row[7]

    def get(self, session: Session, account_id: str) -> Account | None:
        """One account (a supervisor's session, or the account's own)."""
        self.authorize(session, None if account_id == session.account_id else "supervisor")
        with self._mutex, sqlite_errors(self.path, "reading an account"):
            found = self._account(self._conn, account_id)
        return found[0] if found else None

    def list_accounts(self, session: Session) -> list[Account]:
        """Every account (a supervisor's session)."""
        self.authorize(session, "supervisor")
        with self._mutex, sqlite_errors(self.path, "reading accounts"):
            ids = [
                row[0] for row in self._conn.execute("SELECT account_id FROM accounts ORDER BY account_id")
            ]
            return [found[0] for i in ids if (found := self._account(self._conn, i))]

    def count(self) -> int:
        with self._mutex, sqlite_errors(self.path, "counting accounts"):
            return self._conn.execute("SELECT count(*) FROM accounts").fetchone()[0]

    def events(self, session: Session) -> list[AccountEvent]:
        """The account chain, oldest first (a supervisor's session)."""
        self.authorize(session, "supervisor")
        with self._mutex, sqlite_errors(self.path, "reading account events"):
            return [
                AccountEvent(seq, id_, time, actor, account, action, json.loads(detail))
                for seq, id_, time, actor, account, action, detail in self._conn.execute(
                    "SELECT seq, id, time_utc, actor, account_id, action, detail FROM account_events "
                    "ORDER BY seq"
                )
            ]

    def on_duty(self) -> list[OnDuty]:
        """The accounts signed in right now (a live session each), by account id: a gate none of them
        covers has no officer."""
        now = self.clock()
        with self._mutex, sqlite_errors(self.path, "reading who is signed in"):
            rows = self._conn.execute(
                "SELECT DISTINCT a.account_id, a.role, a.gates "
                "FROM sessions s JOIN accounts a USING (account_id) "
                "WHERE s.ended_utc IS NULL AND s.last_used_utc > ? AND s.created_utc > ? AND a.disabled = 0 "
                "AND (a.locked_until IS NULL OR a.locked_until <= ?) ORDER BY a.account_id",
                (iso_utc(now - self.session_idle), iso_utc(now - self.session_max), iso_utc(now)),
            ).fetchall()
        return [OnDuty(account_id, role, tuple(json.loads(gates))) for account_id, role, gates in rows]

    # ------------------------------------------------------------------------------------------- sign-in

    def sign_in(self, account_id: str, password: str) -> Session:
        """A new session, or SignInError (wrong account or password) / AccountLockedError. A failure is
        committed (its count and event) before it is raised."""
        now = self.clock()
        failure: StoreError | None = None
        with self._mutex, write_transaction(self._conn, self.path, "signing in") as conn:
            found = self._account(conn, account_id)
            account = found[0] if found else None
            if account is None or account.disabled:
                password_matches(password, self._dummy_hash)  # the same cost as a known account
                reason = "unknown" if account is None else "disabled"
                # an unknown name is not kept: people type their password into the account field
                named = UNKNOWN_ACCOUNT if account is None else account_id
                self._event(conn, now, "", named, "sign_in_failed", {"reason": reason})
                failure = SignInError("wrong account or password")
            elif account.locked_until and account.locked_until > iso_utc(now):
                self._event(conn, now, "", account_id, "sign_in_failed", {"reason": "locked"})
                failure = AccountLockedError(self._locked_message(account_id, account.locked_until))
            elif not password_matches(password, found[1]):  # type: ignore[index]
                failures = account.failed_attempts + 1
                locked = iso_utc(now + self.lockout) if failures >= self.max_failures else None
                conn.execute(
                    "UPDATE accounts SET failed_attempts = ?, locked_until = ? WHERE account_id = ?",
                    (0 if locked else failures, locked, account_id),
                )
                self._event(conn, now, "", account_id, "sign_in_failed", {"reason": "password"})
                failure = SignInError("wrong account or password")
                if locked:
                    self._end_sessions(conn, account_id, now)
                    self._event(conn, now, "", account_id, "locked_out", {"until": locked})
                    failure = AccountLockedError(self._locked_message(account_id, locked))
            else:
                token = secrets.token_urlsafe(32)
                conn.execute(
                    "UPDATE accounts SET failed_attempts = 0, locked_until = NULL WHERE account_id = ?",
                    (account_id,),
                )
                conn.execute(
                    "INSERT INTO sessions (token_hash, account_id, created_utc, last_used_utc) "
                    "VALUES (?, ?, ?, ?)",
                    (_token_hash(token), account_id, iso_utc(now), iso_utc(now)),
                )
                self._event(conn, now, account_id, account_id, "signed_in", {})
        if failure is not None:
            raise failure
        assert account is not None
        return Session(token, account.account_id, account.role, account.gates)

    def _locked_message(self, account_id: str, until: str) -> str:
        return (
            f"account {account_id} is locked after {self.max_failures} failed sign-ins until {until} "
            "(a supervisor can unlock it)"
        )

    def sign_out(self, session: Session) -> None:
        now = self.clock()
        with self._mutex, write_transaction(self._conn, self.path, "signing out") as conn:
            ended = conn.execute(
                "UPDATE sessions SET ended_utc = ? WHERE token_hash = ? AND ended_utc IS NULL",
                (iso_utc(now), _token_hash(session.token)),
            ).rowcount
            if ended:
                self._event(conn, now, session.account_id, session.account_id, "signed_out", {})

    def authorize(self, session: Session, role: Role | None = None, *, touch: bool = True) -> Session:
        """``session`` as it stands now, checked against the database: SessionError when it is unknown,
        ended, idle or too old, or its account is locked or disabled; PermissionDeniedError when ``role``
        (``"supervisor"``) is needed and not held. ``touch`` (an officer's action) restarts the idle time;
        polling a queue does not."""
        now = self.clock()
        with self._mutex, sqlite_errors(self.path, "checking a session"):
            row = self._conn.execute(
                "SELECT s.account_id, s.created_utc, s.last_used_utc, s.ended_utc, a.role, a.gates, "
                "a.locked_until, a.disabled FROM sessions s JOIN accounts a USING (account_id) "
                "WHERE s.token_hash = ?",
                (_token_hash(session.token),),
            ).fetchone()
            if row is None:
                raise SessionError("not signed in")
            account_id, created, last_used, ended, account_role, gates, locked_until, disabled = row
            if ended:
                raise SessionError("the session has ended: sign in again")
            if disabled or (locked_until and locked_until > iso_utc(now)):
                raise SessionError(f"account {account_id} is locked or disabled: its session reads nothing")
            if iso_utc(now - self.session_idle) >= last_used or iso_utc(now - self.session_max) >= created:
                raise SessionError("the session has expired: sign in again")
            current = Session(session.token, account_id, account_role, tuple(json.loads(gates)))
            if role == "supervisor" and current.role != "supervisor":
                raise PermissionDeniedError(f"account {account_id} is not a supervisor")
            if touch:
                with write_transaction(self._conn, self.path, "using a session") as conn:
                    conn.execute(
                        "UPDATE sessions SET last_used_utc = ? WHERE token_hash = ?",
                        (iso_utc(now), _token_hash(session.token)),
                    )
        return current

    def note_evidence_opened(self, session: Session, decision_id: str) -> None:
        """Record in the account chain that ``session`` decrypted a case's evidence (who saw which faces
        and document numbers, for an audit)."""
        now = self.clock()
        with self._mutex, write_transaction(self._conn, self.path, "recording an evidence access") as conn:
            self._event(
                conn,
                now,
                session.account_id,
                session.account_id,
                "evidence_opened",
                {"decision_id": decision_id},
            )

    # ------------------------------------------------------------------------------------------- managing

    def add(
        self,
        session: Session | None,
        account_id: str,
        role: Role,
        password: str,
        gates: Sequence[str] = (ALL_GATES,),
    ) -> Account:
        """Create an account (a supervisor's session). With no account in the log yet, the first one is
        created without a session and must be a supervisor: whoever may write the log's file sets it up."""
        account_id = account_id.strip()
        if not account_id or len(account_id) > 64 or not account_id.isprintable():
            raise AccountError("an account id is 1 to 64 printable characters")
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        check_password(password)
        gates = _check_gates(gates)
        phc = hash_password(password, self.cost)
        now = self.clock()
        actor = self.authorize(session, "supervisor").account_id if session is not None else ""
        with self._mutex, write_transaction(self._conn, self.path, f"adding account {account_id}") as conn:
            if session is None and conn.execute("SELECT 1 FROM accounts LIMIT 1").fetchone():
                raise PermissionDeniedError("adding an account needs a supervisor's sign-in")
            if session is None and role != "supervisor":
                raise AccountError("the first account must be a supervisor")
            if conn.execute("SELECT 1 FROM accounts WHERE account_id = ?", (account_id,)).fetchone():
                raise AccountError(f"account {account_id} already exists")
            conn.execute(
                "INSERT INTO accounts (account_id, role, gates, password_hash, created_utc, failed_attempts, "
                "locked_until, disabled) VALUES (?, ?, ?, ?, ?, 0, NULL, 0)",
                (account_id, role, canonical_json(list(gates)), phc, iso_utc(now)),
            )
            self._event(conn, now, actor, account_id, "created", {"role": role, "gates": list(gates)})
            found = self._account(conn, account_id)
        assert found is not None
        return found[0]

    def set_password(self, session: Session, account_id: str, password: str) -> None:
        """A new password (a supervisor's session, or the account's own); clears a lock-out."""
        self.authorize(session, None if account_id == session.account_id else "supervisor")
        check_password(password)
        phc = hash_password(password, self.cost)
        self._change(
            session,
            account_id,
            "password_set",
            {},
            "UPDATE accounts SET password_hash = ?, failed_attempts = 0, locked_until = NULL "
            "WHERE account_id = ?",
            (phc, account_id),
        )

    def set_role(self, session: Session, account_id: str, role: Role, gates: Sequence[str]) -> None:
        self.authorize(session, "supervisor")
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        gates = _check_gates(gates)
        self._change(
            session,
            account_id,
            "role_set",
            {"role": role, "gates": list(gates)},
            "UPDATE accounts SET role = ?, gates = ? WHERE account_id = ?",
            (role, canonical_json(list(gates)), account_id),
        )

    def set_disabled(self, session: Session, account_id: str, disabled: bool) -> None:
        """Disable (every session of it ends) or enable an account (a supervisor's session)."""
        self.authorize(session, "supervisor")
        if disabled and account_id == session.account_id:
            raise AccountError("a supervisor cannot disable their own account")
        self._change(
            session,
            account_id,
            "disabled" if disabled else "enabled",
            {},
            "UPDATE accounts SET disabled = ? WHERE account_id = ?",
            (int(disabled), account_id),
        )

    def unlock(self, session: Session, account_id: str) -> None:
        self.authorize(session, "supervisor")
        self._change(
            session,
            account_id,
            "unlocked",
            {},
            "UPDATE accounts SET failed_attempts = 0, locked_until = NULL WHERE account_id = ?",
            (account_id,),
        )

    def _change(
        self, session: Session, account_id: str, action: str, detail: dict[str, Any], sql: str, params: tuple
    ) -> None:
        now = self.clock()
        with self._mutex, write_transaction(self._conn, self.path, f"changing account {account_id}") as conn:
            if conn.execute(sql, params).rowcount == 0:
                raise AccountError(f"no account {account_id}")
            if action in ("disabled", "role_set", "password_set"):
                self._end_sessions(conn, account_id, now, keep=session.token)
            self._event(conn, now, session.account_id, account_id, action, detail)

    @staticmethod
    def _end_sessions(conn: sqlite3.Connection, account_id: str, now: datetime, keep: str = "") -> None:
        conn.execute(
            "UPDATE sessions SET ended_utc = ? "
            "WHERE account_id = ? AND ended_utc IS NULL AND token_hash != ?",
            (iso_utc(now), account_id, _token_hash(keep) if keep else ""),
        )

    # ------------------------------------------------------------------------------------------- chain

    def _event(
        self,
        conn: sqlite3.Connection,
        now: datetime,
        actor: str,
        account_id: str,
        action: str,
        detail: dict[str, Any],
    ) -> None:
        head = conn.execute("SELECT seq, hash FROM account_events ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev_hash = head if head else (0, self.genesis)
        row = {
            "seq": seq + 1,
            "prev_hash": prev_hash,
            "id": str(uuid.uuid4()),
            "time_utc": iso_utc(now),
            "actor": actor,
            "account_id": account_id,
            "action": action,
            "detail": canonical_json(detail),
        }
        row["hash"] = link_hash("account_event", row)
        conn.execute(
            f"INSERT INTO account_events ({', '.join(_EVENT_COLUMNS)}) "
            f"VALUES ({', '.join(':' + name for name in _EVENT_COLUMNS)})",
            row,
        )


def _event_rows(conn: sqlite3.Connection) -> Iterator[tuple[str, dict[str, Any]]]:
    cursor = conn.execute(f"SELECT {', '.join(_EVENT_COLUMNS)} FROM account_events ORDER BY seq")
    for values in cursor:
        yield "account_event", dict(zip(_EVENT_COLUMNS, values, strict=True))


def account_chain_problems(conn: sqlite3.Connection, log_id: str) -> list[Problem]:
    """Problems of the account chain (the first broken link), for ``DecisionLog.verify``."""
    return list(verify_links(_event_rows(conn), genesis_hash(log_id, ACCOUNT_CHAIN)).problems)
