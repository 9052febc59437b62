"""``kiosk officer``: the officer console (Qt), and its twins for headless gates: ``add``, ``list``, ``show``,
``resolve``, ``unlock``. Passwords come from a hidden prompt or, with ``--password-stdin``, one line of
standard input per password asked; never from the command line (argv is visible to every local user).

The console and ``list`` / ``show`` / ``resolve`` read one gate's log (``--log``) or the upstream service
of a group of gates (``--upstream URL`` with the officer's sealed key, ``kiosk officer keygen``)."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kiosk.officer.cases import ACTIONS, REASON_CODES, CaseEvidence, CaseQueue, LocalCaseSource
from kiosk.store.accounts import ROLES, Accounts, Role, Session
from kiosk.store.errors import StoreError
from kiosk.store.keys import KeyRing
from kiosk.store.log import DecisionLog
from kiosk.store.records import Case
from matcher.utc import utc_now

if TYPE_CHECKING:
    from kiosk.officer.upstream import UpstreamService

_log_option = click.option(
    "--log",
    "log_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The gate's decision log (its accounts live in it too).",
)
_key_option = click.option(
    "--key",
    "key_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The log's key file (default: EGATE_LOG_KEY / EGATE_LOG_KEY_FILE); needed to open evidence.",
)
_as_option = click.option("--as", "account_id", required=True, help="Your account id.")
_path = click.Path(dir_okay=False, path_type=Path)
_SOURCE_OPTIONS = (
    click.option(
        "--log", "log_path", type=_path, help="The gate's decision log (its accounts live in it too)."
    ),
    _key_option,
    click.option(
        "--upstream", "upstream_url", help="The upstream service (https://...) of a group of gates."
    ),
    click.option(
        "--officer-key", type=_path, help="With --upstream: your sealed key (kiosk officer keygen)."
    ),
    click.option(
        "--ca-file", type=_path, help="With --upstream: the CA the service's certificate chains to."
    ),
    click.option(
        "--evidence-key",
        type=_path,
        help="With --upstream: the officer service's private key (opens evidence).",
    ),
)


def _source_options(command: Callable) -> Callable:
    for option in reversed(_SOURCE_OPTIONS):
        command = option(command)
    return command


@dataclass(frozen=True)
class Source:
    """Where the cases come from: a gate's log (``log_path``) or the upstream service (``upstream_url``)."""

    log_path: Path | None = None
    key_file: Path | None = None
    upstream_url: str | None = None
    officer_key: Path | None = None
    ca_file: Path | None = None
    evidence_key: Path | None = None

    def __post_init__(self) -> None:
        if (self.log_path is None) == (self.upstream_url is None):
            raise click.UsageError(
                "give the gate's decision log (--log) or the upstream service (--upstream)"
            )
        if self.upstream_url is not None and self.officer_key is None:
            raise click.UsageError("--upstream needs --officer-key (your sealed key: kiosk officer keygen)")


_stdin_option = click.option(
    "--password-stdin", is_flag=True, help="Read each password asked as one line of standard input."
)


def _password_reader(from_stdin: bool) -> Callable[[str, bool], str]:
    def read(prompt: str, confirm: bool) -> str:
        if from_stdin:
            line = sys.stdin.readline()
            if not line:
                raise click.UsageError(f"{prompt}: standard input ended")
            return line.rstrip("\r\n")
        return click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)

    return read


@contextlib.contextmanager
def _signed_in(
    source: Source, account_id: str, from_stdin: bool, *, need_key: bool
) -> Iterator[tuple[CaseQueue, Session]]:
    password = _password_reader(from_stdin)
    if source.upstream_url is not None:
        assert source.officer_key is not None
        with _upstream(source) as service:
            session = service.sign_in(account_id, password(f"password of {account_id}", False))
            try:
                yield CaseQueue(service, service), session
            finally:
                service.sign_out(session)
        return
    log_path = source.log_path
    assert log_path is not None
    if not log_path.is_file():
        raise StoreError(f"decision log {log_path} does not exist")
    keys = KeyRing.load(source.key_file) if need_key or source.key_file else None
    with Accounts(log_path) as accounts, DecisionLog(log_path, keys, exclusive=False) as log:
        session = accounts.sign_in(account_id, password(f"password of {account_id}", False))
        try:
            yield CaseQueue(LocalCaseSource(log), accounts), session
        finally:
            accounts.sign_out(session)


def _upstream(source: Source) -> UpstreamService:
    from kiosk.officer.upstream import UpstreamService  # httpx: loaded only for the upstream console

    assert source.upstream_url is not None and source.officer_key is not None
    return UpstreamService(
        source.upstream_url, source.officer_key, evidence_key=source.evidence_key, ca_file=source.ca_file
    )


@click.group("officer", invoke_without_command=True)
@_source_options
@click.pass_context
def officer(ctx: click.Context, **where: object) -> None:
    """The officer console: referred cases of the gates you supervise, side by side, resolved and logged.

    Without a command, opens the console window on the decision log --log, or on the upstream service
    --upstream (with --officer-key, and --evidence-key to see images)."""
    if ctx.invoked_subcommand is not None:
        return
    source = Source(**where)  # type: ignore[arg-type]
    from kiosk.ui.officer.app import run_console, run_upstream_console

    if source.upstream_url is not None:
        sys.exit(run_upstream_console(_upstream(source)))
    assert source.log_path is not None
    sys.exit(run_console(source.log_path, KeyRing.load(source.key_file)))


@officer.command("keygen")
@click.argument("account")
@click.argument("private_key", type=_path)
@click.argument("public_key", type=_path)
@_stdin_option
def keygen_command(account: str, private_key: Path, public_key: Path, password_stdin: bool) -> None:
    """Make ACCOUNT's key for the upstream console: PRIVATE_KEY sealed under a new password (Argon2id),
    PUBLIC_KEY to enrol with `kiosk upstream reader add --id ACCOUNT --role officer --gate ...`."""
    from kiosk.officer.officer_key import write_officer_key

    password = _password_reader(password_stdin)(f"new password of {account}", True)
    write_officer_key(private_key, public_key, account, password)
    click.echo(f"wrote {private_key} (sealed, mode 600) and {public_key}")


@officer.command("add")
@click.argument("new_account")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option(
    "--gate", "gates", multiple=True, default=("*",), show_default=True, help="A kiosk id it supervises."
)
@_log_option
@click.option("--as", "account_id", help="Your supervisor account (not needed for the first account).")
@_stdin_option
def add_command(
    new_account: str,
    role: Role,
    gates: tuple[str, ...],
    log_path: Path,
    account_id: str | None,
    password_stdin: bool,
) -> None:
    """Create the account NEW_ACCOUNT (a supervisor signs in with --as; the log's first account is a
    supervisor created without one)."""
    if not log_path.is_file():
        raise StoreError(f"decision log {log_path} does not exist")
    read = _password_reader(password_stdin)
    with Accounts(log_path) as accounts:
        session = None
        if account_id is not None:
            session = accounts.sign_in(account_id, read(f"password of {account_id}", False))
        elif accounts.count():
            raise click.UsageError("adding an account needs --as SUPERVISOR")
        try:
            account = accounts.add(
                session, new_account, role, read(f"new password of {new_account}", True), gates
            )
        finally:
            if session is not None:
                accounts.sign_out(session)
    click.echo(f"added {account.role} {account.account_id} for gates {', '.join(account.gates)}")


@officer.command("unlock")
@click.argument("locked_account")
@_log_option
@_as_option
@_stdin_option
def unlock_command(locked_account: str, log_path: Path, account_id: str, password_stdin: bool) -> None:
    """Unlock LOCKED_ACCOUNT after failed sign-ins (a supervisor)."""
    if not log_path.is_file():
        raise StoreError(f"decision log {log_path} does not exist")
    with Accounts(log_path) as accounts:
        session = accounts.sign_in(
            account_id, _password_reader(password_stdin)(f"password of {account_id}", False)
        )
        try:
            accounts.unlock(session, locked_account)
        finally:
            accounts.sign_out(session)
    click.echo(f"unlocked {locked_account}")


@officer.command("accounts")
@_log_option
@_as_option
@_stdin_option
def accounts_command(log_path: Path, account_id: str, password_stdin: bool) -> None:
    """Every account with its role, gates and state (a supervisor)."""
    if not log_path.is_file():
        raise StoreError(f"decision log {log_path} does not exist")
    with Accounts(log_path) as accounts:
        session = accounts.sign_in(
            account_id, _password_reader(password_stdin)(f"password of {account_id}", False)
        )
        try:
            listed = accounts.list_accounts(session)
        finally:
            accounts.sign_out(session)
    for account in listed:
        state = (
            "disabled"
            if account.disabled
            else f"locked until {account.locked_until}"
            if account.locked_until
            else "active"
        )
        click.echo(f"{account.account_id}  {account.role}  gates {','.join(account.gates)}  {state}")


def _age(case: Case, now: datetime) -> str:
    seconds = int(case.age_seconds(now))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else f"{seconds // 60}m{seconds % 60:02d}s"
    )


@officer.command("list")
@_source_options
@_as_option
@_stdin_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per case.")
def list_command(account_id: str, password_stdin: bool, as_json: bool, **where: object) -> None:
    """The open cases of your gates, newest first: id, gate, time, age, reason codes."""
    source = Source(**where)  # type: ignore[arg-type]
    with _signed_in(source, account_id, password_stdin, need_key=False) as (queue, session):
        cases = queue.open_cases(session)
    now = utc_now()
    for case in cases:
        d = case.decision
        if as_json:
            row = {
                "id": d.id,
                "gate": d.kiosk_id,
                "time_utc": d.time_utc,
                "age_s": int(case.age_seconds(now)),
                "reason_codes": list(d.reason_codes),
                "escalated": case.escalated,
            }
            click.echo(json.dumps(row))
        else:
            flag = "  (second line)" if case.escalated else ""
            click.echo(
                f"{d.id}  {d.kiosk_id}  {d.time_utc}  {_age(case, now):>7}  {','.join(d.reason_codes)}{flag}"
            )
    if not as_json:
        click.echo(f"{len(cases)} open case(s)")


def describe_case(case: Case, evidence: CaseEvidence | None) -> list[str]:
    """The case as lines of text for the CLI: scores against thresholds, checks, document, evidence."""
    d = case.decision
    lines = [f"case {d.id}  gate {d.kiosk_id}  decided {d.time_utc}", f"reasons: {', '.join(d.reason_codes)}"]
    if d.face_score is not None and d.face_threshold is not None:
        verdict = "match" if d.face_score >= d.face_threshold else "no match"
        lines.append(
            f"face 1:1: score {d.face_score:.3f} against threshold {d.face_threshold:.3f} ({verdict})"
        )
    elif d.face_score is not None:
        lines.append(f"face 1:1: score {d.face_score:.3f}, no threshold recorded")
    else:
        lines.append("face 1:1: not compared")
    for hit in d.watchlist_hits:
        lines.append(
            f"watchlist: list {hit.list_id} entry {hit.entry_id} category {hit.category or '-'}: "
            f"score {hit.score:.3f} against list threshold {hit.threshold:.3f}"
        )
    if d.liveness:
        lines.append("liveness: " + ", ".join(f"{k} {v}" for k, v in sorted(d.liveness.items())))
    document = evidence.document if evidence else {}
    number = document.get("document_number") if document else None
    lines.append(
        f"document: type {d.document_type or '-'} issued by {d.issuing_state or '-'}, number "
        + (number if number else "not sealed by the gate" if evidence is not None else "(needs --key)")
    )
    for name in ("surname", "given_names", "nationality", "birth_date", "sex", "expiry_date"):
        if document.get(name):
            lines.append(f"  {name}: {document[name]}")
    for name, passed in sorted(d.document_checks.items()):
        lines.append(f"check {name}: {'pass' if passed else 'FAIL'}")
    if evidence is not None:
        lines.append(
            "evidence: "
            + ", ".join(
                [
                    f"live face {'yes' if evidence.live_face else 'no'}",
                    f"document portrait {'yes' if evidence.document_portrait else 'no'}",
                    f"{len(evidence.capture_frames)} capture frame(s)",
                ]
            )
        )
    for r in case.resolutions:
        note = f": {r.note}" if r.note else ""
        lines.append(
            f"resolution {r.resolution} ({r.reason_code or '-'}) by {r.officer} at {r.time_utc}{note}"
        )
    return lines


@officer.command("show")
@click.argument("case_id")
@_source_options
@_as_option
@_stdin_option
def show_command(case_id: str, account_id: str, password_stdin: bool, **where: object) -> None:
    """One case of your gates: scores against thresholds, watchlist candidate, document data (its number
    from the sealed evidence), every check, the evidence held. Images stay sealed: the console shows them.
    Upstream, the evidence opens with --evidence-key (else it is not shown)."""
    source = Source(**where)  # type: ignore[arg-type]
    with _signed_in(source, account_id, password_stdin, need_key=True) as (queue, session):
        case = queue.case(session, case_id)
        opens = source.upstream_url is None or source.evidence_key is not None
        evidence = queue.evidence(session, case_id) if opens else None
    for line in describe_case(case, evidence):
        click.echo(line)


@officer.command("resolve")
@click.argument("case_id")
@click.argument("action", type=click.Choice(tuple(ACTIONS)))
@click.option(
    "--reason",
    "reason_code",
    required=True,
    help="Reason code: "
    + "; ".join(f"{action}: {', '.join(codes)}" for action, codes in REASON_CODES.items()),
)
@click.option("--note", default="", help="An optional note (no document numbers or names).")
@_source_options
@_as_option
@_stdin_option
def resolve_command(
    case_id: str,
    action: str,
    reason_code: str,
    note: str,
    account_id: str,
    password_stdin: bool,
    **where: object,
) -> None:
    """Resolve CASE_ID: admit, second_line (refer to the second line), refuse (manual booth), retry. A gate
    holding the traveller acts on it (an admit opens its exit); upstream, once the gate's sync pulls it."""
    source = Source(**where)  # type: ignore[arg-type]
    with _signed_in(source, account_id, password_stdin, need_key=False) as (queue, session):
        resolution = queue.resolve(session, case_id, action, reason_code, note)
    click.echo(f"{case_id}: {resolution.resolution} ({resolution.reason_code}) by {resolution.officer}")
