"""The officer console against the upstream service: scope enforced in the upstream's data layer (and so
over HTTP), evidence opened in memory with the officer service's key, resolutions made upstream (first one
wins, across a gate's own console too) reaching the kiosk's chain exactly once, and a gate holding a
traveller opening its barrier on an upstream admit. Real service on loopback, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from upstream_helpers import Kiosk, Tls, new_kiosk

from kiosk.decision import Decision
from kiosk.devices.barrier import LogBarrier
from kiosk.documents.presentation import Presentation
from kiosk.gate.events import State
from kiosk.gate.flow import GateFlow
from kiosk.officer.cases import CaseQueue, LocalCaseSource
from kiosk.officer.officer_key import write_officer_key
from kiosk.officer.upstream import UpstreamService
from kiosk.policy import Policy
from kiosk.store import DecisionLog, Evidence
from kiosk.store.accounts import Accounts, Argon2Cost
from kiosk.store.errors import (
    AccountLockedError,
    AlreadyResolvedError,
    PermissionDeniedError,
    SessionError,
    SignInError,
)
from kiosk.store.records import EXIT_OPENED
from kiosk.sync.client import SyncClient, start_worker
from kiosk.sync.evidence import generate_officer_key
from kiosk.sync.protocol import sign_request
from kiosk.upstream import officers
from kiosk.upstream.db import UpstreamDB
from kiosk.upstream.enrol import enrol
from kiosk.upstream.server import ServiceThread
from matcher.signing import generate_signing_key, load_signing_key
from tests.gate.conftest import FakeClock
from tests.gate.fake_gate import FakeEngine, face_frame, read_document

CHEAP = Argon2Cost(memory_kib=8192, iterations=1, lanes=1)
PASSWORD = "officer-upstream-1"
FACE = b"\xff\xd8 a live face crop \xff\xd9" * 20
REPO = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class Fleet:
    a: Kiosk
    b: Kiosk
    cases_a: list[str]
    cases_b: list[str]
    folder: Path
    evidence_key: Path


def _referrals(kiosk: Kiosk, count: int) -> list[str]:
    with DecisionLog(kiosk.log_path, kiosk.keys, exclusive=False) as log:
        return [
            log.append(
                Decision(kiosk_id=kiosk.id, outcome="REFER", reason_codes=("FACE_NO_MATCH",), face_score=0.2),
                evidence=Evidence(live_face=FACE + kiosk.id.encode()),
            )
            for _ in range(count)
        ]


def _sync(kiosk: Kiosk, url: str, tls: Tls, evidence_key: Path | None = None) -> SyncClient:
    return SyncClient(
        kiosk.log_path, kiosk.id, kiosk.sync_config(url, tls, evidence_key=evidence_key), keys=kiosk.keys
    )


def _officer(db: UpstreamDB, folder: Path, officer_id: str, gates: tuple[str, ...]) -> Path:
    """An officer enrolled upstream for ``gates``; returns their sealed key file."""
    write_officer_key(folder / f"{officer_id}.key", folder / f"{officer_id}.pub", officer_id, PASSWORD, CHEAP)
    enrol(db, officer_id, "officer", folder / f"{officer_id}.pub", gates)
    return folder / f"{officer_id}.key"


@pytest.fixture
def fleet(db: UpstreamDB, service: ServiceThread, tls: Tls, tmp_path: Path) -> Fleet:
    """Two gates with referred cases (evidence sealed to the officer service) synced upstream; officer off-a
    covers gate-a only."""
    generate_officer_key(tmp_path / "officer-service.key", tmp_path / "officer-service.pub")
    a, b = new_kiosk(db, tmp_path / "a", "gate-a"), new_kiosk(db, tmp_path / "b", "gate-b")
    cases_a, cases_b = _referrals(a, 3), _referrals(b, 2)
    for kiosk in (a, b):
        with _sync(kiosk, service.url, tls, tmp_path / "officer-service.pub") as client:
            assert client.drain().errors == []
    _officer(db, tmp_path, "off-a", ("gate-a",))
    return Fleet(a, b, cases_a, cases_b, tmp_path, tmp_path / "officer-service.key")


def _console(service: ServiceThread, tls: Tls, fleet: Fleet, officer_id: str = "off-a") -> UpstreamService:
    return UpstreamService(
        service.url, fleet.folder / f"{officer_id}.key", evidence_key=fleet.evidence_key, ca_file=tls.ca
    )


def test_the_data_layer_keeps_an_officer_to_their_gates(db: UpstreamDB, fleet: Fleet) -> None:
    supervisor = fleet.folder / "sup"
    generate_signing_key(supervisor.with_suffix(".key"), supervisor.with_suffix(".pub"))
    enrol(db, "sup-up", "supervisor", supervisor.with_suffix(".pub"))
    assert [c["id"] for c in officers.open_cases(db, "off-a")] == fleet.cases_a[::-1]  # newest first
    assert {c["kiosk_id"] for c in officers.open_cases(db, "sup-up")} == {"gate-a", "gate-b"}
    other = fleet.cases_b[0]
    for read in (
        lambda: officers.case(db, "off-a", other),
        lambda: db.evidence("off-a", other),
        lambda: db.resolutions("off-a", other),
        lambda: officers.resolve(db, "off-a", other, "ADMITTED", "IDENTITY_CONFIRMED"),
        lambda: officers.open_cases(db, "gate-a"),  # a kiosk is no reader
        lambda: officers.resolve(db, "sup-up", fleet.cases_a[0], "ADMITTED", "IDENTITY_CONFIRMED"),
    ):
        with pytest.raises(PermissionError):
            read()
    assert officers.case(db, "off-a", "no-such-case") is None
    (gate,) = officers.gate_states(db, "off-a")  # the upstream's view: the sync's requests are its heartbeat
    assert (gate["kiosk_id"], gate["running"], gate["open_cases"], gate["waiting"]) == (
        "gate-a",
        True,
        3,
        True,
    )
    assert gate["upstream_backlog"] == 0
    officers.pull_for_kiosk(db, "gate-a", 7)  # the kiosk reports 7 records waiting in its outbox
    assert officers.gate_states(db, "off-a")[0]["upstream_backlog"] == 7
    assert db.evidence_accesses(fleet.cases_a[0]) == []
    assert [kind for kind, _ in db.evidence("off-a", fleet.cases_a[0])] == ["live_face"]
    assert [who for who, _ in db.evidence_accesses(fleet.cases_a[0])] == ["off-a"]
    # first one wins upstream: a second officer of the gate is told who resolved it
    _officer(db, fleet.folder, "off-a2", ("gate-a", "gate-b"))
    officers.resolve(db, "off-a", fleet.cases_a[0], "REFUSED", "MANUAL_BOOTH")
    with pytest.raises(AlreadyResolvedError, match="off-a") as lost:
        officers.resolve(db, "off-a2", fleet.cases_a[0], "ADMITTED", "IDENTITY_CONFIRMED")
    assert lost.value.officer == "off-a" and lost.value.resolution == "REFUSED"
    assert fleet.cases_a[0] not in [c["id"] for c in officers.open_cases(db, "off-a2")]


def test_over_http_an_officer_reads_only_their_gates(
    db: UpstreamDB, service: ServiceThread, tls: Tls, fleet: Fleet
) -> None:
    with _console(service, tls, fleet) as console:
        with pytest.raises(SignInError):
            console.sign_in("off-a", "not the password")
        session = console.sign_in("off-a", PASSWORD)
        assert session.gates == ("gate-a",)
        queue = CaseQueue(console, console)
        assert [c.id for c in queue.open_cases(session)] == fleet.cases_a[::-1]
        case = queue.case(session, fleet.cases_a[1])
        assert case.decision.reason_codes == ("FACE_NO_MATCH",) and case.kiosk_id == "gate-a"
        assert queue.evidence(session, fleet.cases_a[1]).live_face == FACE + b"gate-a"  # opened in memory
        (gate,) = queue.gates(session)
        assert (gate.kiosk_id, gate.state, gate.officers, gate.open_cases) == (
            "gate-a",
            "waiting_for_officer",  # running, its newest decision an open referral, off-a signed in
            ("off-a",),
            3,
        )
        # the client asks for another gate's case outright: the service refuses, whatever the client says
        with pytest.raises(PermissionDeniedError):
            console.case(fleet.cases_b[0])
        with pytest.raises(PermissionDeniedError):
            console.evidence(fleet.cases_b[0])
        with pytest.raises(PermissionDeniedError):
            console.resolve(fleet.cases_b[0], "off-a", "ADMITTED", reason_code="IDENTITY_CONFIRMED", note="")
        assert all(c.kiosk_id == "gate-a" for c in console.open_cases(kiosk_ids=None, limit=100))
        assert [o["account_id"] for o in officers.on_duty(db)] == ["off-a"]
        console.sign_out(session)  # the gates' view no longer counts off-a at the console
        assert officers.on_duty(db) == []
        with pytest.raises(SessionError):
            queue.open_cases(session)
    key = load_signing_key(fleet.a.key_file)  # a kiosk's key reads no case
    path = f"/v1/cases/{fleet.cases_a[0]}"
    with httpx.Client(verify=ssl.create_default_context(cafile=str(tls.ca))) as http:
        assert (
            http.get(service.url + path, headers=sign_request(key, "gate-a", "GET", path, b"")).status_code
            == 403
        )
    with _console(service, tls, fleet) as console:  # five wrong passwords lock the console
        for _ in range(4):
            with pytest.raises(SignInError):
                console.sign_in("off-a", "wrong password")
        with pytest.raises(AccountLockedError):
            console.sign_in("off-a", "wrong password")
        with pytest.raises(AccountLockedError):
            console.sign_in("off-a", PASSWORD)


def test_an_upstream_resolution_reaches_the_kiosk_chain_exactly_once(
    db: UpstreamDB, service: ServiceThread, tls: Tls, fleet: Fleet
) -> None:
    case = fleet.cases_a[0]
    with _console(service, tls, fleet) as console:
        session = console.sign_in("off-a", PASSWORD)
        made = CaseQueue(console, console).resolve(session, case, "refuse", "MANUAL_BOOTH", "booth 2")
        assert made.officer == "off-a" and made.seq == 0  # not in the kiosk's chain yet
        with _sync(fleet.a, service.url, tls) as client:
            assert client.pull_resolutions() == 1
            assert client.pull_resolutions() == 0  # pulled again before it was sent back: no second row
            assert client.drain().errors == []
            assert client.pull_resolutions() == 0  # chained upstream: no longer pending
        with DecisionLog(fleet.a.log_path, readonly=True) as log:
            rows = log.resolutions(case)
            assert [(r.id, r.officer, r.resolution, r.reason_code, r.note) for r in rows] == [
                (made.id, "off-a", "REFUSED", "MANUAL_BOOTH", "booth 2")
            ]
            assert log.verify().ok
        found = officers.case(db, "off-a", case)
        assert found is not None
        assert [r["id"] for r in found["resolutions"]] == [made.id]
        assert [(r["id"], r["state"]) for r in found["upstream"]] == [(made.id, "chained")]
        assert [r[1] for r in db.record_ids("gate-a")].count(made.id) == 1
        assert case not in [c.id for c in console.open_cases(kiosk_ids=None, limit=100)]
        closed = console.case(case)
        assert closed is not None and closed.closed_by is not None and closed.closed_by.id == made.id


def test_two_consoles_one_on_each_source_first_one_wins(
    db: UpstreamDB, service: ServiceThread, tls: Tls, fleet: Fleet
) -> None:
    local_first, upstream_first, raced = fleet.cases_a
    with Accounts(fleet.a.log_path, cost=CHEAP) as accounts:
        accounts.add(None, "sup-1", "supervisor", "supervisor-pass-1")
        supervisor = accounts.sign_in("sup-1", "supervisor-pass-1")
        accounts.add(supervisor, "off-local", "officer", "officer-local-1", gates=["gate-a"])
        local_session = accounts.sign_in("off-local", "officer-local-1")
        with (
            DecisionLog(fleet.a.log_path, fleet.a.keys, exclusive=False) as log,
            _console(service, tls, fleet) as console,
            _sync(fleet.a, service.url, tls) as client,
        ):
            local = CaseQueue(LocalCaseSource(log), accounts)
            upstream = CaseQueue(console, console)
            session = console.sign_in("off-a", PASSWORD)
            # the gate's own console first; once synced, the upstream console is told
            local.resolve(local_session, local_first, "admit", "IDENTITY_CONFIRMED")
            assert client.drain().errors == []
            with pytest.raises(AlreadyResolvedError, match="off-local"):
                upstream.resolve(session, local_first, "refuse", "MANUAL_BOOTH")
            # the upstream console first; once pulled, the gate's own console is told
            upstream.resolve(session, upstream_first, "refuse", "MANUAL_BOOTH")
            assert client.pull_resolutions() == 1
            with pytest.raises(AlreadyResolvedError, match="off-a"):
                local.resolve(local_session, upstream_first, "admit", "IDENTITY_CONFIRMED")
            # both before the sync: the gate's chain is the record, the upstream one is overtaken
            upstream.resolve(session, raced, "refuse", "MANUAL_BOOTH")
            local.resolve(local_session, raced, "admit", "IDENTITY_CONFIRMED")
            assert client.pull_resolutions() == 0  # the gate's log refuses it: closed there first
            assert client.drain().errors == []
            found = officers.case(db, "off-a", raced)
            assert found is not None and [r["state"] for r in found["upstream"]] == ["overtaken"]
            after = console.case(raced)
            assert after is not None and after.closed_by is not None
            assert after.closed_by.officer == "off-local"  # the console that lost sees who won
            assert log.verify().ok


def test_an_upstream_admit_opens_a_held_gates_barrier(
    db: UpstreamDB, service: ServiceThread, tls: Tls, tmp_path: Path
) -> None:
    kiosk = new_kiosk(db, tmp_path / "k", "gate-held")
    key_file = _officer(db, tmp_path, "off-h", ("gate-held",))
    clock, barrier = FakeClock(), LogBarrier()
    with DecisionLog(kiosk.log_path, kiosk.keys) as log:  # the gate's own connection, as kiosk run
        flow = GateFlow(
            FakeEngine(),
            read_document,
            policy=Policy(result_hold_s=1.0),
            kiosk_id=kiosk.id,
            decision_log=log,
            barrier=barrier,
            clock=clock,
            releases=log,
        )
        worker = start_worker(kiosk.log_path, kiosk.id, kiosk.sync_config(service.url, tls), keys=kiosk.keys)
        assert worker is not None
        try:
            flow.present(Presentation("minor"))
            flow.offer_frame(face_frame(1))
            assert flow.state is State.AWAITING_OFFICER and flow.last_decision is not None
            case = flow.last_decision.id
            worker.notify()
            with UpstreamService(service.url, key_file, ca_file=tls.ca) as console:
                session = console.sign_in("off-h", PASSWORD)
                queue = CaseQueue(console, console)
                deadline = time.monotonic() + 30
                while case not in [c.id for c in queue.open_cases(session)]:
                    assert time.monotonic() < deadline, "the referral never reached the upstream"
                    time.sleep(0.05)
                queue.resolve(session, case, "admit", "MINOR_RELEASED")
            while flow.state is State.AWAITING_OFFICER:
                assert time.monotonic() < deadline + 30, "the upstream admit never released the gate"
                time.sleep(0.05)
                clock.advance(0.3)
                flow.tick()
            assert flow.state is State.GATE_OPEN and barrier.opened == 1
            for _ in range(10):
                clock.advance(0.3)
                flow.tick()
            assert flow.state is State.IDLE and barrier.opened == 1 and not barrier.is_open
            worker.notify()
            while db.head("gate-held")[0] < 3:  # the decision, the admit, the exit's row
                assert time.monotonic() < deadline + 60, "the chain never got back upstream"
                time.sleep(0.05)
        finally:
            worker.stop()
        rows = [(r.resolution, r.officer) for r in log.resolutions(case)]
        assert rows == [("ADMITTED", "off-h"), (EXIT_OPENED, "off-h")]
    found = officers.case(db, "off-h", case)
    assert found is not None and [r["state"] for r in found["upstream"]] == ["chained"]
    assert [r["resolution"] for r in found["resolutions"]] == ["ADMITTED", EXIT_OPENED]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_cli_twins_read_and_resolve_upstream(
    backend: str, db: UpstreamDB, service: ServiceThread, tls: Tls, fleet: Fleet, tmp_path: Path
) -> None:
    def kiosk(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        script = Path(sys.executable).with_name("kiosk")
        cmd = (
            [str(script)]
            if script.is_file()
            else [sys.executable, "-c", "from kiosk.cli import main; main()"]
        )
        env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        return subprocess.run(
            [*cmd, *args], input=stdin, capture_output=True, text=True, timeout=120, env=env, cwd=REPO
        )

    made = kiosk(
        "officer", "keygen", "off-c", str(tmp_path / "off-c.key"), str(tmp_path / "off-c.pub"),
        "--password-stdin", stdin=f"{PASSWORD}\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    (tmp_path / "upstream.toml").write_text(
        f'[upstream]\ndatabase = "{backend}"\nlisten = "127.0.0.1:1"\n'
        f'tls_cert = "{tls.cert}"\ntls_key = "{tls.key}"\n'
    )
    enrolled = kiosk(
        "upstream", "reader", "add", "--config", str(tmp_path / "upstream.toml"), "--id", "off-c",
        "--role", "officer", "--gate", "gate-b", "--public-key", str(tmp_path / "off-c.pub"),
    )  # fmt: skip
    assert enrolled.returncode == 0 and "enrolled officer off-c" in enrolled.stdout, enrolled.stderr
    assert "for gates gate-b" in enrolled.stdout
    where = [
        "--upstream",
        service.url,
        "--officer-key",
        str(tmp_path / "off-c.key"),
        "--ca-file",
        str(tls.ca),
    ]
    listed = kiosk(
        "officer", "list", *where, "--as", "off-c", "--password-stdin", "--json", stdin=PASSWORD + "\n"
    )
    assert listed.returncode == 0, listed.stderr
    assert [line.split('"id": "')[1][:36] for line in listed.stdout.splitlines()] == fleet.cases_b[::-1]
    shown = kiosk(
        "officer", "show", fleet.cases_b[0], *where, "--evidence-key", str(fleet.evidence_key),
        "--as", "off-c", "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert shown.returncode == 0 and "live face yes" in shown.stdout, shown.stderr
    other = kiosk(
        "officer",
        "show",
        fleet.cases_a[0],
        *where,
        "--as",
        "off-c",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert other.returncode != 0 and "does not cover" in other.stderr
    resolved = kiosk(
        "officer", "resolve", fleet.cases_b[0], "refuse", "--reason", "MANUAL_BOOTH", *where,
        "--as", "off-c", "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert resolved.returncode == 0 and "REFUSED (MANUAL_BOOTH) by off-c" in resolved.stdout, resolved.stderr
    again = kiosk(
        "officer", "resolve", fleet.cases_b[0], "admit", "--reason", "IDENTITY_CONFIRMED", *where,
        "--as", "off-c", "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert again.returncode != 0 and "already resolved by off-c" in again.stderr
