"""Real data pages (shared/data/mrz-real-dev) made harder the way cameras and users make them: turned to any
angle, seen by a tilted camera, cut down to the MRZ. Read exactly or rejected, never silently wrong. The whole
sweep over the 30 images is a benchmark figure (``kiosk document bench --variants``); here a representative
subset keeps the test short."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.documents.ocr import read_data_page
from kiosk.lab.ocr_bench import VARIANT_ANGLES, mrz_crop, read_real_image, tilted, turned

pytestmark = pytest.mark.shared

#: Development images read exactly upright, from every kind in the set: passports scanned and photographed,
#: a visa, ID cards, a work permit, 455-1874 px wide.
SUBSET = ("01", "02", "06", "07", "10", "11", "15", "16", "23", "26", "29")
#: Exact reads of the subset's 77 variants (7 each) at the last measurement: 77 (before this work: 15, the
#: tilted views and 4 others: nothing was found beyond 20 degrees off level and crops under 64 px were
#: refused). The rest may only be rejected; the floor leaves room for the O/0 knife edges of a few reads.
EXACT_FLOOR = 72


@pytest.fixture(scope="module")
def entries(shared_dir: Path) -> list[tuple[dict, np.ndarray]]:
    folder = shared_dir / "data" / "mrz-real-dev"
    if not (folder / "truth.json").is_file():
        pytest.fail(f"EGATE_SHARED={shared_dir} has no data/mrz-real-dev/truth.json")
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    return [(entry, cv2.imread(str(folder / entry["file"]))) for entry in truth]


def test_subset_is_read_turned_tilted_and_cropped(entries) -> None:
    from kiosk.documents.ocr.classify import CharClassifier

    classifier = CharClassifier.default()
    outcomes = {}
    for entry, image in entries:
        if entry["file"][:2] not in SUBSET:
            continue
        quad = read_data_page(image, classifier=classifier).quad
        variants = {f"turned {a}": turned(image, a) for a in VARIANT_ANGLES}
        variants |= {"tilted camera": tilted(image), "MRZ crop": mrz_crop(image, quad)}
        for name, variant in variants.items():
            outcomes[entry["file"][:2], name] = read_real_image(entry, variant, classifier)[0].outcome
    assert len(outcomes) == 7 * len(SUBSET)
    assert [key for key, outcome in outcomes.items() if outcome == "silently_wrong"] == []
    exact = sum(outcome == "exact" for outcome in outcomes.values())
    assert exact >= EXACT_FLOOR, sorted(key for key, outcome in outcomes.items() if outcome != "exact")


def test_phone_screenshot_with_a_red_box_is_cut_right(entries) -> None:
    # image 25: a booklet 20 degrees off level, framed by an app's red box that joined the MRZ lines and
    # slipped the cells of the second line by a character (the read was garbage); now every character is
    # read right (the read may still be rejected on its document number's O/0, a decoding matter)
    entry, image = next((e, i) for e, i in entries if e["file"].startswith("25_"))
    assert read_data_page(image).lines == tuple(entry["lines"])


def test_bench_reports_the_variants(shared_dir: Path, tmp_path: Path) -> None:
    folder = shared_dir / "data" / "mrz-real-dev"
    entry = next(e for e in json.loads((folder / "truth.json").read_text()) if e["file"].startswith("01_"))
    shutil.copy(folder / entry["file"], tmp_path / entry["file"])
    (tmp_path / "truth.json").write_text(json.dumps([entry]))
    args = ["document", "bench", "--count", "1", "--real", str(tmp_path), "--variants", "--json"]
    result = subprocess.run(
        [sys.executable, "-c", "from kiosk.cli import main; main()", *args],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    variants = json.loads(result.stdout)["real_variants"]
    assert set(variants) == {f"turned {a}" for a in VARIANT_ANGLES} | {"tilted camera", "MRZ crop"}
    assert all(v["images"] == 1 and v["silently_wrong"] == 0 for v in variants.values())
