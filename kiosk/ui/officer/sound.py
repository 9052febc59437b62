"""The audible half of the alarm: a two-tone chime through the audio output (QSoundEffect), or the system
bell where the console has no audio output; the window says which, so a silent console is never a surprise."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

from PySide6.QtCore import QObject, QTemporaryDir, QUrl
from PySide6.QtMultimedia import QMediaDevices, QSoundEffect
from PySide6.QtWidgets import QApplication

RATE = 22050


def write_chime(path: Path, seconds: float = 0.8) -> Path:
    """A 16-bit mono WAV alternating 880 and 660 Hz every 0.2 s (no file ships with the package)."""
    samples = int(RATE * seconds)
    tone = (
        int(12000 * math.sin(2 * math.pi * (880 if (i // (RATE // 5)) % 2 == 0 else 660) * i / RATE))
        for i in range(samples)
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(struct.pack(f"<{samples}h", *tone))
    return path


class AlarmSound(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.effect: QSoundEffect | None = None
        self._folder = QTemporaryDir()
        if QMediaDevices.audioOutputs() and self._folder.isValid():
            self.effect = QSoundEffect(self)
            self.effect.setSource(
                QUrl.fromLocalFile(str(write_chime(Path(self._folder.path()) / "chime.wav")))
            )

    @property
    def description(self) -> str:
        return (
            "alarm sound: speaker"
            if self.effect is not None
            else "alarm sound: system bell only (no audio output)"
        )

    def play(self) -> None:
        if self.effect is not None and self.effect.status() != QSoundEffect.Status.Error:
            self.effect.play()
        else:
            QApplication.beep()
