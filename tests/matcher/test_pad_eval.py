"""``matcher pad-eval``: error counting, the simulated attack species, the command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from matcher import FaceEngine
from matcher.cli import cli
from matcher.lab.lfw import DatasetError
from matcher.lab.pad_eval import SPECIES, error_rate, simulate_attack


def test_bpcer_counts_bona_fide_below_and_apcer_attacks_at_or_above_the_threshold() -> None:
    bpcer = error_rate([0.2, 0.7, None, 0.5], 0.5, bona_fide=True)
    assert (bpcer.errors, bpcer.presentations, bpcer.not_found) == (1, 3, 1)
    apcer = error_rate([0.6, 0.5, 0.1, None], 0.5, bona_fide=False)
    assert (apcer.errors, apcer.presentations, apcer.not_found) == (2, 3, 1)
    low, high = apcer.as_dict()["interval95"]
    assert low < 2 / 3 < high


@pytest.mark.parametrize("species", SPECIES)
def test_each_simulated_attack_is_a_camera_frame_with_the_face_still_found(
    engine: FaceEngine, astronaut: np.ndarray, species: str
) -> None:
    frame = simulate_attack(astronaut, species, np.random.default_rng(1))
    assert frame.shape == (480, 640, 3) and frame.dtype == np.uint8
    assert len(engine.detect(frame)) >= 1
    assert not np.array_equal(frame, simulate_attack(astronaut, species, np.random.default_rng(2)))


def test_unknown_species_is_refused(astronaut: np.ndarray) -> None:
    with pytest.raises(ValueError, match="unknown attack species"):
        simulate_attack(astronaut, "latex_mask", np.random.default_rng(0))


@pytest.mark.shared
def test_pad_eval_command_reports_rates_per_species(lfw_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["pad-eval", str(lfw_dir), "--samples", "3", "--threads", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["bpcer"]["presentations"] + report["bpcer"]["face_not_found"] == 3
    assert set(report["apcer"]) == set(SPECIES) and report["apcer_worst_species"] in SPECIES
    assert report["model_versions"]["pad"].startswith("minifasnet_v2@")


def test_pad_eval_refuses_a_folder_that_is_not_lfw(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["pad-eval", str(tmp_path)])
    assert isinstance(result.exception, DatasetError) and "people.txt" in str(result.exception)
