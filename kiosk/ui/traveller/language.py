"""The traveller's language: Qt translators for the widget strings (``kiosk/ui/translations/*.qm``, built at
install from the ``.ts`` sources by ``packaging/setup.sh``) and ``kiosk.texts`` for the flow's words, plus a
pseudo-locale (accented, 30% longer) that shows clipped text before a real translation does."""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QTranslator

from kiosk.errors import ConfigError
from kiosk.texts import text

TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"
PSEUDO = "pseudo"  # the pseudo-locale: English source strings, accented and 30% longer
_ACCENTED = str.maketrans("AaCcDdEeGgIiKkLlNnOoRrSsTtUuYyZz", "ÅåÇçÐðÉéĜĝÎîĶķĻļÑñÖöŔŕŠšŢţÜüÝýŽž")


def pseudo(source: str) -> str:
    """Accented and padded to 130% of the length; ``%1``-style placeholders survive."""
    parts = source.split("%")
    out = [parts[0].translate(_ACCENTED)]
    for part in parts[1:]:
        digits = len(part) - len(part.lstrip("0123456789"))
        out.append(part[:digits] + part[digits:].translate(_ACCENTED))
    padding = math.ceil(len(source) * 0.3)
    return "[" + "%".join(out) + " " + "~" * max(0, padding - 3) + "]"


_pseudo_on = False  # set by Languages.install: one application, one language at a time


def translate(context: str, source: str) -> str:
    """A widget string in the current language: Qt's translators, or the pseudo-locale. Called with the
    literal context "Traveller" everywhere, as pyside6-lupdate collects the strings from these calls."""
    return pseudo(source) if _pseudo_on else QCoreApplication.translate(context, source)


class Languages:
    """Installs one language at a time into the application: its Qt translator and its ``kiosk.texts``."""

    def __init__(self, translations_dir: Path = TRANSLATIONS_DIR) -> None:
        self.translations_dir = translations_dir
        self.lang = "en"
        self._translator: QTranslator | None = None

    def install(self, lang: str) -> None:
        """Make ``lang`` current. ConfigError when its compiled translation is missing (``en`` needs none:
        the sources are English)."""
        app = QCoreApplication.instance()
        assert app is not None, "a QApplication must exist"
        global _pseudo_on
        translator: QTranslator | None = None
        if lang not in ("en", PSEUDO):
            translator = QTranslator()
            qm = self.translations_dir / f"traveller_{lang}.qm"
            if not translator.load(str(qm)):
                raise ConfigError(
                    f"the {lang} translation {qm} is missing: packaging/setup.sh builds it (pyside6-lrelease)"
                )
        if self._translator is not None:
            app.removeTranslator(self._translator)
        self._translator = translator
        if translator is not None:
            app.installTranslator(translator)
        _pseudo_on = lang == PSEUDO
        self.lang = lang

    def core(self, code: str) -> str:
        """A ``kiosk.texts`` code in the current language."""
        if self.lang == PSEUDO:
            return pseudo(text(code, "en"))
        return text(code, self.lang)
