"""Real directory trees laid out as Linux kernels expose V4L2 cameras in sysfs, and udev's /dev/v4l links:
relative symlinks from ``class/video4linux`` into ``devices``, the USB interface as the node's ``device``, its
``driver`` and ``subsystem`` links, the USB device's ``idVendor``/``idProduct``/``serial`` files."""

from __future__ import annotations

import os
from pathlib import Path


def _link(link: Path, target: Path) -> None:
    """A relative link; an existing one is replaced (udev: two cameras with one by-id name, the last wins)."""
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    os.symlink(os.path.relpath(target, link.parent), link)


def _files(folder: Path, **values: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for key, value in values.items():
        (folder / key).write_text(value + "\n")


def _node(root: Path, node_dir: Path, node: str, name: str, index: int) -> None:
    sysfs = root / "sys"
    _files(node_dir, name=name, index=str(index), dev=f"81:{node.removeprefix('video')}")
    _link(node_dir / "subsystem", sysfs / "class" / "video4linux")
    _link(sysfs / "class" / "video4linux" / node, node_dir)


def usb_camera(
    root: Path,
    *,
    port: str = "1-2",
    nodes: tuple[str, ...] = ("video0", "video1"),
    vendor: str = "046d",
    product: str = "085e",
    serial: str = "8F3A21C0",
    manufacturer: str = "Logitech",
    model: str = "Logitech BRIO",
    driver: str = "uvcvideo",
) -> Path:
    """A UVC camera on USB ``port``: a capture node (index 0) and its metadata node (index 1), with udev's
    by-id and by-path links. Returns the USB interface directory."""
    sysfs = root / "sys"
    usb_dev = sysfs / "devices" / "pci0000:00" / "0000:00:14.0" / "usb1" / port
    iface = usb_dev / f"{port}:1.0"
    _files(usb_dev, idVendor=vendor, idProduct=product, manufacturer=manufacturer, product=model, busnum="1")
    if serial:
        _files(usb_dev, serial=serial)
    _files(
        iface,
        bInterfaceClass="0e",
        bInterfaceNumber="00",
        modalias=f"usb:v{vendor.upper()}p{product.upper()}d0317dcEFdsc02dp01ic0Eisc01ip00in00",
    )
    _link(usb_dev / "subsystem", sysfs / "bus" / "usb")
    _link(iface / "subsystem", sysfs / "bus" / "usb")
    (sysfs / "bus" / "usb" / "drivers" / driver).mkdir(parents=True, exist_ok=True)
    _link(iface / "driver", sysfs / "bus" / "usb" / "drivers" / driver)
    ident = f"{manufacturer}_{model.replace(' ', '_')}" + (f"_{serial}" if serial else "")
    usb_path = "pci-0000:00:14.0-usb-0:" + port.split("-", 1)[1].replace(".", ":") + ":1.0"
    for index, node in enumerate(nodes):
        node_dir = iface / "video4linux" / node
        _node(root, node_dir, node, model, index)
        _link(node_dir / "device", iface)
        _link(root / "dev" / "v4l" / "by-id" / f"usb-{ident}-video-index{index}", root / "dev" / node)
        _link(root / "dev" / "v4l" / "by-path" / f"{usb_path}-video-index{index}", root / "dev" / node)
    return iface


def loopback_camera(root: Path, *, node: str = "video10", label: str = "") -> Path:
    """A v4l2loopback node: no parent device (under devices/virtual), the module's own attributes, and the
    name it gives without ``card_label``."""
    node_dir = root / "sys" / "devices" / "virtual" / "video4linux" / node
    name = label or f"Dummy video device (0x{int(node.removeprefix('video')) - 10:04X})"
    _node(root, node_dir, node, name, 0)
    _files(node_dir, max_openers="10", buffers="2", format="")
    return node_dir


def platform_camera(root: Path, *, node: str, device: str, driver: str, name: str) -> Path:
    """A camera on the platform bus (a SoC's CSI receiver, or the kernel's vivid test driver)."""
    sysfs = root / "sys"
    parent = sysfs / "devices" / "platform" / device
    parent.mkdir(parents=True, exist_ok=True)
    _link(parent / "subsystem", sysfs / "bus" / "platform")
    (sysfs / "bus" / "platform" / "drivers" / driver).mkdir(parents=True, exist_ok=True)
    _link(parent / "driver", sysfs / "bus" / "platform" / "drivers" / driver)
    node_dir = parent / "video4linux" / node
    _node(root, node_dir, node, name, 0)
    _link(node_dir / "device", parent)
    return node_dir
