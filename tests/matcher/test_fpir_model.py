"""The per-search FPIR model on synthetic templates with known answers (no face models, no shared data)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from matcher.errors import ModelError
from matcher.lab import fpir_model as fm
from matcher.models import set_search_table, set_thresholds
from matcher.watchlist.policy import SearchTable, ThresholdPolicy


def _model(mean: np.ndarray, sd: np.ndarray) -> fm.SearchModel:
    """A model whose pooled tail is the standard normal's (exp tail beyond z = 6)."""
    from scipy.stats import norm

    z = fm.Z_GRID[fm.Z_GRID <= 6.0]
    g = norm.sf(z)
    slope = np.polyfit(z[-100:], np.log10(g[-100:]), 1)[0]
    return fm.SearchModel(mean, sd, fm.PooledTail(g, 6.0, float(g[-1]), -1.0 / slope), 1000, 10**6)


def test_identical_probes_give_the_exact_at_least_one_of_n_rate() -> None:
    m = _model(np.zeros(4), np.full(4, 0.07))
    p = m.rates()[0]
    for n in (1, 10, 1000):
        assert np.allclose(m.fpir(n), 1 - (1 - p) ** n)


def test_different_probes_alarm_less_than_the_union_bound_says() -> None:
    """The union bound adds a look-alike-prone probe's rate N times; the model counts it once."""
    m = _model(np.array([0.0, 0.0, 0.0, 0.15]), np.array([0.06, 0.06, 0.06, 0.09]))
    p = m.rates()
    k = int(np.searchsorted(fm.SCORE_GRID, 0.35))
    n = 1000
    union = n * p[:, k].mean()
    assert m.fpir(n)[k] < 0.5 * union
    assert m.fpir(n)[k] == pytest.approx(np.mean(1 - (1 - p[:, k]) ** n))
    # the threshold for a target rises with the list size and holds the target
    t1, t2 = m.threshold(100, 1e-3), m.threshold(10_000, 1e-3)
    assert t1 is not None and t2 is not None and t1 < t2
    j = int(np.searchsorted(fm.SCORE_GRID, t2, side="right"))
    assert m.fpir(10_000)[j] <= 1e-3


def test_threshold_on_grid_interpolates_in_log_fpir_and_refuses_what_no_score_reaches() -> None:
    curve = np.full(len(fm.SCORE_GRID), 1e-6)
    curve[:11] = 10.0 ** -np.arange(1, 12) * 10  # 1, 0.1, ... at scores 0, 0.0025, ...
    t = fm.threshold_on_grid(curve, 10**-1.5)
    assert t == pytest.approx(0.0025 * 1.5)
    assert fm.threshold_on_grid(np.full(len(fm.SCORE_GRID), 0.5), 0.1) is None


def test_fitted_model_predicts_random_galleries_of_random_templates() -> None:
    """Random 64-d templates: the impostor scores have no heavy tail, so predicted FPIR must match the
    FPIR of real (synthetic) galleries drawn from people left out of the fit."""
    rng = np.random.default_rng(3)
    people, per = 1500, 2
    centres = rng.standard_normal((people, 64))
    vectors = np.repeat(centres, per, axis=0) + 0.5 * rng.standard_normal((people * per, 64))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    identity = np.repeat(np.arange(people), per)
    usable = np.ones(len(identity), bool)
    rows = fm.held_out_check(
        vectors,
        identity,
        usable,
        fit_people=700,
        sizes=(100, 400),
        targets=(1e-2,),
        splits=2,
        log=lambda s: s,
    )
    ours = [h for h in rows if h.model == "per-probe"]
    assert all(h.searches > 1000 for h in ours)
    for h in ours:
        assert 0.5 <= h.ratio <= 2.0, (h.entries, h.ratio)


def test_search_table_is_bilinear_and_refuses_outside() -> None:
    table = SearchTable((10, 100, 1000), {1e-3: (0.3, 0.4, None), 1e-2: (0.2, 0.3, 0.4)}, verified_to=100)
    assert table.threshold(100, 1e-3) == pytest.approx(0.4)
    assert table.threshold(10, 10**-2.5) == pytest.approx(0.25)
    assert table.threshold(int(10**1.5), 1e-2) == pytest.approx(0.25, abs=1e-3)
    with pytest.raises(ModelError, match=r"lists of 10\.\.1,000 entries, not 5"):
        table.threshold(5, 1e-2)
    with pytest.raises(ModelError, match="outside the calibrated range"):
        table.threshold(100, 1e-4)
    with pytest.raises(ModelError, match=r"no score holds FPIR 0\.001 over 500 entries"):
        table.threshold(500, 1e-3)
    assert "checked on real galleries up to 100" in table.basis(50)
    assert "extrapolated" in table.basis(500)


def test_default_policy_uses_the_table_instead_of_the_union_bound() -> None:
    fmr_table = {10.0**-k: k / 10 for k in range(2, 9)}
    search = SearchTable((1, 1000), {1e-3: (0.25, 0.35), 1e-2: (0.2, 0.3)}, verified_to=1000)
    policy = ThresholdPolicy()
    assert policy.resolve(1000, fmr_table) == pytest.approx(0.6)  # union bound: 1e-6 per comparison
    assert policy.resolve(1000, fmr_table, search=search) == pytest.approx(0.35)
    assert ThresholdPolicy(fmr=1e-3, per="comparison").resolve(1000, fmr_table, search=search) == 0.3
    assert policy.basis(1000, search).startswith("per-probe FPIR model")
    assert policy.basis(1000) == "union bound: FMR 1e-06 per comparison"


def test_recalibrating_keeps_the_search_table_of_the_same_model(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    entry = {"role": "embedder", "sha256": "ab" * 32, "file": "x.onnx"}
    manifest.write_text(json.dumps({"schema": 1, "models": {"emb": entry}}))
    with pytest.raises(ModelError, match="no calibrated thresholds"):
        set_search_table("emb", {"model_sha256": "ab" * 32}, path=manifest)
    set_thresholds("emb", {1e-3: 0.3}, {}, path=manifest)
    search = {"model_sha256": "ab" * 32, "entries": [1, 10], "score": {}, "verified_to_entries": 1}
    set_search_table("emb", search, path=manifest)
    set_thresholds("emb", {1e-3: 0.31}, {}, path=manifest)
    stored = json.loads(manifest.read_text())["models"]["emb"]["thresholds"]
    assert stored["search"] == search and math.isclose(stored["fmr"]["0.001"], 0.31)


def test_the_shipped_fpir_table_rises_with_list_size_and_falls_with_the_rate() -> None:
    from matcher.models import load_manifest
    from matcher.watchlist.policy import manifest_search_table

    spec = load_manifest(verify=False).default("embedder")
    table = manifest_search_table(spec.model_id)
    assert table is not None and spec.thresholds is not None
    assert spec.thresholds["search"]["model_sha256"] == spec.sha256
    assert table.entries[0] == 1 and table.entries[-1] >= 100_000 and table.verified_to >= 1000
    rates = sorted(table.scores)
    for f in rates:
        row = [t for t in table.scores[f] if t is not None]
        assert row == sorted(row) and len(row) == len(table.entries)  # every size has a threshold
    for n in range(len(table.entries)):
        column = [table.scores[f][n] for f in rates]
        assert column == sorted(column, reverse=True)
    # one comparison: the per-search model meets the per-comparison curve it shares its pairs with
    fmr = {float(k): v for k, v in spec.thresholds["fmr"].items()}
    assert abs(table.threshold(1, 1e-3) - fmr[1e-3]) < 0.005
