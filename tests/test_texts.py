"""The text catalogues: every code the code base can put in front of an officer or a traveller has an English
text, and no other language holds a key English lacks (English is the fallback of every key)."""

from __future__ import annotations

import re
from pathlib import Path

from kiosk.gate.events import State
from kiosk.liveness import CHALLENGES
from kiosk.policy import _CHECK_REASONS
from kiosk.texts import catalogue, coaching_text, is_rtl, languages, reason_text, text

ROOT = Path(__file__).resolve().parents[1]
REASON_PREFIXES = "DOC|CHIP|FACE|WATCHLIST|QUALITY|MULTIPLE|CAPTURE|LIVENESS|LOG|SYSTEM|TRAVELLER"


def _literals(path: Path, pattern: str) -> set[str]:
    return set(re.findall(pattern, path.read_text(encoding="utf-8")))


def reason_codes() -> set[str]:
    """Every reason code a decision can carry: the flow's literals, the policy's check reasons, and the codes
    of the document errors the flow passes on (``DOC_*`` / ``CHIP_*``)."""
    codes = _literals(ROOT / "kiosk/gate/flow.py", rf'"((?:{REASON_PREFIXES})_[A-Z_]+)"')
    codes |= {code for _, code in _CHECK_REASONS} | {"DOC_CHECK_FAILED"}
    for path in (ROOT / "kiosk/documents").rglob("*.py"):
        codes |= _literals(path, r'\bcode = "((?:DOC|CHIP)_[A-Z_]+)"')
    return codes


def coaching_codes() -> set[str]:
    """Every coaching code: the matcher's quality reasons, the flow's own, the liveness challenges."""
    codes = _literals(ROOT / "matcher/quality.py", r'"((?:FACE|POSE|TOO|LOW|BLURRY|MOVE|EYES|MOUTH)[A-Z_]*)"')
    codes |= _literals(ROOT / "kiosk/gate/flow.py", r'_coach\("([A-Z_]+)"')
    codes |= {code for code, _ in CHALLENGES.values()}
    codes |= {"NO_FACE", "MULTIPLE_FACES", "CAPTURE_UNREADABLE", "RETRY", "HOLD_STILL", "LOW_CONFIDENCE"}
    return codes


def test_every_code_has_an_english_text() -> None:
    english = catalogue("en")
    assert len(reason_codes()) > 20 and len(coaching_codes()) > 10  # the scan found the codes
    missing = sorted(f"reason.{c}" for c in reason_codes() if f"reason.{c}" not in english)
    missing += sorted(f"coach.{c}" for c in coaching_codes() if f"coach.{c}" not in english)
    missing += sorted(f"screen.{s}" for s in State if f"screen.{s}" not in english)
    assert not missing, f"no English text for {', '.join(missing)}"


def test_no_catalogue_has_a_key_english_lacks() -> None:
    english = set(catalogue("en"))
    for lang in languages():
        extra = sorted(set(catalogue(lang)) - english)
        assert not extra, f"{lang}.json has keys English lacks: {', '.join(extra)}"
        assert catalogue(lang).get("language.direction") in ("ltr", "rtl")


def test_fallbacks() -> None:
    assert languages()[0] == "en" and not is_rtl("en")
    assert text("reason.DOC_EXPIRED", "xx") == text("reason.DOC_EXPIRED") == "The document has expired."
    assert reason_text("UNKNOWN_CODE") == "UNKNOWN_CODE"  # shown as the code, never as nothing
    assert coaching_text("TURN_LEFT", "../en") == coaching_text("TURN_LEFT")  # no path out of the folder
