"""``kiosk camera list``: the V4L2 cameras of this machine, their identity, and whether the gate would trust
each (``kiosk.devices.camera_identity``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import numpy as np

from kiosk.devices.camera import CameraExhausted, VideoFileCamera
from kiosk.devices.camera_identity import list_cameras
from kiosk.devices.frame_integrity import stream_report


@click.group("camera")
def camera_group() -> None:
    """The cameras the kernel shows, by identity."""


@camera_group.command("list")
@click.option("--sysfs", type=click.Path(path_type=Path), default=Path("/sys"), show_default=True)
@click.option("--dev", type=click.Path(path_type=Path), default=Path("/dev"), show_default=True)
def list_command(sysfs: Path, dev: Path) -> None:
    """Each video node: name, USB vendor:product and serial, driver, port, udev links, trusted or why not."""
    cameras = list_cameras(sysfs, dev)
    if not cameras:
        click.echo(f"no video devices ({sysfs}/class/video4linux is empty or missing)")
        return
    for cam in cameras:
        verdict = f"refused: {cam.refusal}" if cam.refusal else "trusted"
        click.echo(f"{cam.describe()}: {verdict}")
        for link in cam.links:
            click.echo(f"    {link}")


@camera_group.command("check-stream")
@click.argument("video", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--window", default=40, show_default=True, help="frames per transaction")
def check_stream_command(video: Path, window: int) -> None:
    """Run the frame-integrity monitor over a recorded clip (one transaction per window): alarms per reason,
    the live noise floor (mean grey difference of consecutive frames) against the frozen threshold, cost."""
    camera = VideoFileCamera(video)
    try:
        report = stream_report(_frames(camera), window=window)
    finally:
        camera.close()
    diff = report["difference"]
    click.echo(f"{report['frames']} frames in {report['windows']} windows of {window}")
    click.echo(f"alarms: {report['alarms'] or 'none'}")
    click.echo(
        f"consecutive-frame difference (grey levels, {diff['pairs']} pairs): min {diff['min']}, "
        f"5th percentile {diff['p5']}, median {diff['median']}; frozen at or below {diff['threshold']}"
    )
    cost = report["ms_per_frame"]
    click.echo(
        f"cost: {cost['median']} ms per frame (median, p95 {cost['p95']}), "
        f"{report['ms_per_assessment']} ms per assessment"
    )


def _frames(camera: VideoFileCamera) -> Iterator[np.ndarray | None]:
    while True:
        try:
            yield camera.read()
        except CameraExhausted:
            return
