"""Document-number lists at the gate: a listed document refers the traveller with DOC_LISTED, on generated
passports, through the whole flow; a configured store or list that is missing, empty, stale or hashed under
another key stops the start."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kiosk.config import config_from_mapping, load_config
from kiosk.devices.camera import FrameListCamera
from kiosk.document_lists import DocumentListsConfig
from kiosk.errors import ConfigError
from kiosk.gate.assemble import open_gate
from kiosk.gate.events import Decided, GateEvent
from kiosk.gate.verify import run_transaction
from kiosk.texts import reason_text
from matcher.watchlist.documents import DocumentListStore, DocumentRecord

GENUINE = "genuine traveller (Collins)"
KEY = bytes(range(32))


def _number(demo_setup) -> str:
    from kiosk.documents.chip import read_chip

    return read_chip(demo_setup.presentations[GENUINE].chip, None).dg1.document_number


@pytest.fixture
def doclists(tmp_path: Path) -> tuple[DocumentListStore, DocumentListsConfig]:
    (tmp_path / "list.key").write_text(KEY.hex())
    store = DocumentListStore(tmp_path / "doclists", KEY, create=True)
    store.create_list("sltd")
    store.add("sltd", [DocumentRecord("ZZ0000001", "UTO", "P", "stolen", "SLTD-1")])
    return store, DocumentListsConfig(path=store.path, key_file=tmp_path / "list.key")


def _run(demo_setup, engine, clock, tmp_path: Path, lists: DocumentListsConfig):
    config = dataclasses.replace(demo_setup.config, log_path=tmp_path / "log.sqlite", document_lists=lists)
    gate = open_gate(config, engine=engine, clock=clock)
    events: list[GateEvent] = []
    gate.flow.subscribe(events.append)
    try:
        decision = run_transaction(
            gate.flow, demo_setup.presentations[GENUINE], FrameListCamera(demo_setup.frames[GENUINE])
        )
        decided = [e for e in events if isinstance(e, Decided)][-1]
        return decision, decided, gate.decision_log.path
    finally:
        gate.close()


def test_a_listed_document_is_referred_with_doc_listed(demo_setup, engine, clock, tmp_path, doclists) -> None:
    store, cfg = doclists
    decision, _, _ = _run(demo_setup, engine, clock, tmp_path / "before", cfg)
    assert decision.outcome == "PASS"  # the list holds another number
    number = _number(demo_setup)
    store.add("sltd", [DocumentRecord(number, "UTO", "P", "stolen", "SLTD-2")])
    decision, decided, log_path = _run(demo_setup, engine, clock, tmp_path / "after", cfg)
    assert decision.outcome == "REFER" and decision.reason_codes == ("DOC_LISTED",)
    assert [dataclasses.asdict(h) for h in decided.document_lists] == [
        {"list_id": "sltd", "category": "stolen", "reference": "SLTD-2"}
    ]
    assert "DOC_LISTED" in decided.reason_codes and "lost, stolen" in reason_text("DOC_LISTED")
    blobs = b"".join(p.read_bytes() for p in log_path.parent.glob(log_path.name + "*"))
    assert number.encode() not in blobs


def test_a_list_published_while_running_reaches_the_next_traveller(
    demo_setup, engine, clock, tmp_path, doclists
) -> None:
    store, cfg = doclists
    config = dataclasses.replace(demo_setup.config, log_path=tmp_path / "log.sqlite", document_lists=cfg)
    gate = open_gate(config, engine=engine, clock=clock)
    try:
        presentation, frames = demo_setup.presentations[GENUINE], demo_setup.frames[GENUINE]
        first = run_transaction(gate.flow, presentation, FrameListCamera(frames))
        store.add("sltd", [DocumentRecord(_number(demo_setup), "", "", "lost", "SLTD-3")])  # any state/type
        second = run_transaction(gate.flow, presentation, FrameListCamera(frames))
    finally:
        gate.close()
    assert first.outcome == "PASS" and second.reason_codes == ("DOC_LISTED",)


def test_missing_empty_stale_or_foreign_lists_stop_the_start(demo_setup, engine, tmp_path, doclists) -> None:
    from kiosk.document_lists import open_document_lists

    store, cfg = doclists
    now = datetime.now(UTC)
    missing = dataclasses.replace(cfg, path=tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="does not exist"):  # the gate does not start
        open_gate(dataclasses.replace(demo_setup.config, document_lists=missing), engine=engine)
    assert open_document_lists(cfg, now) is not None
    assert open_document_lists(DocumentListsConfig(), now) is None  # none configured
    refusals = {
        "does not exist": dataclasses.replace(cfg, path=tmp_path / "nowhere"),
        "key_file is required": dataclasses.replace(cfg, key_file=None),
        "names 'national'": dataclasses.replace(cfg, lists=("sltd", "national")),
        "max_age_hours": dataclasses.replace(cfg, max_age_hours=1.0),
    }
    for message, bad in refusals.items():
        with pytest.raises(ConfigError, match=message):
            open_document_lists(bad, now + timedelta(hours=2))
    assert not (tmp_path / "nowhere").exists()
    store.create_list("national")
    with pytest.raises(ConfigError, match=r"'national' .* is empty"):
        open_document_lists(cfg, now)
    (tmp_path / "other.key").write_text(bytes(range(1, 33)).hex())
    with pytest.raises(ConfigError, match="would never match"):
        open_document_lists(dataclasses.replace(cfg, key_file=tmp_path / "other.key", lists=("sltd",)), now)
    empty = DocumentListStore(tmp_path / "empty", KEY, create=True)
    with pytest.raises(ConfigError, match="holds no list"):
        open_document_lists(dataclasses.replace(cfg, path=empty.path), now)


def test_configuration_table(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "packaging" / "kiosk.example.toml"
    assert load_config(example).document_lists == DocumentListsConfig()
    uncommented = re.sub(r"(?m)^# ?([a-z_]+ *= *)", r"\1", example.read_text())
    (tmp_path / "kiosk.toml").write_text(uncommented)
    lists = load_config(tmp_path / "kiosk.toml").document_lists
    assert lists.path == tmp_path / "var/doclists" and lists.lists == ("sltd", "national")
    cfg = config_from_mapping(
        {"document_lists": {"path": "dl", "key_file": "k", "lists": ["sltd"], "max_age_hours": 24}},
        base_dir=tmp_path,
    )
    assert cfg.document_lists == DocumentListsConfig(tmp_path / "dl", tmp_path / "k", ("sltd",), 24.0)
    for bad, message in (({"lists": "sltd"}, "list of document"), ({"max_age_hours": -1}, "no limit")):
        with pytest.raises(ConfigError, match=message):
            config_from_mapping({"document_lists": bad})
    with pytest.raises(ConfigError, match="unknown key"):
        config_from_mapping({"document_lists": {"key": "k"}})
