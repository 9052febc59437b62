"""`kiosk document read` as a subprocess: output, JSON and exit codes (0 valid, 1 invalid, 2 unreadable)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kiosk.documents.chip.source import write_chip_folder
from kiosk.documents.mrz import compose_mrz
from kiosk.lab.personalise import create_pki, personalise_chip, write_trust_folder

REPO = Path(__file__).resolve().parents[2]
SPECIMEN_TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
SPECIMEN_TD1 = (
    "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<"
)
SPECIMEN_DAY = ["--today", "2011-06-01", "--allow-code", "UTO"]


def kiosk(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from kiosk.cli import main; main()", *args],
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def read_json(*args: str, stdin: str | None = None) -> tuple[int, dict]:
    result = kiosk("document", "read", *args, "--json", stdin=stdin)
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


@pytest.mark.parametrize("specimen", [SPECIMEN_TD3, SPECIMEN_TD1])
def test_valid_specimen(specimen: str) -> None:
    code, data = read_json("--mrz", specimen, *SPECIMEN_DAY)
    assert code == 0
    assert data["valid"] is True
    assert data["issuing_state"] == "UTO" and data["nationality"] == "UTO"
    assert (data["surname"], data["given_names"]) == ("ERIKSSON", "ANNA MARIA")
    assert (data["date_of_birth"], data["expiry_date"], data["sex"]) == ("1974-08-12", "2012-04-15", "F")
    assert data["document_type"] in ("passport", "identity_card")
    assert all(data["checks"].values())
    for key in ("document_number", "optional_data", "checks"):
        assert key in data


def test_literal_backslash_n_and_stdin() -> None:
    code, data = read_json("--mrz", SPECIMEN_TD3.replace("\n", "\\n"), *SPECIMEN_DAY)
    assert code == 0 and data["document_number"] == "L898902C3"
    code, data = read_json("--mrz", "-", *SPECIMEN_DAY, stdin="  " + SPECIMEN_TD3 + "\n\n")
    assert code == 0 and data["document_number"] == "L898902C3"


def test_invalid_check_digit_exits_1() -> None:
    code, data = read_json("--mrz", SPECIMEN_TD3.replace("C36UTO", "C37UTO"), *SPECIMEN_DAY)
    assert code == 1
    assert data["valid"] is False
    assert data["checks"]["mrz.document_number.check_digit"] is False
    assert data["checks"]["mrz.date_of_birth.check_digit"] is True


def test_expired_document_exits_1() -> None:
    code, data = read_json("--mrz", SPECIMEN_TD3, "--allow-code", "UTO", "--today", "2020-01-01")
    assert code == 1
    assert [name for name, ok in data["checks"].items() if not ok] == ["doc.not_expired"]


@pytest.mark.parametrize(
    ("text", "check"),
    [
        ("P<UTOERIKSSON<<ANNA", "mrz.format"),
        (SPECIMEN_TD3.lower(), "mrz.charset"),
        (SPECIMEN_TD3.replace("ANNA", "ÄNNA"), "mrz.charset"),
        (SPECIMEN_TD3, "mrz.issuing_state.known_code"),  # UTO is not a real code without --allow-code
    ],
)
def test_bad_mrz_is_a_named_failure(text: str, check: str) -> None:
    code, data = read_json("--mrz", text, "--today", "2011-06-01")
    assert code == 1
    assert data["checks"][check] is False
    assert check in data["check_details"]


def test_text_output() -> None:
    result = kiosk("document", "read", "--mrz", SPECIMEN_TD3, *SPECIMEN_DAY)
    assert result.returncode == 0
    assert "valid: yes" in result.stdout and "pass  mrz.composite.check_digit" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--mrz", SPECIMEN_TD3, "README.md"],
        ["/nonexistent/page.png"],
        ["--mrz", "x", "--today", "01/02/2020"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = kiosk("document", "read", *args)
    assert result.returncode == 2
    assert result.stderr.strip()


def test_unreadable_sources_exit_2_with_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    for source in (tmp_path / "empty", tmp_path / "broken.png"):
        result = kiosk("document", "read", str(source))
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("error:") and len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr


def test_image_without_mrz_exits_2(tmp_path: Path) -> None:
    Image.fromarray(np.full((400, 600, 3), 230, np.uint8)).save(tmp_path / "page.png")
    result = kiosk("document", "read", str(tmp_path / "page.png"))
    assert result.returncode == 2 and result.stderr.startswith("error:")
    assert "MRZ" in result.stderr or "model" in result.stderr  # no MRZ, or no OCR model installed


def test_presentation_folder_with_data_page_and_chip(tmp_path: Path) -> None:
    from kiosk.documents.mrz import parse_mrz
    from kiosk.documents.ocr.classify import CharClassifier
    from kiosk.lab.synth import default_portrait, render_data_page
    from matcher.errors import ModelError

    try:
        CharClassifier.default()
    except ModelError as exc:
        pytest.skip(f"the MRZ OCR model is not available: {exc}")
    pki = create_pki("NL")
    mrz = compose_mrz(
        "TD3", document_code="P", issuing_state="NLD", surname="Jansen", given_names="Piet",
        document_number="NXB123456", nationality="NLD", date_of_birth="800102", sex="M", expiry_date="400102",
    )  # fmt: skip
    folder = tmp_path / "presentation"
    write_chip_folder(folder / "chip", personalise_chip(mrz.split("\n"), default_portrait(), pki.ds))
    page = render_data_page(parse_mrz(mrz), default_portrait(), dpi=300.0)
    Image.fromarray(page[:, :, ::-1]).save(folder / "page.png")
    trust = write_trust_folder(tmp_path / "trust", [pki.csca.certificate])
    code, data = read_json(str(folder), "--trust", str(trust))
    assert code == 0, data["check_details"]
    assert data["sources"] == ["data_page", "chip"] and data["checks"]["doc.chip_matches_mrz"] is True
    code, data = read_json(str(folder / "page.png"))
    assert code == 0 and data["sources"] == ["data_page"] and data["portrait_source"] == "data_page"
    assert data["document_number"] == "NXB123456"


def test_chip_presentation_folder(tmp_path: Path) -> None:
    from kiosk.lab.synth import default_portrait

    pki = create_pki("NL")
    mrz = compose_mrz(
        "TD1", document_code="ID", issuing_state="NLD", surname="Jansen", given_names="Piet",
        document_number="IXB12345", nationality="NLD", date_of_birth="800102", sex="M", expiry_date="400102",
    )  # fmt: skip
    write_chip_folder(
        tmp_path / "doc" / "chip", personalise_chip(mrz.split("\n"), default_portrait(), pki.ds)
    )
    trust = write_trust_folder(tmp_path / "trust", [pki.csca.certificate])
    code, data = read_json(str(tmp_path / "doc"), "--trust", str(trust))
    assert code == 0, data["check_details"]
    assert data["sources"] == ["chip"] and data["portrait_source"] == "chip"
    assert data["format"] == "TD1" and data["document_number"] == "IXB12345"
    code, data = read_json(str(tmp_path / "doc" / "chip"))  # no trust store: passive authentication fails
    assert code == 1 and not all(v for k, v in data["checks"].items() if k.startswith("chip.pa."))


def test_help() -> None:
    result = kiosk("document", "read", "--help")
    assert result.returncode == 0 and "--mrz" in result.stdout and "Exit status" in result.stdout


def test_bench_reports_every_page_once_with_the_degradation_used() -> None:
    result = kiosk(
        "document", "bench", "--count", "4", "--seed", "5", "--max-blur", "0.8", "--no-real", "--json"
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["pages"] == 4
    assert figures["exact"] + figures["silently_wrong"] + figures["rejected"] == 4
    assert figures["silently_wrong"] == 0
    assert figures["degradation"]["max_blur_sigma"] == 0.8
    assert figures["median_ms"] > 0


def test_bench_refuses_an_unknown_font() -> None:
    result = kiosk("document", "bench", "--count", "1", "--fonts", "comic-sans")
    assert result.returncode == 2
    assert "comic-sans" in result.stderr
