"""The live capture's coaching measures on real faces: the face guide (too close, off to a side, too high or
low) on lfw-dev faces shifted and scaled in a camera-sized frame, and the eyes and mouth from InsightFace's
106 landmarks on lfw-dev photos checked by eye (the lists below: only names, the images stay in the shared
folder). Eye labels: closed = no iris visible between the lids; open includes narrow and squinting eyes.
Mouth labels: open = the lips apart over a dark mouth (speech, surprise); closed = lips together; smiles
showing teeth were left out."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from matcher import FaceEngine
from matcher.errors import ModelError
from matcher.models import DEFAULT_MANIFEST
from matcher.quality import FaceGuide, QualityLimits, assess_live, eye_openness, mouth_opening
from matcher.types import Face

EYES_CLOSED = (
    "John_Ashcroft_0006",
    "Alejandro_Toledo_0031",
    "Kaye_Young_0001",
    "Kim_Hong-up_0001",
    "Florencia_Kirchner_0001",
    "Diego_Armando_Maradona_0001",
    "Dominik_Garcia-Lorido_0001",
    "Ed_Smart_0002",
    "Maureen_Fanning_0002",
    "Marc_Gold_0001",
    "Arnold_Schwarzenegger_0037",
    "Atal_Bihari_Vajpayee_0020",
    "George_Pataki_0004",
    "Jay_Garner_0006",
    "Milo_Djukanovic_0001",
    "Amber_Frey_0001",
    "Michelle_Branch_0001",
    "Gonzalo_Sanchez_de_Lozada_0009",
    "John_Snow_0007",
    "Tom_Hanusik_0001",
    "Kim_Hong-up_0001",
)
EYES_OPEN = (
    "Eduardo_Duhalde_0003",
    "Colin_Powell_0234",
    "Art_Howe_0004",
    "John_Howard_0014",
    "Hugo_Chavez_0069",
    "Kent_Rominger_0001",
    "Atal_Bihari_Vajpayee_0004",
    "Frank_Griswold_0001",
    "George_Galloway_0002",
    "Muhammad_Saeed_al-Sahhaf_0002",
    "John_Howard_0012",
    "Li_Peng_0008",
    "Tony_Blair_0064",
    "John_Rigas_0001",
    "Zarai_Toledo_0001",
    "Joey_Harrington_0001",
    "Junichiro_Koizumi_0009",
    "Masatoshi_Koshiba_0001",
    "Norah_Jones_0012",
    "Bob_Hope_0005",
    "Joe_Dumars_0001",
    "Hans_Corell_0001",
    "Bob_Geldof_0002",
    "Caroline_Kennedy_0003",
    "Lee_Hoi-chang_0002",
    "Jean-David_Levitte_0007",
    "Arthur_Martinez_0001",
    "John_Ruiz_0001",
    "George_W_Bush_0156",
    "Andy_Roddick_0008",
    "Lisa_Gottsegen_0001",
    "Luiz_Inacio_Lula_da_Silva_0007",
    "Halle_Berry_0004",
    "Richard_Lennon_0001",
    "Peter_Lundgren_0001",
    "Mark_Hurlbert_0004",
    "Patrick_Ewing_0002",
    "Junko_Tabei_0001",
    "George_W_Bush_0210",
    "Joaquim_Levy_0001",
    "Tom_Daschle_0007",
)
MOUTH_OPEN = (
    "James_Blake_0013",
    "Nathan_Doudney_0001",
    "Juan_Carlos_Ferrero_0008",
    "Tommy_Robredo_0003",
    "Cindy_Zagorski_0001",
    "George_W_Bush_0492",
    "Ludivine_Sagnier_0001",
    "Tyler_Grillo_0001",
    "Diana_Ross_0001",
    "Nathan_Lane_0001",
    "Dan_Monson_0001",
    "Paul_Gascoigne_0002",
    "Marcus_Gronholm_0002",
    "Lon_Kruger_0002",
    "Hillary_Clinton_0010",
    "Ivan_Shvedoff_0001",
    "Michael_Hoffa_0001",
    "Tony_Blair_0003",
    "Kathleen_Kennedy_Townsend_0001",
    "Oprah_Winfrey_0001",
    "George_W_Bush_0486",
    "Audrey_Sauret_0001",
    "Laura_Bush_0028",
    "Tom_Coughlin_0001",
    "George_W_Bush_0063",
    "Jens_Lehmann_0001",
    "Jean_Chretien_0006",
    "Norah_Jones_0012",
    "Hans_Corell_0001",
    "Caroline_Kennedy_0003",
    "Mark_Hurlbert_0004",
)
MOUTH_CLOSED = (
    "Michael_Schumacher_0012",
    "George_W_Bush_0392",
    "Naji_Sabri_0002",
    "Alexa_Loren_0001",
    "Matthew_Ouimet_0001",
    "Joaquin_Sanchez_0001",
    "Faisal_Iqbal_0001",
    "Lenny_Wilkens_0003",
    "Gloria_Macapagal_Arroyo_0040",
    "Joe_Dumars_0001",
    "Bob_Geldof_0002",
    "Lee_Hoi-chang_0002",
    "George_W_Bush_0156",
    "Andy_Roddick_0008",
    "Lisa_Gottsegen_0001",
    "Kim_Hong-up_0001",
    "Richard_Lennon_0001",
    "Patrick_Ewing_0002",
    "Junko_Tabei_0001",
)

FRAME = (480, 640)  # the demo camera's frames, height x width


@pytest.fixture(scope="module")
def landmark_engine() -> FaceEngine:
    return FaceEngine.load(threads=1, landmarks=True)


def _lfw(lfw_dir: Path, name: str) -> np.ndarray:
    person = name.rsplit("_", 1)[0]
    image = cv2.imread(str(lfw_dir / "images" / person / f"{name}.jpg"))
    assert image is not None, name
    return image


def _measures(engine: FaceEngine, image: np.ndarray) -> tuple[float, float]:
    face = engine.select_face(engine.detect(image), image.shape)
    points = engine.landmarks(image, face)
    return eye_openness(points), mouth_opening(points)


def test_closed_eyes_and_open_mouths_on_hand_checked_lfw_faces(landmark_engine, lfw_dir: Path) -> None:
    limits = QualityLimits.for_live_capture()
    eyes = {name: _measures(landmark_engine, _lfw(lfw_dir, name))[0] for name in EYES_CLOSED + EYES_OPEN}
    mouths = {name: _measures(landmark_engine, _lfw(lfw_dir, name))[1] for name in MOUTH_OPEN + MOUTH_CLOSED}
    caught = [n for n in EYES_CLOSED if eyes[n] < limits.min_eye_openness]
    wrongly = [n for n in EYES_OPEN if eyes[n] < limits.min_eye_openness]
    assert not wrongly  # a narrow open eye is never taken for a closed one
    assert len(caught) >= 15, f"{len(caught)} of {len(EYES_CLOSED)} closed eyes caught"
    assert max(eyes[n] for n in EYES_CLOSED) < min(eyes[n] for n in EYES_OPEN)  # the measure separates them
    assert all(mouths[n] > limits.max_mouth_opening for n in MOUTH_OPEN)
    assert all(mouths[n] <= limits.max_mouth_opening for n in MOUTH_CLOSED)


def test_assess_live_turns_them_into_coaching_codes(landmark_engine, lfw_dir: Path) -> None:
    def codes(name: str) -> list[str]:
        image = _lfw(lfw_dir, name)
        face = landmark_engine.select_face(landmark_engine.detect(image), image.shape)
        return assess_live(image, face, landmarks=landmark_engine.landmarks).reasons

    assert codes("Kim_Hong-up_0001") == ["EYES_CLOSED"]
    assert codes("Nathan_Doudney_0001") == ["MOUTH_OPEN"]
    assert codes("Kent_Rominger_0001") == []


def _placed(image: np.ndarray, box: tuple[float, ...], *, height: float, dx: float, dy: float) -> np.ndarray:
    """``image`` in a camera-sized frame, its face box ``height`` of the frame high, the box's centre
    ``dx``, ``dy`` (fractions of the frame height) off the frame's centre."""
    x1, y1, x2, y2 = box
    scale = height * FRAME[0] / (y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    m = np.float32(
        [
            [scale, 0, FRAME[1] / 2 + dx * FRAME[0] - scale * cx],
            [0, scale, FRAME[0] / 2 + dy * FRAME[0] - scale * cy],
        ]
    )
    return cv2.warpAffine(image, m, (FRAME[1], FRAME[0]), borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize(
    ("height", "dx", "dy", "expected"),
    [
        (0.45, 0.0, 0.0, []),
        (0.45, 0.2, 0.0, ["MOVE_RIGHT"]),  # the face on the picture's right is on the traveller's left
        (0.45, -0.2, 0.0, ["MOVE_LEFT"]),
        (0.45, 0.0, -0.25, ["MOVE_DOWN"]),
        (0.45, 0.0, 0.25, ["MOVE_UP"]),
        (0.7, 0.0, 0.0, ["TOO_CLOSE"]),
        (0.7, 0.2, 0.0, ["TOO_CLOSE", "MOVE_RIGHT"]),  # one message at a time: the first is the distance
    ],
)
def test_the_face_guide_on_shifted_and_scaled_real_faces(
    engine, lfw_dir: Path, height: float, dx: float, dy: float, expected: list[str]
) -> None:
    portrait = _lfw(lfw_dir, "Kent_Rominger_0001")
    box = engine.select_face(engine.detect(portrait), portrait.shape).box
    frame = _placed(portrait, box, height=height, dx=dx, dy=dy)
    face = engine.select_face(engine.detect(frame), frame.shape)
    report = assess_live(frame, face, guide=FaceGuide())
    assert report.reasons == expected, report.as_dict()


def test_the_landmarks_run_only_once_everything_else_passed(engine, lfw_dir: Path) -> None:
    portrait = _lfw(lfw_dir, "Kent_Rominger_0001")
    face = engine.select_face(engine.detect(portrait), portrait.shape)
    calls = []

    def landmarks(image: np.ndarray, f: Face) -> np.ndarray:
        calls.append(f)
        return np.zeros((106, 2), np.float32)  # every point on one spot: eyes shut, mouth shut

    off = FaceGuide(centre_x=0.8)  # the face, in the middle, is on the picture's left of the guide
    assert assess_live(portrait, face, guide=off, landmarks=landmarks).reasons == ["MOVE_LEFT"]
    assert calls == []
    assert assess_live(portrait, face, guide=FaceGuide(), landmarks=landmarks).reasons == ["EYES_CLOSED"]
    assert len(calls) == 1


def test_the_landmark_model_is_verified_against_the_manifest(tmp_path: Path) -> None:
    raw = json.loads(DEFAULT_MANIFEST.read_text())
    raw["landmark_models"]["insightface_2d106"]["sha256"] = "0" * 64
    altered = tmp_path / "manifest.json"
    altered.write_text(json.dumps(raw))
    with pytest.raises(ModelError, match=r"2d106det.onnx.*does not match the manifest"):
        FaceEngine.load(altered, landmarks=True)
    assert not FaceEngine.load(altered).has_landmarks  # not asked for: not loaded, not checked


def test_landmark_cost_per_face(landmark_engine, lfw_dir: Path) -> None:
    """Printed, not asserted (a benchmark): the 106-point model's time per face on one thread."""
    image = _lfw(lfw_dir, "Kent_Rominger_0001")
    face = landmark_engine.select_face(landmark_engine.detect(image), image.shape)
    times = []
    for _ in range(30):
        t0 = time.perf_counter()
        landmark_engine.landmarks(image, face)
        times.append((time.perf_counter() - t0) * 1000)
    print(f"landmarks: p50 {np.percentile(times, 50):.1f} ms, p95 {np.percentile(times, 95):.1f} ms per face")
