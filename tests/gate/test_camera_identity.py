"""The camera the gate trusts, resolved by identity from sysfs trees laid out as real kernels expose them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sysfs_tree import loopback_camera, platform_camera, usb_camera

from kiosk.devices.camera_identity import CameraSelection, CameraUntrusted, list_cameras, resolve_camera

BRIO_ID = "/dev/v4l/by-id/usb-Logitech_Logitech_BRIO_8F3A21C0-video-index0"


def _sys(root: Path) -> tuple[Path, Path]:
    return root / "sys", root / "dev"


def test_a_uvc_camera_is_identified_from_sysfs(tmp_path: Path) -> None:
    usb_camera(tmp_path)
    cams = list_cameras(*_sys(tmp_path))
    assert [c.node for c in cams] == ["video0", "video1"]
    capture = cams[0]
    assert (capture.usb_id, capture.serial, capture.driver, capture.bus) == (
        "046d:085e",
        "8F3A21C0",
        "uvcvideo",
        "usb",
    )
    assert capture.port == "1-2:1.0" and capture.index == 0 and not capture.virtual
    assert BRIO_ID in capture.links
    assert "/dev/v4l/by-path/pci-0000:00:14.0-usb-0:2:1.0-video-index0" in capture.links
    assert cams[1].index == 1  # UVC's metadata node


def test_configured_link_and_usb_id_resolve_the_camera(tmp_path: Path) -> None:
    usb_camera(tmp_path, port="1-3", nodes=("video2", "video3"), vendor="0c45", product="6366", serial="")
    usb_camera(tmp_path)  # the Logitech on video0/video1, probed after
    assert resolve_camera(CameraSelection(device=BRIO_ID), *_sys(tmp_path)).node == "video0"
    by_path = "/dev/v4l/by-path/pci-0000:00:14.0-usb-0:3:1.0-video-index0"
    assert resolve_camera(CameraSelection(device=by_path), *_sys(tmp_path)).usb_id == "0c45:6366"
    assert resolve_camera(CameraSelection(usb_id="046d:085e"), *_sys(tmp_path)).node == "video0"
    assert resolve_camera(CameraSelection(usb_id="046D:085E:8F3A21C0"), *_sys(tmp_path)).serial == "8F3A21C0"
    with pytest.raises(CameraUntrusted, match="no camera with usb_id 046d:085e:OTHER"):
        resolve_camera(CameraSelection(usb_id="046d:085e:OTHER"), *_sys(tmp_path))
    with pytest.raises(CameraUntrusted, match="no camera with usb_id 0c45:6366 at"):  # link and id disagree
        resolve_camera(CameraSelection(device=BRIO_ID, usb_id="0c45:6366"), *_sys(tmp_path))


def test_two_identical_cameras_without_serial_are_ambiguous(tmp_path: Path) -> None:
    usb_camera(tmp_path, port="1-2", nodes=("video0", "video1"), serial="")
    usb_camera(tmp_path, port="1-4", nodes=("video2", "video3"), serial="")
    with pytest.raises(CameraUntrusted, match="names 2 cameras"):
        resolve_camera(CameraSelection(usb_id="046d:085e"), *_sys(tmp_path))


def test_an_unplugged_camera_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sys" / "class" / "video4linux").mkdir(parents=True)
    with pytest.raises(CameraUntrusted, match="not present"):
        resolve_camera(CameraSelection(device=BRIO_ID), *_sys(tmp_path))


def test_a_bare_video_node_or_an_index_is_not_an_identity(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    usb_camera(tmp_path)
    with pytest.raises(CameraUntrusted, match="must be a /dev/v4l/by-id"):
        resolve_camera(CameraSelection(device="/dev/video0"), *_sys(tmp_path))
    with pytest.raises(CameraUntrusted, match="index only"):
        resolve_camera(CameraSelection(index=0), *_sys(tmp_path))
    with caplog.at_level(logging.WARNING):
        assert resolve_camera(CameraSelection(index=0, allow_index=True), *_sys(tmp_path)).node == "video0"
    assert "development only" in caplog.text


@pytest.mark.parametrize("label", ["", "OBS Virtual Camera"])
def test_v4l2loopback_is_refused_whatever_selects_it(tmp_path: Path, label: str) -> None:
    usb_camera(tmp_path)
    loopback_camera(tmp_path, node="video10", label=label)
    loop = list_cameras(*_sys(tmp_path))[-1]
    assert loop.node == "video10" and loop.driver == "" and loop.bus == ""
    assert loop.virtual.startswith("no physical bus parent")
    assert (loop.name == "Dummy video device (0x0000)") if not label else loop.name == label
    with pytest.raises(CameraUntrusted, match="virtual camera: no physical bus parent"):
        resolve_camera(CameraSelection(index=10, allow_index=True), *_sys(tmp_path))
    # udev gives the loopback node no by-id link; a hand-made one pointing at it is refused all the same
    link = tmp_path / "dev" / "v4l" / "by-id" / "usb-Fake_Cam-video-index0"
    link.symlink_to("../../video10")
    with pytest.raises(CameraUntrusted, match="virtual camera"):
        resolve_camera(CameraSelection(device="/dev/v4l/by-id/usb-Fake_Cam-video-index0"), *_sys(tmp_path))


def test_virtual_drivers_and_names_on_a_bus_are_refused(tmp_path: Path) -> None:
    platform_camera(tmp_path, node="video3", device="vivid.0", driver="vivid", name="vivid-000-vid-cap")
    platform_camera(tmp_path, node="video4", device="fe801000.csi", driver="unicam", name="unicam-image")
    usb_camera(tmp_path, port="1-5", nodes=("video6",), model="AkVCam Video Device", driver="akvcam")
    by_node = {c.node: c for c in list_cameras(*_sys(tmp_path))}
    assert by_node["video3"].virtual == "driver vivid is a virtual video driver"
    assert by_node["video4"].virtual == "" and by_node["video4"].bus == "platform"  # a SoC camera is physical
    assert by_node["video6"].virtual == "driver akvcam is a virtual video driver"
    with pytest.raises(CameraUntrusted, match="vivid"):
        resolve_camera(CameraSelection(index=3, allow_index=True), *_sys(tmp_path))


def test_no_video4linux_means_no_camera(tmp_path: Path) -> None:
    assert list_cameras(*_sys(tmp_path)) == []
    with pytest.raises(CameraUntrusted, match="no video device /dev/video0"):
        resolve_camera(CameraSelection(allow_index=True), *_sys(tmp_path))


def test_a_malformed_usb_id_is_refused() -> None:
    with pytest.raises(CameraUntrusted, match="vendor:product"):
        CameraSelection(usb_id="logitech")


def test_kiosk_camera_list_prints_identity_and_trust(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kiosk.cli import cli

    usb_camera(tmp_path)
    loopback_camera(tmp_path, label="OBS Virtual Camera")
    sysfs, dev = _sys(tmp_path)
    result = CliRunner().invoke(cli, ["camera", "list", "--sysfs", str(sysfs), "--dev", str(dev)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "/dev/video0 'Logitech BRIO' (usb 046d:085e serial 8F3A21C0, driver uvcvideo, 1-2:1.0): trusted"
    )
    assert f"    {BRIO_ID}" in lines
    assert any(line.startswith("/dev/video1 ") and "not a capture node (index 1" in line for line in lines)
    assert lines[-1] == (
        "/dev/video10 'OBS Virtual Camera': refused: virtual camera: no physical bus parent "
        "(a software video device)"
    )
    empty = CliRunner().invoke(cli, ["camera", "list", "--sysfs", str(tmp_path / "none")])
    assert empty.exit_code == 0 and "no video devices" in empty.output


def test_a_camera_swapped_for_a_virtual_one_is_untrusted_at_the_next_transaction(tmp_path: Path) -> None:
    import shutil

    import numpy as np

    from kiosk.devices.frame_integrity import FrameIntegrity, StreamHistory

    usb_camera(tmp_path)
    selection = CameraSelection(device=BRIO_ID)
    trusted = resolve_camera(selection, *_sys(tmp_path))
    history = StreamHistory(
        device=trusted.record(), verify=lambda: resolve_camera(selection, *_sys(tmp_path))
    )
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(4)]
    first = FrameIntegrity(history)
    for frame in frames[:2]:
        first.observe(frame)
    signal = first.assess()
    assert signal["passed"] is True and signal["device"]["usb_id"] == "046d:085e"
    # the camera is unplugged, a loopback device takes the node and the by-id link is pointed at it
    shutil.rmtree(tmp_path / "sys" / "devices" / "pci0000:00")
    for node in ("video0", "video1"):
        (tmp_path / "sys" / "class" / "video4linux" / node).unlink()
    loopback_camera(tmp_path, node="video0", label="Logitech BRIO")
    second = FrameIntegrity(history)
    for frame in frames[2:]:
        second.observe(frame)
    signal = second.assess()
    assert signal["reasons"] == ["CAMERA_UNTRUSTED"] and signal["passed"] is False
    assert "virtual camera: no physical bus parent" in signal["device_problem"]


def test_config_check_reports_the_resolved_camera_or_its_refusal(tmp_path: Path) -> None:
    from kiosk.config_check import check_config

    usb_camera(tmp_path)
    loopback_camera(tmp_path, node="video10")
    config = tmp_path / "kiosk.toml"
    config.write_text(f'[devices.camera]\ndevice = "{BRIO_ID}"\n')
    report = check_config(config, sysfs=tmp_path / "sys", dev=tmp_path / "dev")
    identity = [(value, origin) for key, value, origin in report.values if key == "devices.camera.identity"]
    assert identity == [
        ("/dev/video0 'Logitech BRIO' (usb 046d:085e serial 8F3A21C0, driver uvcvideo, 1-2:1.0)", "resolved")
    ]
    assert not any("camera" in p for p in report.problems)
    config.write_text("[devices.camera]\nindex = 10\nallow_index = true\n")
    report = check_config(config, sysfs=tmp_path / "sys", dev=tmp_path / "dev")
    assert (
        "/dev/video10 ('Dummy video device (0x0000)') is a virtual camera: no physical bus parent"
        in "\n".join(report.problems)
    )
    config.write_text("[devices.camera]\nindex = 0\n")
    report = check_config(config, sysfs=tmp_path / "sys", dev=tmp_path / "dev")
    assert any("by index only" in p for p in report.problems)


def test_the_gate_opens_no_camera_it_cannot_identify(tmp_path: Path) -> None:
    from kiosk.config import CameraConfig
    from kiosk.devices.camera import camera_record, open_camera, trusted_camera

    with pytest.raises(CameraUntrusted, match="index only"):
        open_camera(CameraConfig())  # the default: index 0, no identity
    usb_camera(tmp_path)
    cfg = CameraConfig(usb_id="046d:085e")
    identity = trusted_camera(cfg, *_sys(tmp_path))
    assert identity is not None and identity.device == "/dev/video0"
    assert camera_record(cfg, identity)["trusted"] is True
    folder = CameraConfig(kind="folder", path=tmp_path)
    assert trusted_camera(folder, *_sys(tmp_path)) is None
    assert camera_record(folder, None) == {
        "trusted": False,
        "source": "folder",
        "note": "development frame source (a file), not a camera",
    }
