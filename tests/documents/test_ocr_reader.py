"""End-to-end data-page reading with the shipped classifier, on generated pages with known ground truth."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.documents.checks import DocumentError
from kiosk.documents.ocr import MrzNotFoundError, read_data_page
from kiosk.documents.ocr.classify import CharClassifier
from kiosk.documents.ocr.locate import locate_candidates, locate_mrz
from kiosk.lab.synth import (
    UNSEEN_FONTS,
    available_fonts,
    default_portrait,
    random_record,
    render_data_page,
    sample_page,
)
from matcher.errors import ModelError

ROOT = Path(__file__).resolve().parents[2]
FONT = (available_fonts(("ocr-b",)) or ("dejavu-mono",))[0]


@pytest.mark.parametrize("fmt", ["TD3", "TD2", "TD1"])
def test_clean_page_reads_exactly(fmt: str) -> None:
    record = random_record(np.random.default_rng(42), fmt)
    page = render_data_page(record, default_portrait(), font=FONT, dpi=300, rng=np.random.default_rng(1))
    reading = read_data_page(page)
    assert reading.lines == record.lines
    assert reading.valid and reading.mrz.valid
    assert any(c.name == "ocr.confidence" and c.passed for c in reading.checks)
    assert (reading.portrait is None) == (fmt == "TD1")


def test_degraded_pages_are_read_or_rejected_never_wrong() -> None:
    exact = 0
    for seed in range(6):
        page = sample_page(np.random.default_rng(1000 + seed), fonts=(FONT,), formats=("TD3", "TD2"))
        try:
            reading = read_data_page(page.image)
        except DocumentError:
            continue
        if reading.valid:
            assert reading.lines == page.record.lines
            exact += 1
    assert exact >= 5


def _portrait_correlation(crop: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """Correlation of the crop (inside its margin) with the portrait pasted into ``box`` (x, y, w, h)."""
    h, w = crop.shape[:2]
    inner = crop[round(h / 12) : round(h * 11 / 12), round(w / 12) : round(w * 11 / 12)]  # drop the margin
    truth = default_portrait()
    th, tw = truth.shape[:2]
    keep = min(tw, round(th * box[2] / box[3]))
    truth = truth[:, (tw - keep) // 2 : (tw - keep) // 2 + keep]
    a = cv2.resize(cv2.cvtColor(inner, cv2.COLOR_BGR2GRAY), (48, 60)).astype(float)
    b = cv2.resize(cv2.cvtColor(truth, cv2.COLOR_BGR2GRAY), (48, 60)).astype(float)
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_portrait_crop_shows_the_printed_portrait() -> None:
    page = sample_page(np.random.default_rng(7), fonts=(FONT,), formats=("TD3",), dpi_range=(250, 300))
    crop = read_data_page(page.image).portrait
    assert crop is not None
    assert _portrait_correlation(crop, page.portrait_box) > 0.8


@pytest.mark.parametrize(
    "rotation", [cv2.ROTATE_180, cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE]
)
def test_page_upside_down_or_sideways_is_read_upright(rotation: int) -> None:
    page = sample_page(np.random.default_rng(8), fonts=(FONT,), formats=("TD3",), dpi_range=(250, 300))
    reading = read_data_page(cv2.rotate(page.image, rotation))
    assert reading.valid and reading.lines == page.record.lines
    assert reading.portrait is not None
    assert _portrait_correlation(reading.portrait, page.portrait_box) > 0.8


def test_legible_but_uncertain_page_is_not_read_again_turned(monkeypatch: pytest.MonkeyPatch) -> None:
    from kiosk.documents.ocr import reading as reader

    page = sample_page(np.random.default_rng(955), fonts=available_fonts(UNSEEN_FONTS), formats=("TD3",))
    calls = []
    monkeypatch.setattr(reader, "locate_candidates", lambda gray: calls.append(1) or locate_candidates(gray))
    reading = read_data_page(page.image)
    assert not reading.valid  # a face the classifier never saw: rejected...
    assert len(calls) == 1  # ...as it lies, without trying the page upside down or sideways


def test_mrz_beside_a_card_edge_is_found() -> None:
    # closing links the characters into lines; it used to weld them to the edge into one piece
    record = random_record(np.random.default_rng(3), "TD3")
    page = render_data_page(record, default_portrait(), font=FONT, dpi=300, rng=np.random.default_rng(1))
    quad = locate_mrz(cv2.cvtColor(page, cv2.COLOR_BGR2GRAY)).quad
    x = int(quad[:, 0].max()) + 12
    cv2.line(page, (x, 0), (x, page.shape[0] - 1), (0, 0, 0), 3)
    reading = read_data_page(page)
    assert reading.valid and reading.lines == record.lines


def test_image_without_mrz_is_mrz_not_found() -> None:
    blank = np.full((600, 800, 3), 200, np.uint8)
    with pytest.raises(MrzNotFoundError) as info:
        read_data_page(blank)
    assert info.value.code == "MRZ_NOT_FOUND"


def test_bad_input_is_a_document_error() -> None:
    with pytest.raises(DocumentError):
        read_data_page(np.zeros((100, 100), np.float32))


def test_altered_model_file_is_refused(tmp_path: Path) -> None:
    manifest = json.loads((ROOT / "models" / "manifest.json").read_text())
    entry = manifest["ocr_models"]["mrz_ocr"]
    model = tmp_path / entry["file"]
    shutil.copy(ROOT / "models" / entry["file"], model)
    with model.open("ab") as fh:
        fh.write(b"\0")
    entry["location"] = {"path": "."}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="sha256"):
        CharClassifier.from_manifest(tmp_path / "manifest.json")
