"""Fixtures of the officer tests: a decision log filled by the demo gate (five referred travellers, one
passed) plus one liveness-alarm case with every capture frame sealed, copied fresh for each test; accounts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest

from kiosk.store.accounts import Accounts
from tests.officer.officer_helpers import CHEAP, OTHER_GATE, PASSWORDS, GateLog


def _jpeg(image) -> bytes:
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


@pytest.fixture(scope="session")
def gate_log_template(tmp_path_factory: pytest.TempPathFactory) -> GateLog:
    from kiosk.decision import Decision
    from kiosk.devices.camera import FrameListCamera
    from kiosk.gate.assemble import open_gate
    from kiosk.gate.verify import run_transaction
    from kiosk.lab.demo import DEMO_POLICY, TRAVELLERS, build_demo
    from kiosk.store import DecisionLog, Evidence, KeyRing
    from kiosk.store.evidence import pack_frames
    from matcher import FaceEngine

    engine = FaceEngine.load(multiple_face_ratio=DEMO_POLICY.second_face_min_ratio)
    workdir = tmp_path_factory.mktemp("officer-gate")
    setup = build_demo(workdir, engine)
    gate = open_gate(setup.config, engine=engine)
    try:
        decisions = [
            run_transaction(gate.flow, setup.presentations[t.label], FrameListCamera(setup.frames[t.label]))
            for t in TRAVELLERS
        ]
    finally:
        gate.close()
    keys = KeyRing.from_file(setup.config.key_file)
    frames = [*setup.frames[TRAVELLERS[0].label], *setup.frames[TRAVELLERS[1].label]][:5]
    liveness = Decision(
        kiosk_id=setup.config.kiosk_id,
        outcome="REFER",
        reason_codes=("LIVENESS_FAILED",),
        document_type="P",
        issuing_state="UTO",
        document_number_hash=keys.hash_document_number("D2400123", "UTO"),
        document_checks={"mrz.check_digits": True, "chip.pa.sod_signature": True, "chip.pa.dg2_hash": False},
        liveness={"assessed": True, "passive_median": 0.08, "passive_threshold": 0.2, "frames": 5},
        face_score=0.71,
        face_threshold=0.3581,
        models={"embedder": engine.model_id},
    )
    document = {
        "document_number": "D2400123",
        "surname": "COLLINS",
        "given_names": "EILEEN",
        "nationality": "UTO",
        "birth_date": "1956-11-19",
        "sex": "F",
        "expiry_date": "2031-01-01",
    }
    evidence = Evidence(
        live_face=_jpeg(frames[0]),
        document_portrait=_jpeg(cv2.resize(frames[1], (240, 320))),
        capture_frames=pack_frames([_jpeg(frame) for frame in frames]),
        document_data=json.dumps(document).encode(),
    )
    other = Decision(
        kiosk_id=OTHER_GATE,
        outcome="REFER",
        reason_codes=("FACE_NO_MATCH",),
        face_score=0.1,
        face_threshold=0.3581,
    )
    with DecisionLog(setup.config.log_path, keys) as log:
        log.append(liveness, evidence=evidence)
        log.append(other)
    refer = (*(d.id for d in decisions if d.outcome == "REFER"), liveness.id)
    return GateLog(
        setup.config.log_path, setup.config.key_file, setup.config.kiosk_id, liveness.id, refer, other.id
    )


@pytest.fixture
def gate_log(gate_log_template: GateLog, tmp_path: Path) -> GateLog:
    """A fresh copy of the filled log (and its key) for one test."""
    folder = tmp_path / "gate"
    folder.mkdir()
    path = folder / gate_log_template.path.name
    shutil.copy2(gate_log_template.path, path)
    key = folder / "log.key"
    shutil.copy2(gate_log_template.key_file, key)
    return GateLog(
        path,
        key,
        *[
            getattr(gate_log_template, n)
            for n in ("kiosk_id", "liveness_case", "refer_ids", "other_gate_case")
        ],
    )


@pytest.fixture
def accounts(gate_log: GateLog):
    """sup-1 (supervisor, all gates), off-1 and off-2 (officers of the demo gate)."""
    with Accounts(gate_log.path, cost=CHEAP) as store:
        store.add(None, "sup-1", "supervisor", PASSWORDS["sup-1"])
        supervisor = store.sign_in("sup-1", PASSWORDS["sup-1"])
        for officer in ("off-1", "off-2"):
            store.add(supervisor, officer, "officer", PASSWORDS[officer], gates=[gate_log.kiosk_id])
        yield store
