"""A folder `kiosk run` can serve from: the demo's passports in a document-reader folder, the genuine
traveller's frames in a camera folder, and a configuration naming them (tests of the running kiosk)."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2

GENUINE = "genuine traveller (Collins)"


def write_run_setup(
    demo_setup,
    folder: Path,
    labels: tuple[str, ...],
    *,
    hold_s: float = 0.0,
    kiosk_id: str = "",
    extra: str = "",
    frames_of: str = GENUINE,
) -> Path:
    """Fill ``folder`` (reader/, frames/) and write its ``kiosk.toml``; ``extra`` is appended TOML."""
    reader, frames = folder / "reader", folder / "frames"
    reader.mkdir(exist_ok=True)
    for label in labels:
        src = demo_setup.presentations[label].source
        shutil.copytree(src, reader / src.name)
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"live-{i}.png"), demo_setup.frames[frames_of][i])
    cfg = demo_setup.config
    kiosk = f'[kiosk]\nid = "{kiosk_id}"\n' if kiosk_id else ""
    config = folder / "kiosk.toml"
    config.write_text(
        f"""{kiosk}
[devices.camera]
kind = "folder"
path = "frames"
loop = true
[devices.document_reader]
path = "reader"
done_path = "done"
[documents]
trust_store = "{cfg.trust_store}"
extra_state_codes = ["UTO"]
[store]
path = "var/decisions.sqlite"
key_file = "{cfg.key_file}"
[policy]
result_hold_s = {hold_s}
{extra}"""
    )
    return config
