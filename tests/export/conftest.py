"""Fixtures of the export tests (see export_helpers)."""

from __future__ import annotations

import pytest
from export_helpers import World, make_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("export-world"))
