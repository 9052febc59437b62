"""Shared fixtures. Tests that need ../shared (LFW data, YuNet model) find it through ``EGATE_SHARED``;
without it they skip with the reason, unless ``EGATE_REQUIRE_SHARED=1`` (set by .ci/run) makes them fail."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Caches stay inside the repository (git-ignored .cache/), for this process and the commands it starts:
# the lfw-dev template cache (matcher.lab.calibrate), Matplotlib's font list, onnxruntime's device id file.
_CACHE = Path(__file__).resolve().parents[1] / ".cache"
os.environ.setdefault("XDG_CACHE_HOME", str(_CACHE))
os.environ.setdefault("MPLCONFIGDIR", str(_CACHE / "matplotlib"))


def _shared_dir() -> Path | None:
    value = os.environ.get("EGATE_SHARED")
    return Path(value) if value else None


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = _shared_dir()
    reason = None
    if path is None:
        reason = "EGATE_SHARED is not set: point it at the shared/ folder (data/lfw-dev, models/)"
    elif not (path / "data" / "lfw-dev" / "pairs.txt").is_file():
        reason = f"EGATE_SHARED={path} has no data/lfw-dev/pairs.txt"
    if reason:
        if os.environ.get("EGATE_REQUIRE_SHARED") == "1":
            pytest.fail(f"shared data required in this run: {reason}")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def lfw_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "lfw-dev"
