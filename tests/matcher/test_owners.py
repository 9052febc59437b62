"""One owner per fact: the timestamp format, the image suffixes, every manifest section."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from matcher.imageio import IMAGE_SUFFIXES
from matcher.models import check_models, load_manifest
from matcher.utc import iso_utc


def test_iso_utc_is_one_format_at_three_precisions() -> None:
    moment = datetime(2026, 12, 1, 11, 5, 7, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert iso_utc(moment) == "2026-12-01T09:05:07.123Z"
    assert iso_utc(moment, "seconds") == "2026-12-01T09:05:07Z"
    assert iso_utc(moment, "microseconds") == "2026-12-01T09:05:07.123456Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        iso_utc(datetime(2026, 12, 1))
    assert iso_utc(datetime(2026, 12, 1, tzinfo=UTC)) < iso_utc(datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC))


def test_image_suffixes_cover_camera_pages_and_chip_portraits() -> None:
    assert {".jpg", ".jpeg", ".png", ".jp2"} <= set(IMAGE_SUFFIXES)
    assert all(s == s.lower() and s.startswith(".") for s in IMAGE_SUFFIXES)


def test_the_manifest_parser_reads_the_ocr_section_and_models_checks_it() -> None:
    manifest = load_manifest(verify=False)
    assert manifest.ocr_models["mrz_ocr"].role == "ocr"
    statuses = {s.name: s for s in check_models()}
    assert statuses["mrz_ocr"].ok, statuses["mrz_ocr"].problem
