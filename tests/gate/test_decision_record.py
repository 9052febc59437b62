"""The decision record as the real gate writes it (version 2): the traveller's age group (configured bands,
never the date of birth), sex and nationality as printed, the flow's timings with ``total`` from the document
placed to the decision, the configured time-outs and attempt bounds with the attempts used; the statistics
read them from the real gate's log."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from kiosk.config import config_from_mapping
from kiosk.decision import RECORD_VERSION, Decision, age_group, traveller_facts
from kiosk.devices.camera import FrameListCamera
from kiosk.documents.chip import read_chip
from kiosk.errors import ConfigError
from kiosk.export.select import Period
from kiosk.export.stats import period_stats, stats_lines
from kiosk.gate.assemble import open_gate
from kiosk.gate.events import Decided, GateEvent, State, StateChanged
from kiosk.gate.verify import run_transaction
from kiosk.store import DecisionLog

GENUINE = "genuine traveller (Collins)"
IMPOSTOR = "impostor with Hopper's passport"


def test_age_groups_sex_and_nationality_from_the_mrz() -> None:
    today = datetime(2026, 12, 1).date()
    born = datetime(1990, 12, 2).date()
    assert age_group(born, today) == "30-44" and age_group(born, today, (36, 37)) == "0-35"
    assert age_group(datetime(2008, 12, 1).date(), today) == "18-29"  # 18 today
    assert age_group(datetime(2008, 12, 2).date(), today) == "12-17"
    assert age_group(datetime(1930, 1, 1).date(), today) == "60+"
    assert age_group(None, today) == "unknown" and age_group(datetime(2027, 1, 1).date(), today) == "unknown"

    @dataclasses.dataclass
    class Mrz:
        date_of_birth: object = born
        sex: str = "<"
        nationality: str = "D"

    assert traveller_facts(Mrz(), today) == {"age_group": "30-44", "sex": "unspecified", "nationality": "D"}
    assert traveller_facts(Mrz(sex="X", nationality="UTO"), today)["sex"] == "X"
    odd = traveller_facts(Mrz(sex="?", nationality="UT0"), today)  # an OCR digit: not guessed
    assert (odd["sex"], odd["nationality"]) == ("unknown", "unknown")
    assert traveller_facts(None, today) == {"age_group": "unread", "sex": "unread", "nationality": "unread"}
    # a record built without the version-2 fields serialises exactly as version 1 did (same hash)
    assert set(Decision("k", "PASS", ()).as_dict()) == {
        "kiosk_id", "outcome", "reason_codes", "document_type", "issuing_state", "document_number_hash",
        "document_checks", "quality", "liveness", "face_score", "face_threshold", "watchlist_hits", "models",
        "id", "time_utc",
    }  # fmt: skip


class SlowClock:
    """The gate's fake clock, moved by the flow's own events: the document read takes 1.5 s, each match
    0.25 s (a real reader and a real traveller take that long; the fake clock does not move by itself)."""

    def __init__(self, clock) -> None:
        self.clock = clock
        self.presented_at: float | None = None
        self.decision_at: float | None = None

    def __call__(self, event: GateEvent) -> None:
        if isinstance(event, StateChanged) and event.state is State.DOCUMENT_PRESENTED:
            self.presented_at = self.presented_at if self.presented_at is not None else event.at
            self.clock.advance(1.5)
        elif isinstance(event, StateChanged) and event.state is State.FACE_MATCH:
            self.clock.advance(0.25)
        elif isinstance(event, StateChanged) and event.state is State.DECISION:
            self.decision_at = event.at


@pytest.mark.parametrize("bands", [None, (40,)])
def test_the_real_gate_records_traveller_timings_and_attempts(
    demo_setup, engine, clock, tmp_path: Path, bands: tuple[int, ...] | None
) -> None:
    policy = (
        demo_setup.config.policy
        if bands is None
        else dataclasses.replace(demo_setup.config.policy, age_bands=bands)
    )
    config = dataclasses.replace(demo_setup.config, policy=policy, log_path=tmp_path / "log.sqlite")
    gate = open_gate(config, engine=engine, clock=clock)
    decisions: dict[str, tuple[Decision, Decided, SlowClock]] = {}
    events: list[GateEvent] = []
    gate.flow.subscribe(events.append)
    try:
        for label in (GENUINE, IMPOSTOR):
            mover = SlowClock(clock)
            unsubscribe = gate.flow.subscribe(mover)
            start = clock.monotonic()
            decision = run_transaction(
                gate.flow, demo_setup.presentations[label], FrameListCamera(demo_setup.frames[label])
            )
            unsubscribe()
            assert mover.presented_at == start  # the flow's clock starts with the presentation
            decided = [e for e in events if isinstance(e, Decided)]
            decisions[label] = (decision, decided[-1], mover)
    finally:
        gate.close()
    dg1 = read_chip(demo_setup.presentations[GENUINE].chip, None).dg1
    today = clock.now().date()
    for label, (decision, decided, mover) in decisions.items():
        assert decision.record_version == RECORD_VERSION
        timings = decision.timings_ms
        assert timings is not None and {"document", "portrait", "capture", "match", "total"} <= set(timings)
        # total: document placed -> decision, on the flow's clock (1.5 s reading + 0.25 s per match)
        assert timings["total"] == pytest.approx((mover.decision_at - mover.presented_at) * 1000, abs=1e-3)
        assert timings["total"] >= 1750.0
        assert "evidence" not in timings and "log" not in timings  # after the record is built and hashed
        assert decided.timings_ms["total"] >= timings["total"]  # the event's total also covers the logging
        quality = decision.quality
        assert quality["timeouts_s"] == {
            "document": policy.document_timeout_s,
            "capture": policy.capture_timeout_s,
            "time_warning": policy.time_warning_s,
        }
        attempts = quality["attempts"]
        assert attempts["capture_max"] == policy.max_capture_attempts and attempts["document"] == 1
        assert attempts["match"] == (2 if label == IMPOSTOR else 1)
        assert attempts["match_max"] == policy.max_match_attempts
    genuine = decisions[GENUINE][0]
    expected_group = age_group(dg1.date_of_birth, today, policy.age_bands)
    sex = "unspecified" if dg1.sex == "<" else dg1.sex
    assert genuine.traveller == {"age_group": expected_group, "sex": sex, "nationality": dg1.nationality}
    assert genuine.traveller["age_group"] in (
        ("0-39", "40+") if bands else ("18-29", "30-44", "45-59", "60+")
    )
    # the stored record: the age group, never the date of birth or the number
    with DecisionLog(config.log_path, readonly=True) as log:
        assert log.verify().ok
        row = log.decision(genuine.id)
        assert row is not None and row.extra["traveller"] == genuine.traveller
        assert row.extra["record_version"] == RECORD_VERSION
        stored = json.dumps(
            [row.stored[name] for name in ("extra", "quality", "liveness", "document_checks")]
        )
    born = dg1.date_of_birth
    for text in (born.isoformat(), born.strftime("%y%m%d"), dg1.document_number):
        assert text not in stored
    # the statistics of the real gate's log: every decision records the fields and the timing
    day = clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
    stats = period_stats(
        config.log_path, Period(day - timedelta(days=1), day + timedelta(days=2)), min_cell=1
    )
    assert stats.record_versions == {"2": 2} and stats.durations["recorded"] == 2
    ages = next(s for s in stats.slices if s.field == "age_group")
    assert sum(cell.n for cell in ages.cells.values()) == 2 and "not recorded" not in ages.cells
    nationality = next(s for s in stats.slices if s.field == "nationality")
    assert nationality.cells[dg1.nationality].n >= 1
    assert any(line.startswith("document placed to decision: p50") for line in stats_lines(stats))


def test_age_bands_come_from_the_configuration() -> None:
    assert config_from_mapping({"policy": {"age_bands": [16, 65]}}).policy.age_bands == (16, 65)
    assert config_from_mapping({}).policy.age_bands == (12, 18, 30, 45, 60)
    for bad, message in (
        ([18, 12], "ascending"),
        ([0, 18], "at least 1"),
        ([], "ascending"),
        (["18"], "list of whole years"),
        ([18.5], "list of whole years"),
        ("18", "list of whole years"),
    ):
        with pytest.raises(ConfigError, match=message):
            config_from_mapping({"policy": {"age_bands": bad}})
