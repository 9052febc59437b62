"""The camera path through the real gate (engine with the PAD models, document reader, chip PKI, decision
log): a video replayed at the gate, a file looping within one capture, and a camera that is no longer the
trusted one each refer the traveller with the camera's reason code in the decision."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from sysfs_tree import loopback_camera, usb_camera

from kiosk.devices.camera import FrameListCamera, VideoFileCamera
from kiosk.devices.camera_identity import CameraSelection, resolve_camera
from kiosk.devices.frame_integrity import StreamHistory
from kiosk.gate.assemble import Gate, open_gate
from kiosk.gate.verify import run_transaction
from kiosk.lab.demo import camera_frames, public_domain_faces
from kiosk.liveness import LivenessConfig
from kiosk.store.evidence import unpack_frames

GENUINE = "genuine traveller (Collins)"


@pytest.fixture
def gate(demo_setup, live_engine, clock, tmp_path: Path):
    policy = dataclasses.replace(demo_setup.config.policy, liveness_required=True, max_capture_frames=10)
    config = dataclasses.replace(
        demo_setup.config, policy=policy, liveness=LivenessConfig(), log_path=tmp_path / "log.sqlite"
    )
    opened: Gate = open_gate(config, engine=live_engine, clock=clock)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def recording(live_engine, tmp_path_factory) -> Path:
    """A clip of the genuine traveller as a camera would deliver it, saved as MJPEG (as UVC cameras send)."""
    image = public_domain_faces()["collins"]
    box = live_engine.select_face(live_engine.detect(image), image.shape).box
    path = tmp_path_factory.mktemp("clip") / "collins.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (640, 480))
    for frame in camera_frames(image, box, np.random.default_rng(11), 10, usable=True):
        writer.write(frame)
    writer.release()
    return path


def test_a_video_replayed_at_the_gate_refers_with_camera_replay(gate, demo_setup, recording) -> None:
    first = run_transaction(gate.flow, demo_setup.presentations[GENUINE], VideoFileCamera(recording))
    assert first.outcome == "PASS" and first.liveness["signals"]["camera"]["passed"] is True
    assert first.liveness["signals"]["camera"]["device"]["trusted"] is False  # no camera identity
    again = run_transaction(gate.flow, demo_setup.presentations[GENUINE], VideoFileCamera(recording))
    assert again.outcome == "REFER" and again.reason_codes == ("LIVENESS_FAILED", "CAMERA_REPLAY")
    camera = again.liveness["signals"]["camera"]
    assert camera["passed"] is False and camera["replayed_frames"] == camera["frames"] >= 5
    assert again.liveness["signals"]["passive"]["passed"] is True  # the face alone would have passed
    kept = unpack_frames(gate.decision_log.evidence(again.id)["capture_frames"])  # sealed for the officer
    assert len(kept) == again.quality["frames"]


def test_a_file_looping_within_one_capture_is_a_replay(gate, demo_setup, recording, tmp_path: Path) -> None:
    short = tmp_path / "short.avi"
    source, writer = cv2.VideoCapture(str(recording)), None
    for _ in range(3):  # three frames, played in a loop: the face is found, the timestamps run back
        _, frame = source.read()
        writer = writer or cv2.VideoWriter(str(short), cv2.VideoWriter_fourcc(*"MJPG"), 25, (640, 480))
        writer.write(frame)
    writer.release()
    decision = run_transaction(
        gate.flow, demo_setup.presentations[GENUINE], VideoFileCamera(short, loop=True)
    )
    assert "CAMERA_REPLAY" in decision.reason_codes and decision.outcome == "REFER"
    camera = decision.liveness["signals"]["camera"]
    assert camera["timestamps"]["backwards"] >= 1 and camera["looped_frames"] >= 2


def test_a_camera_no_longer_trusted_refers_with_camera_untrusted(
    gate, demo_setup, recording, tmp_path: Path
) -> None:
    usb_camera(tmp_path)
    link = "/dev/v4l/by-id/usb-Logitech_Logitech_BRIO_8F3A21C0-video-index0"
    selection = CameraSelection(device=link)
    identity = resolve_camera(selection, tmp_path / "sys", tmp_path / "dev")
    gate.flow.stream_history = StreamHistory(
        device={"trusted": True, **identity.record()},
        verify=lambda: resolve_camera(selection, tmp_path / "sys", tmp_path / "dev"),
    )
    trusted = run_transaction(gate.flow, demo_setup.presentations[GENUINE], VideoFileCamera(recording))
    assert trusted.liveness["signals"]["camera"]["device"]["usb_id"] == "046d:085e"
    # between travellers a loopback device takes the camera's place behind its by-id link
    (tmp_path / "dev" / "v4l" / "by-id" / link.rsplit("/", 1)[1]).unlink()
    loopback_camera(tmp_path, node="video10", label="Logitech BRIO")
    (tmp_path / "dev" / "v4l" / "by-id" / link.rsplit("/", 1)[1]).symlink_to("../../video10")
    frames = camera_frames(
        public_domain_faces()["collins"], (180, 60, 330, 250), np.random.default_rng(12), 8, usable=True
    )
    swapped = run_transaction(gate.flow, demo_setup.presentations[GENUINE], FrameListCamera(frames))
    assert swapped.outcome == "REFER" and "CAMERA_UNTRUSTED" in swapped.reason_codes
    assert "virtual camera" in swapped.liveness["signals"]["camera"]["device_problem"]


def test_the_driver_hands_the_cameras_timestamps_to_the_flow(
    gate, demo_setup, recording, tmp_path: Path
) -> None:
    """Through the gate's driver, as ``kiosk run`` and the traveller UI feed it: a camera whose capture times
    stop (a stalled injected stream) refers with CAMERA_FROZEN."""
    import shutil

    from kiosk.devices.document_reader import FolderDocumentReader
    from kiosk.gate.driver import GateDriver
    from kiosk.gate.events import State

    source = demo_setup.presentations[GENUINE].source
    assert source is not None
    shutil.copytree(source, tmp_path / "reader" / source.name)
    driver = GateDriver(gate.flow, FolderDocumentReader(tmp_path / "reader"))
    camera = VideoFileCamera(recording)
    assert driver.step() and gate.flow.state is State.FACE_CAPTURE
    while gate.flow.state is State.FACE_CAPTURE:
        driver.offer(camera.read(), 1000.0)  # the same capture time for every frame
        driver.step()
    decision = gate.flow.last_decision
    assert decision is not None and "CAMERA_FROZEN" in decision.reason_codes
    assert decision.liveness["signals"]["camera"]["timestamps"]["stalled"] >= 3
