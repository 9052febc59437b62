"""CaseQueue on a log filled by the gate: roles and gates enforced in the data layer, evidence decrypted in
memory, every kind of resolution chained with the officer's id, two consoles on one case."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kiosk.officer import ACTIONS, REASON_CODES, CaseQueue, LocalCaseSource
from kiosk.store import AlreadyResolvedError, DecisionLog, KeyRing
from kiosk.store.accounts import Accounts
from kiosk.store.errors import (
    PermissionDeniedError,
    RecordInvalidError,
    SessionError,
    SignInError,
    UnknownDecisionError,
)
from tests.officer.officer_helpers import CHEAP, OTHER_GATE, PASSWORDS, GateLog


@pytest.fixture
def queue(gate_log: GateLog, accounts: Accounts):
    with DecisionLog(gate_log.path, KeyRing.from_file(gate_log.key_file), exclusive=False) as log:
        yield CaseQueue(LocalCaseSource(log), accounts)


def _sign_in(accounts: Accounts, account_id: str):
    return accounts.sign_in(account_id, PASSWORDS[account_id])


def test_an_officer_sees_the_open_cases_of_their_gates_newest_first(queue, accounts, gate_log) -> None:
    officer = _sign_in(accounts, "off-1")
    cases = queue.open_cases(officer)
    assert [case.id for case in cases] == list(reversed(gate_log.refer_ids))
    assert {case.kiosk_id for case in cases} == {gate_log.kiosk_id}
    assert cases[0].decision.reason_codes == ("LIVENESS_FAILED",)
    assert {code for case in cases for code in case.decision.reason_codes} >= {
        "FACE_NO_MATCH",
        "DOC_EXPIRED",
        "WATCHLIST_HIT",
        "QUALITY_TIMEOUT",
    }
    supervisor = _sign_in(accounts, "sup-1")  # all gates
    assert gate_log.other_gate_case in [case.id for case in queue.open_cases(supervisor)]


def test_an_officer_cannot_read_or_resolve_beyond_their_gates(queue, accounts, gate_log) -> None:
    officer = _sign_in(accounts, "off-1")
    case = gate_log.other_gate_case
    for attempt in (
        lambda: queue.case(officer, case),
        lambda: queue.evidence(officer, case),
        lambda: queue.resolve(officer, case, "admit", "IDENTITY_CONFIRMED"),
    ):
        with pytest.raises(PermissionDeniedError, match=OTHER_GATE):
            attempt()
    with pytest.raises(UnknownDecisionError):
        queue.case(officer, "no-such-case")
    with DecisionLog(gate_log.path, readonly=True) as log:
        assert log.resolutions(case) == []


def test_an_expired_ended_or_locked_session_reads_nothing(gate_log, accounts) -> None:
    now = [accounts.clock()]
    with (
        Accounts(gate_log.path, cost=CHEAP, clock=lambda: now[0]) as timed,
        DecisionLog(gate_log.path, KeyRing.from_file(gate_log.key_file), exclusive=False) as log,
    ):
        queue = CaseQueue(LocalCaseSource(log), timed)
        officer = _sign_in(timed, "off-1")
        case = gate_log.liveness_case
        assert queue.case(officer, case).id == case
        now[0] += timed.session_idle + timedelta(seconds=1)
        for attempt in (
            lambda: queue.open_cases(officer),
            lambda: queue.case(officer, case),
            lambda: queue.evidence(officer, case),
            lambda: queue.resolve(officer, case, "admit", "IDENTITY_CONFIRMED"),
        ):
            with pytest.raises(SessionError, match="expired"):
                attempt()
        officer = _sign_in(timed, "off-1")
        timed.sign_out(officer)
        with pytest.raises(SessionError, match="ended"):
            queue.open_cases(officer)
        officer = _sign_in(timed, "off-1")
        for _ in range(timed.max_failures):  # someone guesses off-1's password: the account locks
            with pytest.raises(SignInError):
                timed.sign_in("off-1", "guessed-password")
        with pytest.raises(SessionError):
            queue.evidence(officer, case)


def test_evidence_is_decrypted_in_memory_with_the_document_number(queue, accounts, gate_log) -> None:
    officer = _sign_in(accounts, "off-1")
    before = sorted(p.name for p in gate_log.path.parent.iterdir())
    evidence = queue.evidence(officer, gate_log.liveness_case)
    assert len(evidence.capture_frames) == 5 and all(f[:2] == b"\xff\xd8" for f in evidence.capture_frames)
    assert evidence.live_face and evidence.document_portrait
    assert evidence.document["document_number"] == "D2400123"
    assert sorted(p.name for p in gate_log.path.parent.iterdir()) == before  # nothing written beside the log
    opened = [e for e in accounts.events(_sign_in(accounts, "sup-1")) if e.action == "evidence_opened"]
    assert [(e.actor, e.detail) for e in opened] == [("off-1", {"decision_id": gate_log.liveness_case})]
    demo_case = gate_log.refer_ids[0]  # a case the demo gate logged: the live face, sealed by the gate
    gate_evidence = queue.evidence(officer, demo_case)
    assert gate_evidence.live_face and gate_evidence.live_face[:2] == b"\xff\xd8"


def test_each_resolution_is_chained_with_the_officer_and_reason(queue, accounts, gate_log) -> None:
    officer = _sign_in(accounts, "off-1")
    cases = gate_log.refer_ids
    with pytest.raises(RecordInvalidError, match="reason code"):
        queue.resolve(officer, cases[0], "admit", "")
    with pytest.raises(RecordInvalidError, match="reason code"):
        queue.resolve(officer, cases[0], "admit", "MANUAL_BOOTH")  # a code of another action
    with pytest.raises(RecordInvalidError, match="action"):
        queue.resolve(officer, cases[0], "wave_through", "IDENTITY_CONFIRMED")
    for case, action in zip(cases, ("admit", "second_line", "refuse", "retry"), strict=False):
        resolution = queue.resolve(officer, case, action, REASON_CODES[action][0], note=f"  {action} note ")
        assert (resolution.officer, resolution.resolution) == ("off-1", ACTIONS[action])
        assert (resolution.reason_code, resolution.note) == (REASON_CODES[action][0], f"{action} note")
    open_ids = [case.id for case in queue.open_cases(officer)]
    assert cases[1] in open_ids and queue.case(officer, cases[1]).escalated  # the second line takes it
    assert not {cases[0], cases[2], cases[3]} & set(open_ids)
    queue.resolve(officer, cases[1], "admit", "IDENTITY_CONFIRMED")  # the second line admits
    assert cases[1] not in [case.id for case in queue.open_cases(officer)]
    with DecisionLog(gate_log.path, readonly=True) as log:
        assert log.verify().ok
        assert [item.kind for item in log.outbox_pending(limit=1000)].count("resolution") == 5


def test_two_consoles_on_one_case_the_second_is_told_who_won(gate_log, accounts) -> None:
    keys = KeyRing.from_file(gate_log.key_file)
    case = gate_log.refer_ids[0]
    with (
        DecisionLog(gate_log.path, keys, exclusive=False) as log_one,
        DecisionLog(gate_log.path, keys, exclusive=False) as log_two,
        Accounts(gate_log.path, cost=CHEAP) as accounts_two,
    ):
        one = CaseQueue(LocalCaseSource(log_one), accounts)
        two = CaseQueue(LocalCaseSource(log_two), accounts_two)
        off_1, off_2 = _sign_in(accounts, "off-1"), _sign_in(accounts_two, "off-2")
        assert case in [c.id for c in two.open_cases(off_2)]  # both consoles show it
        one.resolve(off_1, case, "refuse", "MANUAL_BOOTH")
        with pytest.raises(AlreadyResolvedError, match="already resolved by off-1"):
            two.resolve(off_2, case, "admit", "IDENTITY_CONFIRMED")
        assert [r.officer for r in log_two.resolutions(case)] == ["off-1"]


def test_gate_states_follow_the_kiosk_the_officers_and_the_queue(gate_log, accounts) -> None:
    keys = KeyRing.from_file(gate_log.key_file)
    with DecisionLog(gate_log.path, keys, exclusive=False) as console_log:
        queue = CaseQueue(LocalCaseSource(console_log), accounts)
        officer = _sign_in(accounts, "off-1")
        [gate] = queue.gates(officer)  # the other gate in the log is not off-1's
        assert (gate.kiosk_id, gate.state) == (gate_log.kiosk_id, "out_of_service")  # no kiosk runs
        with DecisionLog(gate_log.path, keys) as kiosk:  # the gate's process, holding the instance lock
            [gate] = queue.gates(officer)
            assert gate.state == "waiting_for_officer" and gate.officers == ("off-1",)
            assert gate.open_cases == len(gate_log.refer_ids) and gate.upstream_backlog > 0
            queue.resolve(officer, gate_log.liveness_case, "retry", "CAPTURE_QUALITY")
            [gate] = queue.gates(officer)
            assert gate.state == "in_service" and gate.open_cases == len(gate_log.refer_ids) - 1
            kiosk.mark_sent(item.record_id for item in kiosk.outbox_pending(limit=10_000))
            assert queue.gates(officer)[0].upstream_backlog == 0
            accounts.sign_out(officer)
            with pytest.raises(SessionError):
                queue.gates(officer)
            supervisor = _sign_in(accounts, "sup-1")  # sees every gate, and is no gate officer
            states = {g.kiosk_id: g.state for g in queue.gates(supervisor)}
            assert states == {gate_log.kiosk_id: "closed", OTHER_GATE: "closed"}
            _sign_in(accounts, "off-2")
            assert queue.gates(supervisor)[0].state == "in_service"
