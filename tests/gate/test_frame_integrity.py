"""The camera stream's integrity on real photographs (LFW) moved and noised as a live camera would deliver
them, and the faults an injected stream shows: a frozen frame, a looped clip, a replay of an earlier
transaction (exact, and re-encoded with fresh noise), timestamps that stop or run backwards."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.devices.frame_integrity import (
    FrameIntegrity,
    IntegrityConfig,
    StreamHistory,
    hash_distance,
    perceptual_hash,
)

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def photos(lfw_dir: Path) -> list[np.ndarray]:
    people = sorted((lfw_dir / "images").iterdir())[:40:8]
    return [cv2.imread(str(next(iter(sorted(p.glob("*.jpg")))))) for p in people]


def live_clip(
    photo: np.ndarray, rng: np.random.Generator, n: int = 30, *, still: bool = False
) -> list[np.ndarray]:
    """``n`` 640x480 frames of one real photograph: a traveller stepping closer (zoom) and swaying (pan),
    or standing ``still``, each frame with fresh sensor noise (sigma 1.5 grey levels)."""
    start, sway = rng.uniform(1.6, 1.9), rng.uniform(15, 40)
    frames = []
    for t in range(n):
        scale = start if still else start * (1 + 0.012 * t)
        dx = 0.0 if still else sway * np.sin(t / 4)
        m = cv2.getRotationMatrix2D((125, 125), 0, scale)
        m[0, 2] += 320 - 125 + dx
        m[1, 2] += 240 - 125
        frame = cv2.warpAffine(photo, m, (640, 480), borderMode=cv2.BORDER_REFLECT).astype(np.float32)
        frames.append(np.clip(frame + rng.normal(0, 1.5, frame.shape), 0, 255).astype(np.uint8))
    return frames


def run(monitor: FrameIntegrity, frames: list[np.ndarray], times: list[float] | None = None) -> dict:
    for i, frame in enumerate(frames):
        monitor.observe(frame, None if times is None else times[i])
    return monitor.assess()


def test_live_streams_pass_transaction_after_transaction(photos) -> None:
    history = StreamHistory()
    rng = np.random.default_rng(0)
    for photo in [*photos, *photos]:  # each traveller comes twice (a retry after a referral)
        for still in (False, True):
            signal = run(FrameIntegrity(history), live_clip(photo, rng, still=still))
            assert signal["passed"] is True and signal["reasons"] == [], signal
            assert signal["score"] > 1.0  # fresh noise: far above the frozen threshold


def test_a_frozen_frame_is_flagged(photos) -> None:
    clip = live_clip(photos[0], np.random.default_rng(1), 10)
    signal = run(FrameIntegrity(), clip[:5] + [clip[5]] * 4 + clip[6:])
    assert signal["reasons"] == ["CAMERA_FROZEN"] and signal["longest_frozen_run"] == 3
    assert signal["score"] == 0.0 and signal["passed"] is False
    # a still image re-sent with a few pixels changed each time is frozen all the same
    still = []
    for i in range(6):
        frame = clip[0].copy()
        frame[i, :10] ^= 1
        still.append(frame)
    assert "CAMERA_FROZEN" in run(FrameIntegrity(), still)["reasons"]
    # one resent buffer (a driver hiccup) is not an alarm
    assert run(FrameIntegrity(), [*clip[:5], clip[4], *clip[5:]])["reasons"] == []


def test_a_looped_clip_is_a_replay(photos) -> None:
    clip = live_clip(photos[1], np.random.default_rng(2), 12)
    signal = run(FrameIntegrity(), clip + clip)
    assert signal["reasons"] == ["CAMERA_REPLAY"] and signal["looped_frames"] == 12
    # the loop re-encoded with fresh noise: no byte repeats, the perceptual hashes follow the first pass
    rng = np.random.default_rng(3)
    noisy = [_reencode(f, rng) for f in clip]
    signal = run(FrameIntegrity(), clip + noisy)
    assert signal["looped_frames"] == 0 and signal["perceptual_runs"]["own"] > 0
    assert signal["reasons"] == ["CAMERA_REPLAY"]


def test_a_replay_of_an_earlier_transaction_is_flagged(photos) -> None:
    history = StreamHistory()
    clip = live_clip(photos[2], np.random.default_rng(4))
    assert run(FrameIntegrity(history), clip)["reasons"] == []
    for other in photos[3:]:  # other travellers between
        run(FrameIntegrity(history), live_clip(other, np.random.default_rng(5)))
    exact = run(FrameIntegrity(history), clip)
    assert exact["reasons"] == ["CAMERA_REPLAY"] and exact["replayed_frames"] == len(clip)
    rng = np.random.default_rng(6)
    reencoded = run(FrameIntegrity(history), [_reencode(f, rng) for f in clip[5:]])
    assert reencoded["replayed_frames"] == 0 and reencoded["perceptual_runs"]["earlier"] > 0
    assert reencoded["reasons"] == ["CAMERA_REPLAY"]
    # a gate that remembers no transactions cannot see it
    forgetful = StreamHistory(0)
    run(FrameIntegrity(forgetful), clip)
    assert run(FrameIntegrity(forgetful), clip)["reasons"] == []


def test_device_timestamps_must_advance(photos) -> None:
    clip = live_clip(photos[0], np.random.default_rng(7), 8)
    steady = [33.3 * i for i in range(8)]
    assert run(FrameIntegrity(), clip, steady)["reasons"] == []
    stopped = run(FrameIntegrity(), clip, steady[:4] + [steady[3]] * 4)
    assert stopped["reasons"] == ["CAMERA_FROZEN"] and stopped["timestamps"]["stalled"] == 4
    restarted = run(FrameIntegrity(), clip, steady[:5] + steady[:3])
    assert restarted["reasons"] == ["CAMERA_REPLAY"] and restarted["timestamps"]["backwards"] == 1


def test_undecodable_frames_are_skipped_and_one_frame_is_not_assessed(photos) -> None:
    monitor = FrameIntegrity()
    signal = run(monitor, [None, np.zeros((0,), np.uint8), photos[0]])  # type: ignore[list-item]
    assert signal["frames"] == 1 and signal["passed"] is None and signal["reasons"] == []


def test_blank_frames_are_not_taken_for_a_frozen_or_replayed_stream(photos) -> None:
    """A covered lens or a driver's black start frames are identical by nature, at every gate."""
    history = StreamHistory()
    clip = live_clip(photos[0], np.random.default_rng(11), 6)
    black = [np.zeros((480, 640, 3), np.uint8)] * 5
    for _ in range(2):
        signal = run(FrameIntegrity(history), black + clip[:3])
        clip = clip[3:]
        assert signal["reasons"] == [] and signal["flat_frames"] == 5


def test_unset_device_timestamps_are_no_timestamps(photos) -> None:
    clip = live_clip(photos[0], np.random.default_rng(12), 6)
    assert run(FrameIntegrity(), clip, [0.0] * 6)["timestamps"] == {"stalled": 0, "backwards": 0}


def test_perceptual_hash_survives_reencoding_and_tells_pictures_apart(photos) -> None:
    rng = np.random.default_rng(8)
    grey = [cv2.cvtColor(p, cv2.COLOR_BGR2GRAY) for p in photos]
    hashes = [perceptual_hash(g) for g in grey]
    for g, h in zip(grey, hashes, strict=True):
        noisy = cv2.cvtColor(_reencode(cv2.cvtColor(g, cv2.COLOR_GRAY2BGR), rng), cv2.COLOR_BGR2GRAY)
        assert hash_distance(perceptual_hash(noisy), h) <= IntegrityConfig.hash_distance
    for a, b in itertools.pairwise(hashes):
        assert hash_distance(a, b) > IntegrityConfig.min_spread


def _reencode(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The frame with fresh noise (sigma 2), through JPEG at quality 85: what a replay tool can do."""
    noisy = np.clip(frame.astype(np.float32) + rng.normal(0, 2, frame.shape), 0, 255).astype(np.uint8)
    ok, data = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def test_a_looping_video_file_runs_its_timestamps_back(photos, tmp_path: Path) -> None:
    from kiosk.devices.camera import VideoFileCamera

    clip = live_clip(photos[3], np.random.default_rng(9), 8)
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (640, 480))
    for frame in clip:
        writer.write(frame)
    writer.release()
    camera = VideoFileCamera(path, loop=True)
    monitor = FrameIntegrity()
    times = []
    for _ in range(12):
        monitor.observe(camera.read(), camera.timestamp_ms)
        times.append(camera.timestamp_ms)
    camera.close()
    assert times[:9] == pytest.approx([0, 40, 80, 120, 160, 200, 240, 280, 0])
    signal = monitor.assess()
    assert signal["timestamps"]["backwards"] == 1 and signal["looped_frames"] == 4
    assert signal["reasons"] == ["CAMERA_REPLAY"]


def test_kiosk_camera_check_stream_reports_noise_floor_and_alarms(photos, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kiosk.cli import cli

    clip = live_clip(photos[4], np.random.default_rng(10), 20)
    path = tmp_path / "recorded.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (640, 480))
    for frame in clip + clip[:10]:  # two live windows, then the first half played again
        writer.write(frame)
    writer.release()
    result = CliRunner().invoke(cli, ["camera", "check-stream", str(path), "--window", "10"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "30 frames in 3 windows of 10"
    assert lines[1] == "alarms: {'CAMERA_REPLAY': 1}"
    assert lines[2].startswith("consecutive-frame difference (grey levels, 27 pairs): min ")
    assert float(lines[2].split("min ")[1].split(",")[0]) > 1.0
