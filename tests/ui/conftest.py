"""Fixtures of the traveller kiosk tests: compiled translations (built here from the repository's .ts, as
packaging/setup.sh builds them at install), the PNG output folder, and the gate's demo set-up."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TS_DIR = REPO / "kiosk" / "ui" / "translations"


def qt_tool(name: str) -> str:
    return str(Path(sys.executable).parent / f"pyside6-{name}")


@pytest.fixture(scope="session")
def qm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("qm")
    for ts in TS_DIR.glob("*.ts"):
        shutil.copy(ts, out / ts.name)
    subprocess.run([qt_tool("lrelease"), "-silent", *sorted(str(p) for p in out.glob("*.ts"))], check=True)
    return out


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Where the screenshots go (git-ignored): test-output/ui/."""
    path = REPO / "test-output" / "ui"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def clock_factory():
    from tests.gate.conftest import FakeClock

    return FakeClock


@pytest.fixture(scope="session")
def engine():
    from kiosk.lab.demo import DEMO_POLICY
    from matcher import FaceEngine

    return FaceEngine.load(multiple_face_ratio=DEMO_POLICY.second_face_min_ratio, landmarks=True)


@pytest.fixture(scope="session")
def demo_setup(tmp_path_factory: pytest.TempPathFactory, engine):
    from kiosk.lab.demo import build_demo

    return build_demo(Path(tmp_path_factory.mktemp("demo")), engine)
