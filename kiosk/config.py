"""Kiosk configuration: one TOML file (``packaging/kiosk.example.toml`` documents every key).

Every key has a built-in default, so an empty file (or none) is a working demo configuration. Relative paths
are resolved against the directory of the configuration file. Unknown keys are errors: a typo in a policy
key must not silently fall back to a default."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.document_lists import DocumentListsConfig
from kiosk.errors import ConfigError
from kiosk.liveness import LivenessConfig
from kiosk.policy import Policy
from kiosk.sync.settings import SyncConfig
from matcher.quality import FaceGuide, QualityLimits

CAMERA_KINDS = ("opencv", "video", "folder")


@dataclass(frozen=True)
class CameraConfig:
    kind: str = "opencv"  # "opencv" (a V4L2 camera), "video" (file) or "folder" (of frames)
    device: str = ""  # opencv: the camera's /dev/v4l/by-id/... or by-path/... link (kiosk camera list)
    usb_id: str = ""  # opencv: "vendor:product" or "vendor:product:serial" (hex ids, as lsusb shows)
    index: int = 0  # opencv: node number, only with allow_index
    allow_index: bool = False  # development only: accept a camera named by index alone (warned)
    path: Path | None = None
    width: int = 640
    height: int = 480
    fps: float = 0.0  # folder/video sources: pace frames at this rate (0 = as fast as read)
    loop: bool = False  # folder/video sources: start again at the end


@dataclass(frozen=True)
class DocumentReaderConfig:
    kind: str = "folder"
    path: Path | None = None  # folder of presentations (one sub-folder each: data-page image + chip/)
    done_path: Path | None = None  # processed presentations are moved here (none: remembered in memory)


CHIP_READER_KINDS = ("folder", "pcsc")


@dataclass(frozen=True)
class ChipReaderConfig:
    kind: str = "folder"  # "folder": the presentation's chip/ files; "pcsc": a PC/SC reader at the gate
    reader: str = ""  # pcsc: the reader whose name contains this (empty: the first holding a card)
    time_budget_s: float = 5.0  # pcsc: opening and reading the chip must end within this


@dataclass(frozen=True)
class BarrierConfig:
    kind: str = "log"


UI_MODES = ("headless", "window")
DOCUMENT_KINDS = ("passport", "id_card")


@dataclass(frozen=True)
class UiConfig:
    """``[ui]``: the traveller's screen (``kiosk run``)."""

    mode: str = "headless"  # "window": the traveller kiosk (Qt); "headless": no screen
    fullscreen: bool = True  # window mode: full screen (kiosk run --windowed overrides)
    language: str = "en"  # the language every traveller starts in
    idle_s: float = 60.0  # untouched this long before a document: back to welcome, everything cleared
    document_kinds: tuple[str, ...] = ("passport",)  # eligibility page: documents this gate takes
    min_age: int = 18  # eligibility page
    min_height_cm: int = 120  # eligibility page
    camera_fault_s: float = 3.0  # no camera frame this long: out of service
    speech: bool = True  # every instruction spoken (espeak-ng)


@dataclass(frozen=True)
class KioskConfig:
    kiosk_id: str = "KIOSK-01"
    data_dir: Path = Path("var")
    camera: CameraConfig = field(default_factory=CameraConfig)
    document_reader: DocumentReaderConfig = field(default_factory=DocumentReaderConfig)
    chip_reader: ChipReaderConfig = field(default_factory=ChipReaderConfig)
    barrier: BarrierConfig = field(default_factory=BarrierConfig)
    trust_store: Path | None = None  # folder of CSCA certificates and CRLs for passive authentication
    extra_state_codes: tuple[str, ...] = ()  # state codes accepted beyond the ICAO list (e.g. "UTO")
    manifest: Path | None = None  # model manifest (default: the project's models/manifest.json)
    watchlist: Path | None = None  # watchlist store; none = no 1:N search
    watchlist_lists: tuple[str, ...] = ()  # lists the gate must have (none: every list in the store)
    watchlist_max_age_h: float = 72.0  # a list not refreshed for longer stops the kiosk (0: no limit)
    log_path: Path | None = None  # decision log database; the kiosk refuses to run without one
    key_file: Path | None = None  # decision-log key file; none = the store's default (environment)
    log_synchronous: str = "FULL"  # SQLite fsync policy of the log: FULL survives power loss, NORMAL a crash
    policy: Policy = field(default_factory=Policy)
    document_lists: DocumentListsConfig = field(default_factory=DocumentListsConfig)
    liveness: LivenessConfig = field(default_factory=LivenessConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    export_signing_key: Path | None = None  # Ed25519 private key (PEM) signing audit exports' manifests
    source: Path | None = None  # the file this configuration was read from


_SCHEMA: dict[str, set[str]] = {
    "kiosk": {"id", "data_dir"},
    "devices": {"camera", "document_reader", "chip_reader", "barrier"},
    "documents": {"trust_store", "extra_state_codes"},
    "matcher": {"manifest"},
    "watchlist": {"path", "lists", "max_age_hours"},
    "store": {"path", "key_file", "synchronous"},
    "policy": {f.name for f in dataclasses.fields(Policy) if f.init},
    "document_lists": set(DocumentListsConfig.__dataclass_fields__),
    "liveness": set(LivenessConfig.__dataclass_fields__),
    "sync": set(SyncConfig.__dataclass_fields__),
    "ui": set(UiConfig.__dataclass_fields__),
    "export": {"signing_key"},
}


def load_config(path: str | Path | None = None) -> KioskConfig:
    """Read a configuration file; ``None`` returns the built-in defaults. Raises ConfigError."""
    if path is None:
        return KioskConfig()
    path = Path(path)
    return config_from_mapping(read_toml(path), base_dir=path.resolve().parent, source=path)


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed file (``kiosk config check`` reads it here too); ConfigError when it is missing or is not
    valid TOML."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"configuration file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def config_from_mapping(
    data: Mapping[str, Any], *, base_dir: Path | None = None, source: Path | None = None
) -> KioskConfig:
    """Build a configuration from parsed TOML; relative paths are resolved against ``base_dir``."""
    base = base_dir or Path.cwd()
    _check_keys(data, set(_SCHEMA), "top level")
    for table, keys in _SCHEMA.items():
        if table in data:
            _check_keys(_table(data, table), keys, f"[{table}]")
    kiosk = _table(data, "kiosk")
    devices = _table(data, "devices")
    store = _table(data, "store")

    kiosk_id = _str(kiosk, "id", "kiosk.id", KioskConfig.kiosk_id)
    if not kiosk_id.strip():
        raise ConfigError("kiosk.id must not be empty")
    return KioskConfig(
        kiosk_id=kiosk_id,
        data_dir=_path(kiosk, "data_dir", "kiosk.data_dir", base) or base / "var",
        camera=_camera(_table(devices, "camera", "devices"), base),
        document_reader=_document_reader(_table(devices, "document_reader", "devices"), base),
        chip_reader=_chip_reader(_table(devices, "chip_reader", "devices")),
        barrier=_barrier(_table(devices, "barrier", "devices")),
        trust_store=_path(_table(data, "documents"), "trust_store", "documents.trust_store", base),
        extra_state_codes=_codes(_table(data, "documents")),
        manifest=_path(_table(data, "matcher"), "manifest", "matcher.manifest", base),
        watchlist=_path(_table(data, "watchlist"), "path", "watchlist.path", base),
        watchlist_lists=_list_ids(_table(data, "watchlist")),
        watchlist_max_age_h=_max_age(_table(data, "watchlist")),
        log_path=_path(store, "path", "store.path", base),
        key_file=_path(store, "key_file", "store.key_file", base),
        log_synchronous=_synchronous(store),
        policy=_policy(_table(data, "policy")),
        document_lists=_document_lists(_table(data, "document_lists"), base),
        liveness=LivenessConfig(**_fields(LivenessConfig, _table(data, "liveness"), "liveness")),
        sync=_sync(_table(data, "sync"), base),
        ui=_ui(_table(data, "ui")),
        export_signing_key=_path(_table(data, "export"), "signing_key", "export.signing_key", base),
        source=source,
    )


def _policy(t: Mapping[str, Any]) -> Policy:
    """The ``[policy]`` table: typed values, and the quality-limit overrides checked against
    ``matcher.quality.QualityLimits`` (the Policy resolves them)."""
    tables = ("quality", "document_quality")
    special = (*tables, "face_guide", "age_bands")
    values = _fields(Policy, {k: v for k, v in t.items() if k not in special}, "policy", exclude=special)
    if "face_guide" in t:  # the oval the screen draws and the live capture checks
        guide = _fields(FaceGuide, _table(t, "face_guide", "policy"), "policy.face_guide")
        try:
            values["face_guide"] = FaceGuide(**guide)
        except ValueError as exc:
            raise ConfigError(f"[policy.face_guide]: {exc}") from None
    if "age_bands" in t:
        bands = t["age_bands"]
        if not isinstance(bands, list) or not all(type(b) is int for b in bands):
            raise ConfigError("policy.age_bands must be a list of whole years, e.g. [12, 18, 30, 45, 60]")
        values["age_bands"] = tuple(bands)
    known = set(QualityLimits.__dataclass_fields__)
    for table in tables:
        if table not in t:
            continue
        overrides = _table(t, table, "policy")
        unknown = sorted(set(overrides) - known)
        if unknown:  # refused when the file is read, not when the gate first builds its limits
            names = ", ".join(sorted(known))
            raise ConfigError(f"unknown key(s) in [policy.{table}]: {', '.join(unknown)} (known: {names})")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in overrides.values()):
            raise ConfigError(f"[policy.{table}] values must be numbers")
        values[table] = {k: float(v) for k, v in overrides.items()}
    return Policy(**values)


def _fields(cls: type, t: Mapping[str, Any], where: str, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The keys of table ``where`` as keyword arguments of the dataclass ``cls``, each checked against the
    type of its default (bool, int, float, str, tuple of strings); unknown keys are refused."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name not in exclude}
    _check_keys(t, set(fields) | set(exclude), f"[{where}]")
    values: dict[str, Any] = {}
    for key, value in t.items():
        default = fields[key].default
        if isinstance(default, bool):
            ok, expected = isinstance(value, bool), "true or false"
        elif isinstance(default, int):
            ok, expected = isinstance(value, int) and not isinstance(value, bool), "an integer"
        elif isinstance(default, float):
            ok, expected = isinstance(value, int | float) and not isinstance(value, bool), "a number"
            value = float(value) if ok else value
        elif isinstance(default, str):
            ok, expected = isinstance(value, str), "a string"
        else:  # tuples of patterns (defaults from a factory or a tuple)
            ok, expected = (
                isinstance(value, list) and all(isinstance(v, str) for v in value),
                "a list of strings",
            )
            value = tuple(value) if ok else value
        if not ok:
            raise ConfigError(
                f"{where}.{key} has the wrong type ({type(value).__name__}): it must be {expected}"
            )
        values[key] = value
    return values


def _camera(t: Mapping[str, Any], base: Path) -> CameraConfig:
    _check_keys(t, set(CameraConfig.__dataclass_fields__), "[devices.camera]")
    kind = _str(t, "kind", "devices.camera.kind", "opencv")
    if kind not in CAMERA_KINDS:
        raise ConfigError(f"devices.camera.kind must be one of {', '.join(CAMERA_KINDS)}, got {kind!r}")
    path = _path(t, "path", "devices.camera.path", base)
    if kind != "opencv" and path is None:
        raise ConfigError(f"devices.camera.path is required for a {kind!r} camera")
    cfg = CameraConfig(
        kind=kind,
        device=_str(t, "device", "devices.camera.device", ""),
        usb_id=_str(t, "usb_id", "devices.camera.usb_id", ""),
        index=_int(t, "index", "devices.camera.index", 0),
        allow_index=_bool(t, "allow_index", "devices.camera.allow_index", False),
        path=path,
        width=_int(t, "width", "devices.camera.width", 640),
        height=_int(t, "height", "devices.camera.height", 480),
        fps=_float(t, "fps", "devices.camera.fps", 0.0),
        loop=_bool(t, "loop", "devices.camera.loop", False),
    )
    if cfg.index < 0 or cfg.width <= 0 or cfg.height <= 0 or cfg.fps < 0:
        raise ConfigError("devices.camera: index, width, height and fps must be non-negative (sizes > 0)")
    return cfg


def _document_reader(t: Mapping[str, Any], base: Path) -> DocumentReaderConfig:
    _check_keys(t, set(DocumentReaderConfig.__dataclass_fields__), "[devices.document_reader]")
    kind = _str(t, "kind", "devices.document_reader.kind", "folder")
    if kind != "folder":
        raise ConfigError(f"devices.document_reader.kind must be 'folder', got {kind!r}")
    return DocumentReaderConfig(
        kind=kind,
        path=_path(t, "path", "devices.document_reader.path", base),
        done_path=_path(t, "done_path", "devices.document_reader.done_path", base),
    )


def _document_lists(t: Mapping[str, Any], base: Path) -> DocumentListsConfig:
    lists = t.get("lists", [])
    if not isinstance(lists, list) or not all(isinstance(v, str) and v.strip() for v in lists):
        raise ConfigError("document_lists.lists must be a list of document list ids")
    max_age = _float(t, "max_age_hours", "document_lists.max_age_hours", DocumentListsConfig.max_age_hours)
    if max_age < 0:
        raise ConfigError("document_lists.max_age_hours must be 0 (no limit) or more")
    return DocumentListsConfig(
        path=_path(t, "path", "document_lists.path", base),
        key_file=_path(t, "key_file", "document_lists.key_file", base),
        lists=tuple(lists),
        max_age_hours=max_age,
    )


def _ui(t: Mapping[str, Any]) -> UiConfig:
    cfg = UiConfig(**_fields(UiConfig, t, "ui"))
    if cfg.mode not in UI_MODES:
        raise ConfigError(f"ui.mode must be one of {', '.join(UI_MODES)}, got {cfg.mode!r}")
    if not cfg.document_kinds or not set(cfg.document_kinds) <= set(DOCUMENT_KINDS):
        raise ConfigError(f"ui.document_kinds must be a non-empty list of {', '.join(DOCUMENT_KINDS)}")
    if cfg.language not in ("en", "fr", "es", "ar"):
        raise ConfigError(f"ui.language must be one of en, fr, es, ar, got {cfg.language!r}")
    if cfg.idle_s <= 0 or cfg.camera_fault_s <= 0 or cfg.min_age < 0 or cfg.min_height_cm < 0:
        raise ConfigError(
            "ui: idle_s and camera_fault_s must be more than 0, min_age and min_height_cm 0 or more"
        )
    return cfg


def _chip_reader(t: Mapping[str, Any]) -> ChipReaderConfig:
    _check_keys(t, set(ChipReaderConfig.__dataclass_fields__), "[devices.chip_reader]")
    kind = _str(t, "kind", "devices.chip_reader.kind", "folder")
    if kind not in CHIP_READER_KINDS:
        raise ConfigError(
            f"devices.chip_reader.kind must be one of {', '.join(CHIP_READER_KINDS)}, got {kind!r}"
        )
    budget = _float(t, "time_budget_s", "devices.chip_reader.time_budget_s", ChipReaderConfig.time_budget_s)
    if budget <= 0:
        raise ConfigError("devices.chip_reader.time_budget_s must be more than 0")
    return ChipReaderConfig(
        kind=kind, reader=_str(t, "reader", "devices.chip_reader.reader", ""), time_budget_s=budget
    )


def _barrier(t: Mapping[str, Any]) -> BarrierConfig:
    _check_keys(t, {"kind"}, "[devices.barrier]")
    kind = _str(t, "kind", "devices.barrier.kind", "log")
    if kind != "log":
        raise ConfigError(f"devices.barrier.kind must be 'log' (the only built-in barrier), got {kind!r}")
    return BarrierConfig(kind=kind)


def _synchronous(t: Mapping[str, Any]) -> str:
    value = _str(t, "synchronous", "store.synchronous", "FULL").upper()
    if value not in ("FULL", "NORMAL"):
        raise ConfigError(f"store.synchronous must be FULL or NORMAL, got {value!r}")
    return value


def _list_ids(t: Mapping[str, Any]) -> tuple[str, ...]:
    value = t.get("lists", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError("watchlist.lists must be a list of watchlist ids")
    return tuple(value)


def _max_age(t: Mapping[str, Any]) -> float:
    value = _float(t, "max_age_hours", "watchlist.max_age_hours", KioskConfig.watchlist_max_age_h)
    if value < 0:
        raise ConfigError("watchlist.max_age_hours must be 0 (no limit) or more")
    return value


def _codes(t: Mapping[str, Any]) -> tuple[str, ...]:
    value = t.get("extra_state_codes", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.isalpha() for v in value):
        raise ConfigError("documents.extra_state_codes must be a list of letter codes")
    return tuple(v.upper() for v in value)


def _check_keys(t: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(t) - allowed)
    if unknown:
        raise ConfigError(f"unknown key(s) in {where}: {', '.join(unknown)}")


def _table(t: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
    value = t.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{(where + '.') if where else ''}{key} must be a table")
    return value


def _str(t: Mapping[str, Any], key: str, name: str, default: str) -> str:
    value = t.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string")
    return value


def _int(t: Mapping[str, Any], key: str, name: str, default: int) -> int:
    value = t.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{name} must be an integer")
    return value


def _float(t: Mapping[str, Any], key: str, name: str, default: float) -> float:
    value = t.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ConfigError(f"{name} must be a number")
    return float(value)


def _bool(t: Mapping[str, Any], key: str, name: str, default: bool) -> bool:
    value = t.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false")
    return value


def _sync(t: Mapping[str, Any], base: Path) -> SyncConfig:
    paths = ("key_file", "ca_file", "evidence_key")
    values = _fields(SyncConfig, {k: v for k, v in t.items() if k not in paths}, "sync", exclude=paths)
    return SyncConfig(**values, **{name: _path(t, name, f"sync.{name}", base) for name in paths})


def _path(t: Mapping[str, Any], key: str, name: str, base: Path) -> Path | None:
    value = t.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a path string")
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p
