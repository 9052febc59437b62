"""Fixtures of the matcher tests: one FaceEngine per session (loading verifies ~16 MB of model files) and
the two public-domain portraits the tests compose images from."""

from __future__ import annotations

import numpy as np
import pytest

from matcher import FaceEngine
from matcher.lab.bench import astronaut_bgr, grace_hopper_bgr


@pytest.fixture(scope="session")
def engine() -> FaceEngine:
    return FaceEngine.load(threads=1)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return astronaut_bgr()


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    return grace_hopper_bgr()
