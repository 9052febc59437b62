"""Built-in sample travellers: the whole gate on generated passports, one traveller per outcome.

Faces are public-domain pictures every installation has: scikit-image's astronaut (Eileen Collins, NASA) and
Matplotlib's sample ``grace_hopper.jpg`` (US Navy). Each passport is generated for real: a data page with a
valid MRZ (``kiosk.lab.synth``) and chip files signed by a demo PKI created at start
(``kiosk.lab.personalise``). Live frames are derived from the face pictures with camera-like
variation (scale, shift, rotation, light, noise, blur) and a wider crop than the document portrait."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.config import KioskConfig
from kiosk.decision import Decision
from kiosk.devices.camera import FrameListCamera
from kiosk.documents.presentation import Presentation
from kiosk.errors import KioskError
from kiosk.gate.assemble import open_gate
from kiosk.gate.verify import run_transaction
from kiosk.policy import Policy

ISSUING_STATE = "UTO"  # Utopia, the fictitious state of the ICAO Doc 9303 specimens
DEMO_KIOSK_ID = "DEMO-KIOSK-01"
FRAME_SIZE = (640, 480)
PAGE_DPI = 200.0  # data-page scan resolution (the OCR reads 150-600 dpi)
Box = tuple[float, float, float, float]  # x1, y1, x2, y2


@dataclass(frozen=True)
class Person:
    key: str
    surname: str
    given_names: str
    sex: str
    date_of_birth: dt.date


PEOPLE = {
    "collins": Person("collins", "Collins", "Eileen Marie", "F", dt.date(1956, 11, 19)),
    "hopper": Person("hopper", "Hopper", "Grace Brewster", "F", dt.date(1906, 12, 9)),
}


@dataclass(frozen=True)
class Traveller:
    label: str
    holder: str  # whose passport
    face: str  # who stands at the camera
    expected: tuple[str, ...]  # reason codes the demo expects (empty: PASS)
    expired: bool = False
    swapped_chip_portrait: bool = False  # DG2 replaced by the face at the camera after signing
    camera: str = "good"  # "good" or "unusable" (far too dark and motion-blurred)


TRAVELLERS: tuple[Traveller, ...] = (
    Traveller("genuine traveller (Collins)", "collins", "collins", ()),
    Traveller("impostor with Hopper's passport", "hopper", "collins", ("FACE_NO_MATCH",)),
    Traveller("expired passport (Collins)", "collins", "collins", ("DOC_EXPIRED",), expired=True),
    Traveller(
        "chip portrait swapped (Hopper)",
        "collins",
        "hopper",
        ("CHIP_PA_FAILED", "WATCHLIST_HIT"),  # the face is screened even when the document fails
        swapped_chip_portrait=True,
    ),
    Traveller("watchlist hit (Hopper)", "hopper", "hopper", ("WATCHLIST_HIT",)),
    Traveller("no usable face at the camera", "collins", "collins", ("QUALITY_TIMEOUT",), camera="unusable"),
)

# The demo policy: the defaults, with a short capture so the unusable-camera traveller ends quickly.
DEMO_POLICY = Policy(max_capture_frames=6, capture_timeout_s=30.0, result_hold_s=0.0)


@dataclass(frozen=True)
class DemoResult:
    label: str
    expected: tuple[str, ...]
    decision: Decision

    @property
    def as_expected(self) -> bool:
        outcome = "REFER" if self.expected else "PASS"
        return self.decision.outcome == outcome and set(self.expected) == set(self.decision.reason_codes)


@dataclass
class DemoSetup:
    config: KioskConfig
    presentations: dict[str, Presentation]  # traveller label -> presentation folder
    frames: dict[str, list[np.ndarray]]  # traveller label -> live frames


def public_domain_faces() -> dict[str, np.ndarray]:
    """The demo's face pictures (BGR), from packages installed with the kiosk."""
    import matplotlib.cbook as cbook
    from skimage.data import astronaut

    from matcher.imageio import load_image

    hopper = load_image(Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    return {"collins": np.ascontiguousarray(astronaut()[..., ::-1]), "hopper": hopper}


def portrait_crop(image: np.ndarray, box: Box) -> np.ndarray:
    """An ICAO-like 3:4 head-and-shoulders portrait (face about 55% of the height), 360x480."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 - 0.06 * (y2 - y1)
    h = (y2 - y1) / 0.55
    w = 0.75 * h
    src = np.float32([[cx - w / 2, cy - h / 2], [cx + w / 2, cy - h / 2], [cx - w / 2, cy + h / 2]])
    dst = np.float32([[0, 0], [360, 0], [0, 480]])
    m = cv2.getAffineTransform(src, dst)
    return cv2.warpAffine(image, m, (360, 480), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def camera_frames(
    image: np.ndarray,
    box: tuple[float, float, float, float],
    rng: np.random.Generator,
    n: int,
    *,
    usable: bool,
) -> list[np.ndarray]:
    """``n`` 640x480 camera frames of the person: the face fills about a quarter of the frame width, with
    random scale, shift, rotation, exposure, sensor noise and blur. ``usable=False`` gives frames a
    gate camera sometimes delivers for a whole capture: far too dark and motion-blurred."""
    x1, y1, x2, y2 = box
    cx, cy, fw = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1
    frames = []
    for _ in range(n):
        scale = (0.27 * FRAME_SIZE[0] / fw) * rng.uniform(0.85, 1.15)
        angle = rng.uniform(-5.0, 5.0)
        m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
        m[0, 2] += FRAME_SIZE[0] / 2 - cx + rng.uniform(-40, 40)
        m[1, 2] += FRAME_SIZE[1] * 0.45 - cy + rng.uniform(-30, 30)
        frame = cv2.warpAffine(image, m, FRAME_SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        gain, offset = rng.uniform(0.8, 1.15), rng.uniform(-15, 15)
        if not usable:
            gain, offset = rng.uniform(0.06, 0.1), 0.0
            k = int(rng.integers(31, 45))
            kernel = np.zeros((k, k), np.float32)
            kernel[k // 2, :] = 1.0 / k
            frame = cv2.filter2D(frame, -1, kernel)
        noise = rng.standard_normal(frame.shape, dtype=np.float32) * rng.uniform(2, 5)
        noisy = frame.astype(np.float32) * gain + offset + noise
        frame = np.clip(noisy, 0, 255).astype(np.uint8)
        if usable and rng.random() < 0.5:
            frame = cv2.GaussianBlur(frame, (3, 3), 0)
        frames.append(frame)
    return frames


def _mrz_record(person: Person, number: str, expiry: dt.date) -> Any:
    from kiosk.documents.mrz import compose_mrz, parse_mrz

    text = compose_mrz(
        "TD3",
        document_code="P",
        issuing_state=ISSUING_STATE,
        surname=person.surname,
        given_names=person.given_names,
        document_number=number,
        nationality=ISSUING_STATE,
        date_of_birth=person.date_of_birth,
        sex=person.sex,
        expiry_date=expiry,
    )
    return parse_mrz(text, extra_codes=(ISSUING_STATE,))


def build_demo(workdir: Path, engine: Any, *, seed: int = 2024) -> DemoSetup:
    """Generate the PKI, passports, live frames, the demo watchlist (Hopper enrolled) and configuration."""
    from kiosk.documents.chip.source import write_chip_folder
    from kiosk.lab.personalise import create_pki, personalise_chip, write_trust_folder
    from kiosk.lab.synth import render_data_page
    from kiosk.store.keys import generate_key_file
    from matcher.watchlist import WatchlistStore
    from matcher.watchlist.store import NewEntry

    rng = np.random.default_rng(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    faces = public_domain_faces()
    boxes = {k: engine.select_face(engine.detect(img), img.shape).box for k, img in faces.items()}
    portraits = {k: portrait_crop(faces[k], boxes[k]) for k in faces}

    pki = create_pki(ISSUING_STATE[:2])
    trust = write_trust_folder(workdir / "trust", [pki.csca.certificate], [pki.crl])
    today = dt.datetime.now(dt.UTC).date()
    presentations: dict[str, Presentation] = {}
    frames: dict[str, list[np.ndarray]] = {}
    for i, t in enumerate(TRAVELLERS):
        expiry = today - dt.timedelta(days=40) if t.expired else today + dt.timedelta(days=5 * 365)
        number = f"D{seed % 100:02d}{i:02d}{int(rng.integers(1000, 9999))}"
        record = _mrz_record(PEOPLE[t.holder], number, expiry)
        folder = workdir / "reader" / f"{i + 1:02d}-{t.holder}"
        folder.mkdir(parents=True, exist_ok=True)
        page = render_data_page(record, portraits[t.holder], dpi=PAGE_DPI, rng=rng)
        cv2.imwrite(str(folder / "page.png"), page)
        files = personalise_chip(record.lines, portraits[t.holder], pki.ds)
        if t.swapped_chip_portrait:  # the attacker's portrait copied over DG2 after signing
            files["DG2"] = personalise_chip(record.lines, portraits[t.face], pki.ds)["DG2"]
        write_chip_folder(folder / "chip", files)
        presentations[t.label] = Presentation.from_path(folder)
        usable = t.camera == "good"
        count = DEMO_POLICY.max_match_attempts + 1 if usable else DEMO_POLICY.max_capture_frames
        frames[t.label] = camera_frames(faces[t.face], boxes[t.face], rng, count, usable=usable)

    watchlists = WatchlistStore(workdir / "watchlists", create=True)
    watchlists.create_list("demo-list", model_id=engine.model_id, description="demo: one enrolled person")
    enrol_frame = camera_frames(
        faces["hopper"], boxes["hopper"], np.random.default_rng(seed + 1), 1, usable=True
    )
    entry = NewEntry("DEMO-0001", engine.template(enrol_frame[0]), category="wanted", source="demo")
    watchlists.add("demo-list", [entry])

    config = KioskConfig(
        kiosk_id=DEMO_KIOSK_ID,
        data_dir=workdir,
        trust_store=trust,
        extra_state_codes=(ISSUING_STATE,),
        watchlist=workdir / "watchlists",
        log_path=workdir / "decisions.sqlite",
        key_file=generate_key_file(workdir / "log.key"),
        policy=DEMO_POLICY,
    )
    return DemoSetup(config=config, presentations=presentations, frames=frames)


def write_demo_config(setup: DemoSetup, workdir: Path) -> Path:
    """Write ``workdir/kiosk.toml`` for this demo (paths relative to it) and a camera folder of the genuine
    traveller's frames, so that ``kiosk run``, ``kiosk verify`` and ``kiosk config check`` work on it."""
    camera = workdir / "camera"
    camera.mkdir(exist_ok=True)
    for i, frame in enumerate(setup.frames[TRAVELLERS[0].label]):
        cv2.imwrite(str(camera / f"frame-{i:02d}.png"), frame)
    cfg, policy = setup.config, setup.config.policy
    text = f"""# Written by `kiosk demo --workdir`: the demo kiosk, its files beside this one.
[kiosk]
id = "{cfg.kiosk_id}"
data_dir = "."

[devices.camera]
kind = "folder"                 # the genuine traveller's frames, again and again
path = "camera"
loop = true

[devices.document_reader]
path = "reader"                 # one sub-folder per presentation: page.png and chip/
done_path = "reader-done"

[documents]
trust_store = "trust"
extra_state_codes = ["{ISSUING_STATE}"]

[watchlist]
path = "watchlists"

[store]
path = "decisions.sqlite"
key_file = "log.key"

[policy]
max_capture_frames = {policy.max_capture_frames}
capture_timeout_s = {policy.capture_timeout_s}
result_hold_s = {policy.result_hold_s}
"""
    path = workdir / "kiosk.toml"
    path.write_text(text)
    return path


def next_commands(setup: DemoSetup, config_file: Path) -> list[str]:
    """Commands to try on a demo folder."""
    workdir = config_file.parent
    first = setup.presentations[TRAVELLERS[0].label].source
    live = workdir / "camera" / "frame-00.png"
    return [
        f"kiosk config check {config_file}",
        f"kiosk verify --config {config_file} --document {first} --live {live}",
        f"kiosk run --config {config_file} --max-transactions {len(TRAVELLERS)}",
        f"kiosk verify-log {setup.config.log_path}",
        f"matcher watchlist --store {workdir / 'watchlists'} info",
    ]


def run_demo(
    workdir: Path | None = None,
    *,
    on_decision: Callable[[str, tuple[str, ...], Decision], None] | None = None,
    echo: Callable[[str], None] | None = None,
    engine: Any | None = None,
) -> list[DemoResult]:
    """Build the demo and run every traveller through one gate; decisions go to the demo decision log."""
    from matcher import FaceEngine

    temp = None
    if workdir is None:
        temp = workdir = Path(tempfile.mkdtemp(prefix="kiosk-demo-"))
    elif workdir.exists() and any(workdir.iterdir()):
        raise KioskError(f"demo folder {workdir} is not empty: give a new or empty folder")
    try:
        engine = engine or FaceEngine.load(multiple_face_ratio=DEMO_POLICY.second_face_min_ratio)
        setup = build_demo(workdir, engine)
        if echo:
            echo(f"demo kiosk {setup.config.kiosk_id}: {len(TRAVELLERS)} travellers, files in {workdir}")
        gate = open_gate(setup.config, engine=engine)
        results = []
        try:
            for t in TRAVELLERS:
                camera = FrameListCamera(setup.frames[t.label])
                decision = run_transaction(gate.flow, setup.presentations[t.label], camera)
                results.append(DemoResult(t.label, t.expected, decision))
                if on_decision:
                    on_decision(t.label, t.expected, decision)
        finally:
            gate.close()
        if temp is None:
            config_file = write_demo_config(setup, workdir)
            if echo:
                echo(f"decision log: {setup.config.log_path} (key: {setup.config.key_file})")
                echo("next, try:")
                for command in next_commands(setup, config_file):
                    echo(f"  {command}")
        return results
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)


__all__ = [
    "TRAVELLERS",
    "DemoResult",
    "DemoSetup",
    "build_demo",
    "camera_frames",
    "next_commands",
    "run_demo",
    "write_demo_config",
]
