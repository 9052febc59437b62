"""The gate refuses to start rather than run silently degraded: no decision log, a watchlist store that is
missing, holds no list, lacks a configured list, or has an empty or stale list."""

from __future__ import annotations

import dataclasses
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from test_commands import kiosk

from kiosk.errors import ConfigError
from kiosk.gate.assemble import open_gate
from matcher.watchlist import WatchlistStore


@pytest.fixture
def lists(demo_setup, tmp_path: Path) -> Path:
    """A copy of the demo's watchlist store (list 'demo-list', one entry)."""
    copy = tmp_path / "watchlists"
    shutil.copytree(demo_setup.config.watchlist, copy)
    return copy


def _open(demo_setup, engine, clock, **changes):
    config = dataclasses.replace(demo_setup.config, log_path=None, **changes)
    return open_gate(config, engine=engine, clock=clock, log_decisions=False)


def test_mistyped_watchlist_path_stops_the_kiosk_and_creates_nothing(demo_setup, engine, clock, tmp_path):
    typo = tmp_path / "watchlsts"
    with pytest.raises(ConfigError, match=re.escape(f"watchlist.path: no watchlist store at {typo}")):
        _open(demo_setup, engine, clock, watchlist=typo)
    assert not typo.exists()


def test_store_without_lists_stops_the_kiosk(demo_setup, engine, clock, tmp_path):
    WatchlistStore(tmp_path / "new", create=True)
    with pytest.raises(ConfigError, match="holds no list: the gate would screen against nothing"):
        _open(demo_setup, engine, clock, watchlist=tmp_path / "new")


def test_configured_list_missing_or_empty_stops_the_kiosk(demo_setup, engine, clock, lists):
    with pytest.raises(ConfigError, match=r"watchlist\.lists names 'interpol', which is not in the store"):
        _open(demo_setup, engine, clock, watchlist=lists, watchlist_lists=("demo-list", "interpol"))
    WatchlistStore(lists).create_list("interpol", model_id=engine.model_id)
    with pytest.raises(ConfigError, match=r"watchlist 'interpol' in .* is empty"):
        _open(demo_setup, engine, clock, watchlist=lists, watchlist_lists=("demo-list", "interpol"))
    with pytest.raises(ConfigError, match=r"'interpol' in .* is empty"):
        _open(demo_setup, engine, clock, watchlist=lists)  # no lists named: every list must be usable
    _open(demo_setup, engine, clock, watchlist=lists, watchlist_lists=("demo-list",)).close()


def test_list_past_its_refresh_age_stops_the_kiosk(demo_setup, engine, clock_factory, lists):
    later = clock_factory()
    later.advance(timedelta(hours=73).total_seconds())
    with pytest.raises(ConfigError, match=r"last refreshed at .* \(73 h ago\).*max_age_hours = 72"):
        _open(demo_setup, engine, later, watchlist=lists)
    _open(demo_setup, engine, later, watchlist=lists, watchlist_max_age_h=0.0).close()  # 0: no limit


def test_no_decision_log_stops_the_kiosk(demo_setup, engine, clock):
    config = dataclasses.replace(demo_setup.config, log_path=None)
    with pytest.raises(
        ConfigError, match=r"store\.path is not set: the kiosk does not run without a decision"
    ):
        open_gate(config, engine=engine, clock=clock)


def test_run_and_verify_log_without_a_configured_log_are_errors(demo_setup, tmp_path):
    config = tmp_path / "kiosk.toml"
    config.write_text(f'[devices.document_reader]\npath = "{tmp_path}"\n')
    result = kiosk("run", "--config", str(config), "--max-transactions", "1")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: store.path is not set") and result.stderr.count("\n") == 1
    page = demo_setup.presentations["genuine traveller (Collins)"].source
    live = next(page.glob("*.png"))
    result = kiosk("verify", "--config", str(config), "--document", str(page), "--live", str(live), "--log")
    assert result.returncode == 2 and result.stderr.startswith("error: store.path is not set")


def test_a_new_decision_log_is_announced(demo_setup, engine, clock, tmp_path, caplog):
    config = dataclasses.replace(demo_setup.config, log_path=tmp_path / "var" / "decisons.sqlite")
    with caplog.at_level("WARNING", logger="kiosk.gate.assemble"):
        open_gate(config, engine=engine, clock=clock).close()
    assert f"decision log {config.log_path} does not exist: starting a new, empty log there" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="kiosk.gate.assemble"):
        open_gate(config, engine=engine, clock=clock).close()
    assert caplog.text == ""  # the existing log is simply opened
