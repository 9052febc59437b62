"""read_document: MRZ text, chip folders (real PKI, real passive authentication) and their combination."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from kiosk.documents.checks import DocumentError
from kiosk.documents.chip.source import write_chip_folder
from kiosk.documents.chip.trust import TrustStore
from kiosk.documents.mrz import compose_mrz
from kiosk.documents.reading import DocumentReading, read_document, read_path
from kiosk.lab.personalise import create_pki, personalise_chip, write_trust_folder

SPECIMEN_TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
TODAY = dt.date.today()


def _mrz(number: str = "NX1234567", expiry: dt.date | None = None) -> str:
    return compose_mrz(
        "TD3", document_code="P", issuing_state="NLD", surname="de Vries", given_names="Johanna",
        document_number=number, nationality="NLD", date_of_birth=dt.date(1988, 3, 14), sex="F",
        expiry_date=expiry or TODAY.replace(year=TODAY.year + 5, day=1),
    )  # fmt: skip


def _portrait() -> np.ndarray:
    from kiosk.lab.synth import default_portrait

    return default_portrait()


@pytest.fixture(scope="module")
def ocr_model() -> None:
    from kiosk.documents.ocr.classify import CharClassifier
    from matcher.errors import ModelError

    try:
        CharClassifier.default()
    except ModelError as exc:
        pytest.skip(f"the MRZ OCR model is not available: {exc}")


@pytest.fixture(scope="module")
def pki():
    return create_pki("NL")


@pytest.fixture(scope="module")
def trust(pki, tmp_path_factory) -> TrustStore:
    return TrustStore.from_folder(
        write_trust_folder(tmp_path_factory.mktemp("trust"), [pki.csca.certificate])
    )


def _chip(folder: Path, pki, mrz: str, tamper: str | None = None) -> Path:
    write_chip_folder(folder, personalise_chip(mrz.split("\n"), _portrait(), pki.ds, tamper=tamper))
    return folder


def failed(reading: DocumentReading) -> set[str]:
    return {check.name for check in reading.failed_checks()}


def test_mrz_text_reading() -> None:
    reading = read_document(mrz_text=SPECIMEN_TD3, today=dt.date(2011, 5, 1), extra_codes={"UTO"})
    assert reading.valid, reading.failed_checks()
    assert reading.sources == ("mrz_text",)
    assert reading.mrz is not None and reading.mrz.document_number == "L898902C3"
    assert reading.portrait is None and reading.portrait_source is None
    data = reading.as_dict()
    assert data["valid"] is True and data["expiry_date"] == "2012-04-15" and data["surname"] == "ERIKSSON"
    assert data["checks"]["doc.not_expired"] is True


@pytest.mark.parametrize(
    ("today", "expired"),
    [(dt.date(2012, 4, 15), False), (dt.date(2012, 4, 16), True), (dt.date(2026, 1, 1), True)],
)
def test_not_expired_against_injected_today(today: dt.date, expired: bool) -> None:
    reading = read_document(mrz_text=SPECIMEN_TD3, today=today, extra_codes={"UTO"})
    assert ("doc.not_expired" in failed(reading)) is expired
    assert reading.valid is not expired


def test_unparseable_mrz_is_a_reading_with_failures() -> None:
    reading = read_document(mrz_text="P<UTOERIKSSON", today=TODAY)
    assert not reading.valid
    assert {"mrz.format", "doc.not_expired"} <= failed(reading)
    assert reading.as_dict()["format"] is None


def test_no_source_is_an_error() -> None:
    with pytest.raises(DocumentError):
        read_document()


def test_chip_only(tmp_path: Path, pki, trust: TrustStore) -> None:
    reading = read_document(chip=_chip(tmp_path / "chip", pki, _mrz()), trust=trust)
    assert reading.valid, reading.failed_checks()
    assert reading.sources == ("chip",)
    assert reading.mrz is not None and reading.mrz.surname == "DE VRIES"
    assert reading.chip_mrz is None  # DG1 is the reading's MRZ
    assert reading.portrait_source == "chip" and reading.portrait.shape[2] == 3
    assert "chip.pa.sod_signature" in {c.name for c in reading.checks}
    assert "DG2" in reading.as_dict()["chip_data_groups"]


def test_chip_dg1_with_extra_codes_and_injected_today(tmp_path: Path, pki, trust: TrustStore) -> None:
    chip = _chip(tmp_path / "chip", pki, SPECIMEN_TD3)
    assert "mrz.issuing_state.known_code" in failed(read_document(chip=chip, trust=trust))
    reading = read_document(chip=chip, trust=trust, extra_codes={"UTO"})
    assert failed(reading) == {"doc.not_expired"}  # the specimen expired in 2012
    assert reading.mrz is not None and reading.mrz.expiry_date == dt.date(2012, 4, 15)


def test_chip_without_trust_fails_passive_authentication(tmp_path: Path, pki) -> None:
    reading = read_document(chip=_chip(tmp_path / "chip", pki, _mrz()))
    assert not reading.valid
    assert any(name.startswith("chip.pa.") for name in failed(reading))


def test_chip_and_printed_mrz_match(tmp_path: Path, pki, trust: TrustStore) -> None:
    mrz = _mrz()
    reading = read_document(mrz_text=mrz, chip=_chip(tmp_path / "chip", pki, mrz), trust=trust)
    assert reading.valid, reading.failed_checks()
    assert reading.sources == ("mrz_text", "chip")
    assert reading.check("doc.chip_matches_mrz").passed
    assert reading.check("chip.dg1.composite.check_digit").passed
    assert reading.chip_mrz is not None


def test_chip_and_printed_mrz_differ(tmp_path: Path, pki, trust: TrustStore) -> None:
    chip = _chip(tmp_path / "chip", pki, _mrz("NX1234567"))
    reading = read_document(mrz_text=_mrz("NX7654321"), chip=chip, trust=trust)
    check = reading.check("doc.chip_matches_mrz")
    assert check is not None and not check.passed
    assert "document_number" in check.detail and "NX" not in check.detail  # names fields, not values
    assert failed(reading) == {"doc.chip_matches_mrz"}


@pytest.mark.parametrize("tamper", ["dg1_byte", "dg2_image", "sod_signature", "sod_truncated"])
def test_tampered_chip_is_a_named_failure(tmp_path: Path, pki, trust: TrustStore, tamper: str) -> None:
    mrz = _mrz()
    reading = read_document(mrz_text=mrz, chip=_chip(tmp_path / "chip", pki, mrz, tamper), trust=trust)
    assert not reading.valid
    assert any(name.startswith("chip.") for name in failed(reading))


def test_garbage_chip_files_never_crash(tmp_path: Path) -> None:
    folder = tmp_path / "chip"
    write_chip_folder(
        folder, {"EF.COM": b"\x60\x03", "DG1": b"\x61\xff\x5f", "EF.SOD": b"\x77\x82\xff\xff\x30"}
    )
    reading = read_document(chip=folder)
    assert not reading.valid and reading.mrz is None
    assert {"chip.parse.dg1", "chip.parse.sod", "doc.not_expired"} <= failed(reading)


def test_empty_chip_folder_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(DocumentError):
        read_document(chip=tmp_path)
    with pytest.raises(DocumentError):
        read_document(chip=tmp_path / "missing")


def test_unreadable_chip_beside_mrz_text_is_a_failed_check(tmp_path: Path) -> None:
    reading = read_document(mrz_text=_mrz(), chip=tmp_path)
    assert failed(reading) == {"doc.chip.readable"}


def test_presentation_folder_with_chip(tmp_path: Path, pki, trust: TrustStore) -> None:
    _chip(tmp_path / "presentation" / "chip", pki, _mrz())
    reading = read_path(tmp_path / "presentation", trust=trust)
    assert reading.valid and reading.sources == ("chip",)
    # The chip folder itself is a valid source too.
    assert read_path(tmp_path / "presentation" / "chip", trust=trust).valid


def test_empty_presentation_folder_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(DocumentError):
        read_path(tmp_path)
    with pytest.raises(DocumentError):
        read_path(tmp_path / "missing")


def _page(mrz: str) -> np.ndarray:
    from kiosk.documents.mrz import parse_mrz
    from kiosk.lab.synth import render_data_page

    return render_data_page(parse_mrz(mrz), _portrait(), dpi=300.0)


def test_data_page_and_chip(tmp_path: Path, pki, trust: TrustStore, ocr_model: None) -> None:
    mrz = _mrz()
    reading = read_document(page=_page(mrz), chip=_chip(tmp_path / "chip", pki, mrz), trust=trust)
    assert reading.sources == ("data_page", "chip")
    assert reading.check("doc.chip_matches_mrz").passed, reading.failed_checks()
    assert reading.valid, reading.failed_checks()
    assert reading.portrait_source == "chip" and reading.ocr_confidence is not None


def test_data_page_only_gives_the_printed_portrait(ocr_model: None) -> None:
    reading = read_document(page=_page(_mrz()))
    assert reading.valid, reading.failed_checks()
    assert reading.portrait_source == "data_page"


def test_page_without_mrz(tmp_path: Path, pki, trust: TrustStore, ocr_model: None) -> None:
    blank = np.full((600, 900, 3), 235, np.uint8)
    with pytest.raises(DocumentError) as info:
        read_document(page=blank)
    assert info.value.code == "MRZ_NOT_FOUND"
    reading = read_document(page=blank, chip=_chip(tmp_path / "chip", pki, _mrz()), trust=trust)
    assert failed(reading) == {"doc.data_page.readable"}
    assert reading.sources == ("chip",)


@pytest.mark.shared
def test_chip_settles_a_read_the_check_digits_cannot(
    tmp_path: Path, pki, trust: TrustStore, ocr_model: None, shared_dir: Path
) -> None:
    import cv2

    # a real scan whose document number ZE000509 reads right but O/0 stay plausible (ZE0OO509 verifies too):
    # at full size the page's zeros settle it, shrunk they no longer do
    scan = cv2.imread(str(shared_dir / "data" / "mrz-real-dev" / "27_PassportEye-can-pass.jpg"))
    for scale in (0.8, 0.7, 0.6):
        size = (int(scan.shape[1] * scale), int(scan.shape[0] * scale))
        page = cv2.resize(scan, size, interpolation=cv2.INTER_AREA)
        alone = read_document(page=page, today=dt.date(2013, 1, 1))
        if failed(alone) == {"ocr.ambiguous_field"} and "ZE000509" in alone.mrz.lines[1]:
            break
    else:
        pytest.fail("no shrunk copy of the scan is left ambiguous: choose another for this test")
    truth = "\n".join(alone.mrz.lines)
    both = read_document(
        page=page, chip=_chip(tmp_path / "chip", pki, truth), trust=trust, today=dt.date(2013, 1, 1)
    )
    assert both.check("ocr.ambiguous_field").passed
    assert both.check("doc.chip_matches_mrz").passed
    other = truth.replace("ZE000509<9", "ZE0OO509<9")  # the chip holds the other reading: not settled
    mismatch = read_document(page=page, chip=_chip(tmp_path / "other", pki, other), trust=trust)
    assert {"ocr.ambiguous_field", "doc.chip_matches_mrz"} <= failed(mismatch)
