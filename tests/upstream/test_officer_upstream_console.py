"""The Qt officer console (pytest-qt, offscreen) on the upstream service of two gates, beside a console on one
gate's own log: the upstream console sees only its officer's gate, opens a case's evidence in memory,
resolves it, and the gate's own console, once its sync pulled the resolution, is told who resolved it first.
Views saved as PNG under var/test-output/officer."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from upstream_helpers import Kiosk, Tls, new_kiosk

from kiosk.decision import Decision
from kiosk.officer.officer_key import write_officer_key
from kiosk.officer.upstream import UpstreamService
from kiosk.store import DecisionLog, Evidence, KeyRing
from kiosk.store.keys import generate_key_file
from kiosk.sync.client import SyncClient
from kiosk.sync.evidence import generate_officer_key
from kiosk.upstream.db import UpstreamDB
from kiosk.upstream.enrol import enrol
from kiosk.upstream.server import ServiceThread
from matcher.signing import generate_signing_key, load_signing_key
from tests.officer.officer_helpers import CHEAP, GateLog
from tests.officer.test_officer_console import WAIT_MS, Console, shot

pytest.importorskip("pytestqt")
PASSWORD = "officer-upstream-qt-1"


def _face(seed: int) -> bytes:
    image = np.random.default_rng(seed).integers(40, 220, (160, 120, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", cv2.GaussianBlur(image, (9, 9), 3))
    assert ok
    return data.tobytes()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_upstream_console_beside_a_gates_own(
    qtbot, db: UpstreamDB, service: ServiceThread, tls: Tls, tmp_path: Path
) -> None:
    from kiosk.officer.cases import CaseQueue
    from kiosk.store.accounts import Accounts
    from kiosk.texts import reason_text
    from kiosk.ui.officer.window import OfficerWindow

    generate_officer_key(tmp_path / "officer-service.key", tmp_path / "officer-service.pub")
    key_file = generate_key_file(tmp_path / "gate-a.key")  # gate-a's log key: its own console opens evidence
    (tmp_path / "gate-a").mkdir()
    generate_signing_key(tmp_path / "gate-a" / "sync.key", tmp_path / "gate-a" / "sync.pub")
    enrol(db, "gate-a", "kiosk", tmp_path / "gate-a" / "sync.pub")
    keys = KeyRing.from_file(key_file)
    DecisionLog(tmp_path / "gate-a" / "decisions.sqlite", keys).close()
    gates = {
        "gate-a": Kiosk(
            "gate-a",
            load_signing_key(tmp_path / "gate-a" / "sync.key"),
            tmp_path / "gate-a" / "sync.key",
            tmp_path / "gate-a" / "decisions.sqlite",
            keys,
        ),
        "gate-b": new_kiosk(db, tmp_path / "gate-b", "gate-b"),
    }
    cases: dict[str, str] = {}
    for n, (name, kiosk) in enumerate(gates.items()):
        with DecisionLog(kiosk.log_path, kiosk.keys, exclusive=False) as log:
            decision = Decision(
                kiosk_id=name,
                outcome="REFER",
                reason_codes=("FACE_NO_MATCH",),
                face_score=0.21,
                face_threshold=0.36,
            )
            cases[name] = log.append(
                decision, evidence=Evidence(live_face=_face(n), document_portrait=_face(n + 10))
            )
        config = kiosk.sync_config(service.url, tls, evidence_key=tmp_path / "officer-service.pub")
        with SyncClient(kiosk.log_path, name, config, keys=kiosk.keys) as client:
            assert client.drain().errors == []
    write_officer_key(tmp_path / "off-u.key", tmp_path / "off-u.pub", "off-u", PASSWORD, CHEAP)
    enrol(db, "off-u", "officer", tmp_path / "off-u.pub", ("gate-a",))
    gate_a = gates["gate-a"]
    with Accounts(gate_a.log_path, cost=CHEAP) as accounts:  # gate-a's own console and its officer
        accounts.add(None, "sup-1", "supervisor", "supervisor-pass-1")
        supervisor = accounts.sign_in("sup-1", "supervisor-pass-1")
        accounts.add(supervisor, "off-1", "officer", "officer-pass-11", gates=["gate-a"])

    upstream = UpstreamService(
        service.url, tmp_path / "off-u.key", evidence_key=tmp_path / "officer-service.key", ca_file=tls.ca
    )
    window = OfficerWindow(CaseQueue(upstream, upstream), upstream, reason_text=reason_text, poll_ms=200)
    qtbot.addWidget(window)
    window.show()
    local = Console(qtbot, GateLog(gate_a.log_path, key_file, "gate-a", "", (cases["gate-a"],), ""))
    try:
        window.sign_in_page.account.setText("off-u")
        window.sign_in_page.password.setText(PASSWORD)
        with qtbot.waitSignal(window.queue_loaded, timeout=WAIT_MS) as loaded:
            window.sign_in_page.button.click()
        assert [c.id for c in loaded.args[0]] == [cases["gate-a"]]  # gate-b's case never reaches it
        shot(window, "20-upstream-queue")
        with qtbot.waitSignal(window.case_shown, timeout=WAIT_MS) as shown:
            window.open_case(cases["gate-a"])
        assert shown.args[0].kiosk_id == "gate-a"
        qtbot.waitUntil(lambda: not window.case_view.live_image.pixmap().isNull(), timeout=WAIT_MS)
        shot(window, "21-upstream-case")
        local.sign_in("off-1", "officer-pass-11")
        local.open(cases["gate-a"])
        view = window.case_view
        view.choose("refuse", "MANUAL_BOOTH", "booth 3")
        with qtbot.waitSignal(window.resolved, timeout=WAIT_MS):
            view.confirm.click()
        qtbot.waitUntil(lambda: view.case is not None and view.case.closed_by is not None, timeout=WAIT_MS)
        with SyncClient(gate_a.log_path, "gate-a", gate_a.sync_config(service.url, tls)) as client:
            assert client.pull_resolutions() == 1  # the gate's chain now holds the upstream resolution
        message = local.resolve("admit", "IDENTITY_CONFIRMED", ok=False)
        assert "already resolved by off-u" in message
        shot(local.window, "22-gate-console-told-upstream-won")
    finally:
        local.close()
        window.close()
        upstream.close()
