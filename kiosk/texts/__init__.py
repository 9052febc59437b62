"""What the core says, in the traveller's or the officer's language: one JSON catalogue per language
(``<lang>.json`` in this folder: a flat map of key -> text), English the fallback.

Keys: ``reason.<REASON_CODE>`` (the officer's text of a decision's reason code), ``coach.<CODE>`` (the
traveller's instruction during the capture), ``screen.<name>`` (the traveller's screen per flow state and
action), ``language.name`` and ``language.direction`` (``ltr`` / ``rtl``). Codes stay codes everywhere else:
the events and the decision record carry them, the front ends ask here. A key no catalogue holds is shown as
its code (the part after the first dot), never as an empty string."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

FALLBACK = "en"
_FOLDER = Path(__file__).resolve().parent


@cache
def _catalogue(lang: str) -> dict[str, str]:
    path = _FOLDER / f"{lang}.json"
    if not lang.isalpha() or not path.is_file():  # also keeps "../x" out of the path
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"text catalogue {path}: not a flat map of key -> text")
    return data


def text(key: str, lang: str = FALLBACK) -> str:
    """The text of ``key`` (e.g. ``reason.DOC_EXPIRED``) in ``lang``, else in English, else the code."""
    found = _catalogue(lang).get(key)
    if found is None:
        found = _catalogue(FALLBACK).get(key)
    return found if found is not None else key.partition(".")[2] or key


def reason_text(code: str, lang: str = FALLBACK) -> str:
    """The officer's text of a reason code."""
    return text(f"reason.{code}", lang)


def coaching_text(code: str, lang: str = FALLBACK) -> str:
    """The traveller's instruction for a coaching code."""
    return text(f"coach.{code}", lang)


def is_rtl(lang: str) -> bool:
    """Whether ``lang`` is written right to left (its catalogue's ``language.direction``)."""
    return _catalogue(lang).get("language.direction") == "rtl"


def languages() -> tuple[str, ...]:
    """The languages with a catalogue, English first."""
    others = sorted(p.stem for p in _FOLDER.glob("*.json") if p.stem != FALLBACK)
    return (FALLBACK, *others)


def catalogue(lang: str) -> dict[str, str]:
    """The whole catalogue of ``lang`` (empty for a language without one); for checks and tools."""
    return dict(_catalogue(lang))
