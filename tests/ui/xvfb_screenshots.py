"""Run under a real X server (tests/ui/test_run_command.py starts it on Xvfb): show the traveller window full
screen and grab the X screen itself (not the widget) for some pages, as PNGs in the folder given."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from kiosk.ui.theme import Theme
from kiosk.ui.traveller.language import Languages
from kiosk.ui.traveller.presenter import Page, TravellerScreen
from kiosk.ui.traveller.window import TravellerWindow


def main(out: Path, qm_dir: Path) -> None:
    app = QApplication(["xvfb-screenshots"])
    window = TravellerWindow(Theme(), Languages(qm_dir))
    screen = app.primaryScreen()
    window.setGeometry(screen.geometry())
    window.show()
    for lang, page in (("en", Page.WELCOME), ("ar", Page.WELCOME), ("ar", Page.CAMERA), ("fr", Page.OFFICER)):
        window.show_screen(TravellerScreen(page=Page.WELCOME, step=1))
        window.set_language(lang)
        window.show_screen(
            TravellerScreen(page=page, step=3, instruction="screen.referred", coaching="coach.NO_FACE")
        )
        for _ in range(20):
            app.processEvents()
        screen.grabWindow(0).save(str(out / f"xvfb-{lang}-{page.value}.png"))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
