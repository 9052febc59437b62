"""`kiosk run` starts the upstream sync when [sync] is configured: decisions of the running gate reach a real
service on loopback (TLS from a test CA) while the gate serves travellers."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2

from kiosk.config import load_config
from kiosk.gate.loop import run_kiosk
from kiosk.lab.upstream_bench import make_test_tls
from kiosk.store import DecisionLog
from kiosk.sync.client import run_once, start_worker
from kiosk.upstream.db import open_database
from kiosk.upstream.enrol import enrol
from kiosk.upstream.server import ServiceThread
from matcher.signing import generate_signing_key

GENUINE = "genuine traveller (Collins)"


def test_run_syncs_its_decisions_upstream(demo_setup, tmp_path: Path) -> None:
    ca, cert, key = make_test_tls(tmp_path)
    db = open_database(f"sqlite://{tmp_path / 'upstream.db'}")
    generate_signing_key(tmp_path / "sync.key", tmp_path / "sync.pub")
    enrol(db, "SYNC-KIOSK", "kiosk", tmp_path / "sync.pub")
    service = ServiceThread(db, cert, key).start()
    reader, frames = tmp_path / "reader", tmp_path / "frames"
    for label in (GENUINE, "expired passport (Collins)"):
        src = demo_setup.presentations[label].source
        shutil.copytree(src, reader / src.name)
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"live-{i}.png"), demo_setup.frames[GENUINE][i])
    cfg = demo_setup.config
    (tmp_path / "kiosk.toml").write_text(
        f"""
[kiosk]
id = "SYNC-KIOSK"
[devices.camera]
kind = "folder"
path = "frames"
loop = true
[devices.document_reader]
path = "reader"
done_path = "done"
[documents]
trust_store = "{cfg.trust_store}"
extra_state_codes = ["UTO"]
[store]
path = "var/decisions.sqlite"
key_file = "{cfg.key_file}"
[policy]
result_hold_s = 0.0
[sync]
url = "{service.url}"
key_file = "sync.key"
ca_file = "{ca}"
"""
    )
    config = load_config(tmp_path / "kiosk.toml")
    try:
        served = run_kiosk(
            config,
            on_event=lambda event: None,
            max_transactions=2,
            companion=lambda gate: start_worker(
                config.log_path, config.kiosk_id, config.sync, keys=gate.decision_log.keys
            ),
        )
        assert served == 2
        with DecisionLog(config.log_path, readonly=True) as log:
            anchor = log.upstream_anchor()
        assert anchor is not None and anchor[0] >= 1  # the worker of the running gate sent decisions
        report, backlog = run_once(config.log_path, config.kiosk_id, config.sync)  # whatever was left
        assert report.errors == [] and backlog.waiting == 0
    finally:
        service.stop()
    with DecisionLog(config.log_path, readonly=True) as log:
        assert db.head("SYNC-KIOSK") == log.head() and log.head()[0] == 2
    db.close()
