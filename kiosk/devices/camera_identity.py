"""Which camera the gate trusts: the configured device, resolved by its identity from what the Linux kernel
exposes in sysfs (and udev's ``/dev/v4l`` links), never by an index alone; virtual cameras are refused.

A V4L2 device node ``videoN`` appears as ``/sys/class/video4linux/videoN``, a link into ``/sys/devices``.
A physical camera hangs below its bus: a UVC webcam is
``/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/video4linux/video0``, its ``device`` link is the USB
interface (``1-2:1.0``, ``driver`` -> ``uvcvideo``, ``modalias`` ``usb:v046Dp085E...``), and the interface's
parent, the USB device ``1-2``, holds ``idVendor``, ``idProduct``, ``serial``, ``manufacturer``, ``product``.
udev adds ``/dev/v4l/by-id/usb-<vendor>_<product>_<serial>-video-index0`` and
``/dev/v4l/by-path/pci-0000:00:14.0-usb-0:2:1.0-video-index0`` links to the node. A virtual camera has no such
parent: v4l2loopback registers its nodes without a parent device (they live under
``/sys/devices/virtual/video4linux/``, with no ``device`` link), names them ``Dummy video device (0x0000)``
unless given a ``card_label`` (OBS uses ``OBS Virtual Camera``) and adds its own ``max_openers`` and
``buffers`` attributes; kernel test drivers (vivid, vimc) sit on the platform bus under their own driver.

What injects frames into such a camera (a replayed video, a deepfake stream) is exactly what the gate must
not trust, so a virtual camera is refused whatever the configuration says. Node numbers (``/dev/video0``,
OpenCV's index) follow probe order and change when devices come and go: an index-only configuration is refused
unless ``allow_index`` is set for development (and then the gate warns at every start)."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.errors import KioskError

log = logging.getLogger("kiosk.devices.camera_identity")

# kernel drivers that make video nodes without a camera sensor behind them
VIRTUAL_DRIVERS = frozenset(
    {
        "v4l2 loopback",
        "v4l2loopback",
        "v4l2loopback_dc",
        "akvcam",
        "vivid",
        "vimc",
        "vim2m",
        "vicodec",
        "vidtv",
    }
)
# names virtual cameras give their nodes (lower case, matched as substrings)
VIRTUAL_NAMES = ("dummy video device", "obs virtual camera", "akvcam", "virtual camera", "loopback")
# attributes only v4l2loopback adds to its nodes
_LOOPBACK_ATTRIBUTES = ("max_openers", "buffers")
_USB_ID = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{4}(:.+)?$")


class CameraUntrusted(KioskError):
    """The configured camera is not there, is not identified, or is a virtual camera."""

    code = "CAMERA_UNTRUSTED"


@dataclass(frozen=True)
class CameraIdentity:
    """One V4L2 node and the facts the kernel gives about the hardware behind it."""

    node: str  # "video0"
    index: int  # sysfs ``index``: 0 is a camera's capture node (UVC adds a metadata node with index 1)
    name: str  # sysfs ``name`` (the V4L2 card name)
    driver: str  # kernel driver of the parent device ("uvcvideo"); "" without a parent
    bus: str  # subsystem of the parent ("usb", "pci", "platform"); "" without a parent
    usb_id: str  # "046d:085e" for a USB camera, else ""
    serial: str  # the USB serial number ("" when the camera has none)
    product: str  # USB manufacturer and product strings
    port: str  # where it is plugged in: the parent device's sysfs name ("1-2:1.0")
    links: tuple[str, ...]  # the /dev/v4l/by-id and by-path links to this node
    virtual: str  # why this is not a physical camera; "" when it is

    @property
    def device(self) -> str:
        return f"/dev/{self.node}"

    @property
    def number(self) -> int:
        """The node number (OpenCV's index)."""
        return int(self.node.removeprefix("video"))

    @property
    def refusal(self) -> str:
        """Why the gate would not take its frames from this node ("" when it would)."""
        if self.virtual:
            return f"virtual camera: {self.virtual}"
        if self.index:
            return f"not a capture node (index {self.index}: a camera's second node, e.g. UVC metadata)"
        return ""

    def describe(self) -> str:
        ident = (
            f"usb {self.usb_id}" + (f" serial {self.serial}" if self.serial else "") if self.usb_id else ""
        )
        facts = ", ".join(f for f in (ident, f"driver {self.driver}" if self.driver else "", self.port) if f)
        return f"{self.device} {self.name!r}" + (f" ({facts})" if facts else "")

    def record(self) -> dict[str, Any]:
        """What the decision record and ``kiosk config check`` show of the camera."""
        return {
            "device": self.device,
            "name": self.name,
            "driver": self.driver,
            "bus": self.bus,
            "usb_id": self.usb_id,
            "serial": self.serial,
            "port": self.port,
            "links": list(self.links),
        }


@dataclass(frozen=True)
class CameraSelection:
    """How ``[devices.camera]`` names the camera: ``device`` (a /dev/v4l/by-id or by-path link), ``usb_id``
    ("vendor:product" or "vendor:product:serial"), or, in development only, ``index`` with ``allow_index``.
    """

    device: str = ""
    usb_id: str = ""
    index: int = 0
    allow_index: bool = False

    def __post_init__(self) -> None:
        if self.usb_id and not _USB_ID.match(self.usb_id.lower()):
            raise CameraUntrusted(
                f"devices.camera.usb_id {self.usb_id!r} is not vendor:product[:serial] in hex"
            )

    @property
    def index_only(self) -> bool:
        return not self.device and not self.usb_id


def list_cameras(sysfs: Path = Path("/sys"), dev: Path = Path("/dev")) -> list[CameraIdentity]:
    """Every V4L2 node the kernel shows, in node order (an empty list without video4linux)."""
    classes = sysfs / "class" / "video4linux"
    if not classes.is_dir():
        return []
    links = _v4l_links(dev)
    nodes = sorted((p for p in classes.iterdir() if p.name.startswith("video")), key=_node_number)
    return [_identity(p, links.get(p.name, ())) for p in nodes]


def resolve_camera(
    selection: CameraSelection, sysfs: Path = Path("/sys"), dev: Path = Path("/dev")
) -> CameraIdentity:
    """The camera the selection names, checked: present, identified, physical. Raises CameraUntrusted."""
    cameras = list_cameras(sysfs, dev)
    if selection.index_only:
        if not selection.allow_index:
            raise CameraUntrusted(
                "devices.camera names the camera by index only: set device (a /dev/v4l/by-id or by-path "
                "link) or usb_id; allow_index = true is for development"
            )
        log.warning(
            "devices.camera: camera chosen by index %d (allow_index, development only)", selection.index
        )
        chosen = [c for c in cameras if c.number == selection.index]
        if not chosen:
            raise CameraUntrusted(f"no video device /dev/video{selection.index}")
        return _physical(chosen[0])
    candidates = cameras
    if selection.device:
        node = _link_target(selection.device, dev)
        candidates = [c for c in cameras if c.node == node]
        if not candidates:
            raise CameraUntrusted(
                f"devices.camera.device {selection.device} is not present: camera unplugged?"
            )
    if selection.usb_id:
        vendor_product, serial = selection.usb_id[:9].lower(), selection.usb_id[10:]  # format checked
        candidates = [
            c
            for c in candidates
            if c.usb_id == vendor_product and (not serial or c.serial == serial) and c.index == 0
        ]
        if not candidates:
            where = f" at {selection.device}" if selection.device else ""
            raise CameraUntrusted(f"no camera with usb_id {selection.usb_id}{where}")
        if len(candidates) > 1:
            nodes = ", ".join(c.device for c in candidates)
            raise CameraUntrusted(
                f"usb_id {selection.usb_id} names {len(candidates)} cameras ({nodes}): add the serial or "
                "use a by-path device link"
            )
    return _physical(candidates[0])


def _physical(camera: CameraIdentity) -> CameraIdentity:
    if camera.virtual:
        raise CameraUntrusted(f"{camera.device} ({camera.name!r}) is a virtual camera: {camera.virtual}")
    return camera


def _identity(class_entry: Path, links: tuple[str, ...]) -> CameraIdentity:
    node_dir = class_entry.resolve()
    name = _read(node_dir / "name")
    parent_link = node_dir / "device"
    parent = parent_link.resolve() if parent_link.exists() else None
    driver = bus = usb_id = serial = product = port = ""
    if parent is not None:
        driver = _link_name(parent / "driver")
        bus = _link_name(parent / "subsystem")
        port = parent.name
        usb = parent if (parent / "idVendor").is_file() else parent.parent  # a USB interface's parent device
        if bus == "usb" and (usb / "idVendor").is_file():
            usb_id = f"{_read(usb / 'idVendor').lower()}:{_read(usb / 'idProduct').lower()}"
            serial = _read(usb / "serial")
            product = " ".join(s for s in (_read(usb / "manufacturer"), _read(usb / "product")) if s)
    index_text = _read(node_dir / "index")
    return CameraIdentity(
        node=class_entry.name,
        index=int(index_text) if index_text.isdigit() else 0,
        name=name,
        driver=driver,
        bus=bus,
        usb_id=usb_id,
        serial=serial,
        product=product,
        port=port,
        links=links,
        virtual=_virtual_reason(node_dir, parent, name, driver),
    )


def _virtual_reason(node_dir: Path, parent: Path | None, name: str, driver: str) -> str:
    if parent is None or "virtual" in node_dir.parts:
        return "no physical bus parent (a software video device)"
    if driver.lower() in VIRTUAL_DRIVERS:
        return f"driver {driver} is a virtual video driver"
    if any((node_dir / a).exists() for a in _LOOPBACK_ATTRIBUTES):
        return "v4l2loopback device attributes"
    lowered = name.lower()
    for pattern in VIRTUAL_NAMES:
        if pattern in lowered:
            return f"name {name!r} is a virtual camera's"
    return ""


def _v4l_links(dev: Path) -> dict[str, tuple[str, ...]]:
    """Node name -> the udev links (as /dev/v4l/... paths) pointing at it."""
    found: dict[str, list[str]] = {}
    for kind in ("by-id", "by-path"):
        folder = dev / "v4l" / kind
        if folder.is_dir():
            for link in sorted(folder.iterdir()):
                target = Path(os.path.realpath(link)).name
                found.setdefault(target, []).append(f"/dev/v4l/{kind}/{link.name}")
    return {k: tuple(v) for k, v in found.items()}


def _link_target(device: str, dev: Path) -> str:
    """The node a configured /dev/v4l link names; a bare /dev/videoN is an index, not an identity."""
    path = Path(device)
    if not path.is_absolute() or path.parts[:3] != ("/", "dev", "v4l") or len(path.parts) != 5:
        raise CameraUntrusted(
            f"devices.camera.device must be a /dev/v4l/by-id/... or /dev/v4l/by-path/... link, got "
            f"{device!r} (a /dev/videoN number changes with probe order)"
        )
    link = dev.joinpath(*path.parts[2:])
    if not link.is_symlink():
        raise CameraUntrusted(f"devices.camera.device {device} is not present: camera unplugged?")
    return Path(os.path.realpath(link)).name


def _node_number(path: Path) -> int:
    digits = path.name.removeprefix("video")
    return int(digits) if digits.isdigit() else 1 << 30


def _link_name(link: Path) -> str:
    return Path(os.path.realpath(link)).name if link.exists() else ""


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
