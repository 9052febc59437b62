"""``kiosk camera list``: the V4L2 cameras of this machine, their identity, and whether the gate would trust
each (``kiosk.devices.camera_identity``)."""

from __future__ import annotations

from pathlib import Path

import click

from kiosk.devices.camera_identity import list_cameras


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
