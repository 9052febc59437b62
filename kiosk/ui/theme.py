"""Look of the traveller kiosk: fonts (Debian's Noto), colours that pass WCAG AA, touch target sizes at the
kiosk's DPI, large type, and the layout direction of each language."""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication

from kiosk.texts import is_rtl

LANGUAGES: tuple[str, ...] = ("en", "fr", "es", "ar")
# Each language's own name on its button (never translated: a traveller looks for their own language).
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "fr": "Français", "es": "Español", "ar": "العربية"}
LANGUAGE_BUTTON = "Language · Langue · Idioma · اللغة"

# Colours as (foreground, background) pairs; tests/ui check every pair against WCAG 2.2 AA (4.5:1).
INK = "#FFFFFF"
PAPER = "#0B2545"  # dark blue background: glare-free on a bright hall, white type at 15:1
ACCENT = "#FFD447"  # primary buttons (yellow, dark type)
ACCENT_INK = "#0B2545"
QUIET = "#DCE6F2"  # secondary buttons (light, dark type)
QUIET_INK = "#0B2545"
GUIDE = "#FFD447"  # the face guide over the camera picture
COLOUR_PAIRS: dict[str, tuple[str, str]] = {
    "text": (INK, PAPER),
    "primary button": (ACCENT_INK, ACCENT),
    "secondary button": (QUIET_INK, QUIET),
}

FONT_FAMILY = "Noto Sans"
ARABIC_FONT_FAMILY = "Noto Sans Arabic UI"
MIN_TOUCH_CSS_PX = 44  # WCAG 2.5.5 target size, in CSS pixels (1/96 inch)


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2.x contrast ratio of two colours (1 to 21)."""

    def luminance(colour: str) -> float:
        c = QColor(colour)

        def channel(v: float) -> float:
            return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

        return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF())

    hi, lo = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@dataclass(frozen=True)
class Theme:
    """Sizes in device pixels for a screen of ``dpi`` dots per inch."""

    dpi: float = 96.0

    def px(self, css_px: float) -> int:
        """CSS pixels (1/96 inch) to device pixels at this DPI."""
        return math.ceil(css_px * self.dpi / 96.0)

    @property
    def touch(self) -> int:
        """Smallest side of anything a traveller touches: 64 CSS px, above the 44 of WCAG 2.5.5."""
        return max(self.px(64), self.px(MIN_TOUCH_CSS_PX))

    @property
    def body_px(self) -> int:
        return self.px(30)

    @property
    def title_px(self) -> int:
        return self.px(44)

    def font(self, lang: str, size_px: int, *, bold: bool = False) -> QFont:
        font = QFont(ARABIC_FONT_FAMILY if lang == "ar" else FONT_FAMILY)
        font.setFamilies([ARABIC_FONT_FAMILY, FONT_FAMILY] if lang == "ar" else [FONT_FAMILY])
        font.setPixelSize(size_px)
        font.setBold(bold)
        return font

    def stylesheet(self) -> str:
        t, radius = self.touch, self.px(12)
        return f"""
            QWidget#traveller {{ background: {PAPER}; }}
            QLabel {{ color: {INK}; background: transparent; }}
            QPushButton {{ min-height: {t}px; min-width: {t}px; padding: 0 {self.px(24)}px;
                           border-radius: {radius}px; border: {self.px(4)}px solid transparent;
                           background: {QUIET}; color: {QUIET_INK}; }}
            QPushButton[primary="true"] {{ background: {ACCENT}; color: {ACCENT_INK}; font-weight: bold; }}
            QPushButton:focus {{ outline: none; border-color: {INK}; }}
            QProgressBar {{ background: {QUIET}; border: none; border-radius: {self.px(6)}px; }}
            QProgressBar::chunk {{ background: {ACCENT}; border-radius: {self.px(6)}px; }}
        """


def screen_dpi() -> float:
    """The physical DPI of the primary screen (96 when unknown, as with the offscreen platform)."""
    screen = QGuiApplication.primaryScreen()
    dpi = screen.physicalDotsPerInch() if screen is not None else 96.0
    return dpi if 50.0 <= dpi <= 600.0 else 96.0


def direction(lang: str) -> Qt.LayoutDirection:
    """Right to left for Arabic (and any right-to-left language of kiosk.texts)."""
    return Qt.LayoutDirection.RightToLeft if is_rtl(lang) else Qt.LayoutDirection.LeftToRight
