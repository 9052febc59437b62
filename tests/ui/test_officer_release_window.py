"""The real traveller kiosk (offscreen window, the gate in its worker process, real engine and decision log)
holds a referred traveller at the closed exit; an officer's admit through the console's data layer, on its
own connection to the log, opens the gate."""

from __future__ import annotations

import dataclasses

import pytest

from kiosk.officer.cases import CaseQueue, LocalCaseSource
from kiosk.store import DecisionLog
from kiosk.store.accounts import Accounts, Argon2Cost
from kiosk.store.records import EXIT_OPENED
from kiosk.ui.traveller.presenter import Page
from tests.ui.gate_helpers import FailingBarrier
from tests.ui.test_traveller_kiosk import IMPOSTOR
from tests.ui.test_traveller_kiosk import kiosk_run as kiosk_run  # the traveller tests' fixture

pytestmark = pytest.mark.slow


def _admit(run, case: str) -> None:
    """An officer of the gate admits ``case`` as the console does."""
    path = run.config.log_path
    kiosk_id = run.config.kiosk_id
    with Accounts(path, cost=Argon2Cost(memory_kib=8192, iterations=1, lanes=1)) as accounts:
        if not accounts.count():
            accounts.add(None, "sup-1", "supervisor", "supervisor-ui-1")
            supervisor = accounts.sign_in("sup-1", "supervisor-ui-1")
            accounts.add(supervisor, "off-1", "officer", "officer-ui-11", gates=[kiosk_id])
        session = accounts.sign_in("off-1", "officer-ui-11")
        with DecisionLog(path, exclusive=False) as log:
            queue = CaseQueue(LocalCaseSource(log), accounts)
            assert [c.id for c in queue.open_cases(session)] == [case]
            queue.resolve(session, case, "admit", "IDENTITY_CONFIRMED")


def _held(kiosk_run, demo_setup, qtbot, barrier=None):
    base = demo_setup.config.policy
    policy = dataclasses.replace(base, result_hold_s=0.5, capture_timeout_s=30.0, officer_release="all")
    run = kiosk_run(IMPOSTOR, policy=policy, barrier=barrier)
    run.place(demo_setup, IMPOSTOR)
    qtbot.waitUntil(
        lambda: run.window.presenter.screen.instruction == "screen.awaiting_officer", timeout=60_000
    )
    assert run.window.page.page is Page.PROCESSING
    assert run.window.page.cancel_button.isVisibleTo(run.window.page)  # the traveller may still leave
    assert run.window.page.officer_button.isVisibleTo(run.window.page)
    qtbot.waitUntil(lambda: len(run.decisions) == 1, timeout=10_000)
    return run, run.decisions[0].decision_id


def test_an_officers_admit_opens_the_waiting_travellers_gate(
    kiosk_run, demo_setup, qtbot, output_dir
) -> None:
    run, case = _held(kiosk_run, demo_setup, qtbot)
    assert run.window.grab().save(str(output_dir / "awaiting-officer.png"))
    shown = " ".join(run.window.page.texts())
    for code in run.decisions[0].reason_codes:
        assert code not in shown
    qtbot.wait(600)  # held: nothing opens on its own
    assert run.barrier.opened == 0 and run.window.page.page is Page.PROCESSING
    _admit(run, case)
    run.wait_seen(qtbot, Page.GATE_OPEN)
    run.wait_page(qtbot, Page.WELCOME)
    assert run.barrier.opened == 1 and not run.barrier.is_open
    assert Page.OFFICER not in run.pages
    with DecisionLog(run.config.log_path, readonly=True) as log:
        assert [r.resolution for r in log.resolutions(case)] == ["ADMITTED", EXIT_OPENED]


def test_a_barrier_failing_on_the_admit_closes_the_gate(kiosk_run, demo_setup, qtbot) -> None:
    run, case = _held(kiosk_run, demo_setup, qtbot, barrier=FailingBarrier())
    _admit(run, case)
    run.wait_seen(qtbot, Page.OFFICER)  # the traveller is sent to the officer
    run.wait_page(qtbot, Page.OUT_OF_SERVICE)  # and nobody else is taken
    assert run.kiosk.gate.out_of_service == "BARRIER_FAILED"


def test_the_presenter_pages_of_a_wait_for_the_officer() -> None:
    from kiosk.gate.events import Ended, State, StateChanged
    from kiosk.ui.traveller.presenter import TravellerPresenter

    p = TravellerPresenter()
    waiting = p.on_event(StateChanged(State.AWAITING_OFFICER, State.DECISION, 1.0, "t", timeout_s=120.0))
    assert (waiting.page, waiting.instruction) == (Page.PROCESSING, "screen.awaiting_officer")
    assert waiting.can_cancel and waiting.can_call_officer and waiting.in_transaction
    opened = p.on_event(
        StateChanged(State.GATE_OPEN, State.AWAITING_OFFICER, 2.0, "t", resolution="ADMITTED")
    )
    assert opened.page is Page.GATE_OPEN
    p.on_event(StateChanged(State.AWAITING_OFFICER, State.DECISION, 3.0, "u"))
    assert p.on_event(StateChanged(State.REFERRED, State.AWAITING_OFFICER, 4.0, "u")).page is Page.OFFICER
    p.on_event(StateChanged(State.AWAITING_OFFICER, State.DECISION, 5.0, "v"))
    timed_out = p.on_event(
        StateChanged(State.IDLE, State.AWAITING_OFFICER, 6.0, "v", ended=Ended.OFFICER_TIMEOUT)
    )
    assert timed_out.page is Page.WELCOME
    p.on_event(StateChanged(State.AWAITING_OFFICER, State.DECISION, 7.0, "w"))
    again = p.on_event(StateChanged(State.IDLE, State.AWAITING_OFFICER, 8.0, "w", ended=Ended.OFFICER_RETRY))
    assert again.page is Page.DOCUMENT and not again.in_transaction
