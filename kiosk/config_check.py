"""``kiosk config check``: every problem of a configuration file at once, with the effective values and
where each came from, and the checks the kiosk makes when it starts (key, log folder, watchlists, devices).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiosk.config import CameraConfig, KioskConfig, config_from_mapping, read_toml
from kiosk.devices.camera import trusted_camera
from kiosk.errors import ConfigError, KioskError
from matcher.errors import MatcherError
from matcher.quality import FaceGuide

# dotted key in the file -> attribute path of KioskConfig
_ATTRIBUTES = {
    "kiosk.id": "kiosk_id",
    "kiosk.data_dir": "data_dir",
    **{f"devices.camera.{k}": f"camera.{k}" for k in CameraConfig.__dataclass_fields__},
    **{f"devices.document_reader.{k}": f"document_reader.{k}" for k in ("kind", "path", "done_path")},
    **{f"devices.chip_reader.{k}": f"chip_reader.{k}" for k in ("kind", "reader", "time_budget_s")},
    "devices.barrier.kind": "barrier.kind",
    "documents.trust_store": "trust_store",
    "documents.extra_state_codes": "extra_state_codes",
    "matcher.manifest": "manifest",
    "watchlist.path": "watchlist",
    "watchlist.lists": "watchlist_lists",
    "watchlist.max_age_hours": "watchlist_max_age_h",
    **{f"document_lists.{k}": f"document_lists.{k}" for k in ("path", "key_file", "lists", "max_age_hours")},
    "store.path": "log_path",
    "store.key_file": "key_file",
    "store.synchronous": "log_synchronous",
    "export.signing_key": "export_signing_key",
}


@dataclass
class ConfigReport:
    """The problems found (empty: the kiosk would start) and the effective values with their origin."""

    path: Path
    problems: list[str] = field(default_factory=list)
    values: list[tuple[str, Any, str]] = field(
        default_factory=list
    )  # (dotted key, value, "file" | "default")

    @property
    def ok(self) -> bool:
        return not self.problems


def _leaves(data: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    leaves = []
    for key, value in data.items():
        if isinstance(value, Mapping) and (*prefix, key) not in (
            ("policy", "quality"),
            ("policy", "document_quality"),
        ):
            leaves += _leaves(value, (*prefix, key))
        else:
            leaves.append(((*prefix, key), value))
    return leaves


def _merge(mapping: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        mapping = mapping.setdefault(key, {})
    mapping[path[-1]] = value


def check_config(
    path: str | Path, *, now: datetime | None = None, sysfs: Path = Path("/sys"), dev: Path = Path("/dev")
) -> ConfigReport:
    """Check a configuration file as ``kiosk run`` would, collecting every problem instead of stopping at
    the first (each faulty key is taken out in turn), then the start-up checks on the rest, and the camera
    resolved by identity from ``sysfs`` and ``dev`` (``devices.camera.identity``, or the refusal)."""
    path = Path(path)
    report = ConfigReport(path)
    if not path.is_file():
        raise ConfigError(f"configuration file not found: {path}")
    try:
        data = read_toml(path)
    except ConfigError as exc:  # invalid TOML: nothing else can be checked
        report.problems.append(str(exc))
        return report
    base = path.resolve().parent

    def load(leaves: list[tuple[tuple[str, ...], Any]]) -> KioskConfig | str:
        mapping: dict[str, Any] = {}
        for key_path, value in leaves:
            _merge(mapping, key_path, value)
        try:
            return config_from_mapping(mapping, base_dir=base, source=path)
        except ConfigError as exc:
            return str(exc)

    # each problem as the file really has it: report the first error, take out the key that causes it
    # (the one whose removal makes that error go), and load again
    remaining = _leaves(data)
    config = whole = load(remaining)
    while isinstance(config, str):
        report.problems.append(config)
        culprit = next(
            (i for i in range(len(remaining)) if load(remaining[:i] + remaining[i + 1 :]) != config), None
        )
        if culprit is None:
            return report
        del remaining[culprit]
        config = load(remaining)  # the file without its faulty keys: the start-up checks still run on it
    if not isinstance(whole, str):  # effective values only for a file that loads as a whole
        given = {".".join(k) for k, _ in _leaves(data)}
        keys = [
            *_ATTRIBUTES.items(),
            *(
                (f"policy.{f.name}", f"policy.{f.name}")
                for f in dataclasses.fields(whole.policy)
                if f.init and f.name != "face_guide"
            ),
            *((f"policy.face_guide.{n}", f"policy.face_guide.{n}") for n in FaceGuide.__dataclass_fields__),
            *((f"liveness.{n}", f"liveness.{n}") for n in whole.liveness.__dataclass_fields__),
            *((f"ui.{n}", f"ui.{n}") for n in whole.ui.__dataclass_fields__),
        ]
        for dotted, attribute in keys:
            report.values.append((dotted, _get(whole, attribute), "file" if dotted in given else "default"))
    report.problems += _start_up_problems(config, now or datetime.now(UTC))
    try:  # the camera the gate would trust, by identity (kiosk.devices.camera_identity)
        camera = trusted_camera(config.camera, sysfs, dev)
    except KioskError as exc:
        report.problems.append(str(exc))
    else:
        if camera is not None:
            report.values.append(("devices.camera.identity", camera.describe(), "resolved"))
    return report


def _reason(exc: Exception) -> str:
    """An OSError's cause without its errno and file name (the caller names the file)."""
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _get(obj: Any, attribute: str) -> Any:
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def _start_up_problems(config: KioskConfig, now: datetime) -> list[str]:
    """What ``kiosk run`` would refuse at start, each as one line."""
    from kiosk.document_lists import open_document_lists
    from kiosk.gate.assemble import load_trust_store, open_chip_reader, open_watchlists
    from kiosk.store.keys import KeyRing
    from matcher.signing import load_signing_key

    problems = []

    def check(action: Any) -> None:
        try:
            action()
        except (KioskError, MatcherError, OSError, ValueError) as exc:
            problems.append(str(exc))

    if config.log_path is None:
        problems.append("store.path is not set: the kiosk does not run without a decision log")
    else:
        if not config.log_path.parent.is_dir():
            problems.append(f"store.path: folder {config.log_path.parent} does not exist")
        check(lambda: KeyRing.load(config.key_file))
    if config.document_reader.path is None:
        problems.append("devices.document_reader.path is required to run the kiosk")
    elif not config.document_reader.path.is_dir():
        problems.append(f"devices.document_reader.path: folder {config.document_reader.path} does not exist")
    if config.camera.kind != "opencv" and config.camera.path is not None and not config.camera.path.exists():
        problems.append(f"devices.camera.path: {config.camera.path} does not exist")
    check(lambda: open_chip_reader(config))
    check(lambda: load_trust_store(config.trust_store))
    check(lambda: open_watchlists(config, now))
    check(lambda: open_document_lists(config.document_lists, now))
    if config.export_signing_key is not None:  # not needed by the gate; `kiosk export` would refuse it
        try:
            load_signing_key(config.export_signing_key)
        except (OSError, MatcherError) as exc:
            problems.append(f"export.signing_key: {config.export_signing_key}: {_reason(exc)}")
    return problems
