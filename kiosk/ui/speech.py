"""Speech output for every instruction (EN 301 549 5.1.3.1): the words of the screen on show are spoken at run
time by espeak-ng (Debian's speech engine; no prompt files to keep in step with the translations). One
utterance at a time: a new screen interrupts the last one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from kiosk.errors import ConfigError

VOICES = {"en": "en-gb", "fr": "fr-fr", "es": "es", "ar": "ar"}  # espeak-ng voice per language
PROGRAM = "espeak-ng"


class Speaker:
    """Speaks through espeak-ng; ``wav_dir``: write each utterance to a numbered WAV file instead (tests)."""

    def __init__(self, *, words_per_minute: int = 140, wav_dir: Path | None = None) -> None:
        program = shutil.which(PROGRAM)
        if program is None:
            raise ConfigError(f"[ui] speech is on but {PROGRAM} is not installed (Debian package espeak-ng)")
        self._program = program
        self._wpm = words_per_minute
        self._wav_dir = wav_dir
        self._proc: subprocess.Popen[bytes] | None = None
        self.said: list[tuple[str, str]] = []  # (language, words), in order

    def say(self, words: str, lang: str) -> None:
        """Stop what is being said and say ``words`` in ``lang`` (English voice for other languages)."""
        self.stop()
        if not words.strip():
            return
        args = [self._program, "-v", VOICES.get(lang, VOICES["en"]), "-s", str(self._wpm)]
        if self._wav_dir is not None:
            args += ["-w", str(self._wav_dir / f"{len(self.said):03d}-{lang}.wav")]
        self._proc = subprocess.Popen(
            [*args, "--", words], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.said.append((lang, words))

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=5)
        self._proc = None
