"""`kiosk run` starts the upstream sync when [sync] is configured: decisions of the running gate reach a real
service on loopback (TLS from a test CA) while the gate serves travellers."""

from __future__ import annotations

from pathlib import Path

from run_setup import GENUINE, write_run_setup

from kiosk.config import load_config
from kiosk.gate.loop import run_kiosk
from kiosk.lab.upstream_bench import make_test_tls
from kiosk.store import DecisionLog
from kiosk.sync.client import run_once, start_worker
from kiosk.upstream.db import open_database
from kiosk.upstream.enrol import enrol
from kiosk.upstream.server import ServiceThread
from matcher.signing import generate_signing_key


def test_run_syncs_its_decisions_upstream(demo_setup, tmp_path: Path) -> None:
    ca, cert, key = make_test_tls(tmp_path)
    db = open_database(f"sqlite://{tmp_path / 'upstream.db'}")
    generate_signing_key(tmp_path / "sync.key", tmp_path / "sync.pub")
    enrol(db, "SYNC-KIOSK", "kiosk", tmp_path / "sync.pub")
    service = ServiceThread(db, cert, key).start()
    sync = f'[sync]\nurl = "{service.url}"\nkey_file = "sync.key"\nca_file = "{ca}"\n'
    path = write_run_setup(
        demo_setup, tmp_path, (GENUINE, "expired passport (Collins)"), kiosk_id="SYNC-KIOSK", extra=sync
    )
    config = load_config(path)
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
