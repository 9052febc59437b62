"""Fixtures of the gate tests: one face engine and one generated demo set-up (passports, PKI, watchlist)
per session, and a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest


class FakeClock:
    """Monotonic and wall time that only move when the test says so."""

    def __init__(self, wall: datetime | None = None) -> None:
        self.t = 1000.0
        self._wall0 = wall or datetime.now(UTC)
        self._t0 = self.t

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return self._wall0 + timedelta(seconds=self.t - self._t0)

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def clock_factory() -> type[FakeClock]:
    return FakeClock


@pytest.fixture(scope="session")
def engine():
    from kiosk.lab.demo import DEMO_POLICY
    from matcher import FaceEngine

    return FaceEngine.load(multiple_face_ratio=DEMO_POLICY.second_face_min_ratio)


@pytest.fixture(scope="session")
def demo_setup(tmp_path_factory: pytest.TempPathFactory, engine):
    from kiosk.lab.demo import build_demo

    return build_demo(Path(tmp_path_factory.mktemp("demo")), engine)


@pytest.fixture(scope="session")
def live_engine():
    """The engine with the passive liveness (PAD) models loaded, as ``policy.liveness_required`` needs."""
    from kiosk.lab.demo import DEMO_POLICY
    from matcher import FaceEngine

    return FaceEngine.load(multiple_face_ratio=DEMO_POLICY.second_face_min_ratio, liveness=True)
