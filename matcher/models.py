"""The model manifest: which model files the matcher uses, where they live, how they were made, and the
score thresholds calibrated for the embedder.

Every model entry names its file, sha256 and size; :func:`verify_model` refuses a missing or altered file
with a :class:`ModelError` naming the file and the expected sha256. A deployer swaps models by editing the
manifest alone (see ``models/README.md``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matcher.atomic import replace_file
from matcher.errors import ModelError

MANIFEST_ENV = "EGATE_MODELS_MANIFEST"
DEFAULT_MANIFEST = Path(__file__).resolve().parent.parent / "models" / "manifest.json"
SCHEMA_VERSION = 1
ROLES = ("detector", "embedder")
PAD_ROLES = ("pad",)  # presentation-attack detection, under the manifest's "pad_models" key
OCR_ROLES = ("ocr",)  # the MRZ character classifier, under the manifest's "ocr_models" key
LANDMARK_ROLES = ("landmarks",)  # dense face landmarks (eyes, mouth), under the "landmark_models" key
_REQUIRED = ("role", "kind", "file", "sha256", "size", "source", "licence", "location", "input")


@dataclass(frozen=True)
class ModelSpec:
    """One manifest entry. ``params`` holds kind-specific settings (e.g. detector thresholds)."""

    name: str
    role: str
    kind: str
    file: str
    sha256: str
    size: int
    source: str
    licence: str
    location: dict[str, str]
    input: dict[str, Any]
    optional: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    alignment: dict[str, Any] | None = None
    thresholds: dict[str, Any] | None = None

    @property
    def model_id(self) -> str:
        """Stable id carried by templates and decision records: ``name@sha256[:12]``."""
        return f"{self.name}@{self.sha256[:12]}"


@dataclass(frozen=True)
class Manifest:
    path: Path
    models: dict[str, ModelSpec]
    defaults: dict[str, str]
    pad_models: dict[str, ModelSpec] = field(default_factory=dict)
    ocr_models: dict[str, ModelSpec] = field(default_factory=dict)
    landmark_models: dict[str, ModelSpec] = field(default_factory=dict)

    def get(self, name: str) -> ModelSpec:
        try:
            return self.models[name]
        except KeyError:
            raise ModelError(f"manifest {self.path} has no model named {name!r}") from None

    def default(self, role: str) -> ModelSpec:
        if role not in self.defaults:
            raise ModelError(f"manifest {self.path} names no default {role}")
        spec = self.get(self.defaults[role])
        if spec.role != role:
            raise ModelError(f"manifest {self.path}: default {role} {spec.name!r} has role {spec.role!r}")
        return spec


def manifest_path(path: Path | None = None) -> Path:
    """The manifest in use: ``path``, else env EGATE_MODELS_MANIFEST, else ``<repo>/models/manifest.json``."""
    if path is not None:
        return Path(path)
    env = os.environ.get(MANIFEST_ENV)
    return Path(env) if env else DEFAULT_MANIFEST


def load_manifest(path: Path | None = None, *, verify: bool = True) -> Manifest:
    """Read and validate the manifest; with ``verify`` every non-optional model file is sha256-checked.

    Every section is parsed here: ``models`` (detector, embedder), ``pad_models``, ``ocr_models`` and
    ``landmark_models``. Optional entries (e.g. YuNet, whose file is not shipped), the presentation-attack
    detection models (loaded only by ``FaceEngine.load(liveness=True)``), the OCR models (loaded by the
    document reader) and the landmark model (``FaceEngine.load(landmarks=True)``, the live capture's eyes
    and mouth) are verified when they are used.
    """
    mpath = manifest_path(path)
    try:
        raw = json.loads(mpath.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"model manifest not found: {mpath}") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"model manifest {mpath} is unreadable: {exc}") from None
    if not isinstance(raw, dict) or raw.get("schema") != SCHEMA_VERSION:
        raise ModelError(f'model manifest {mpath}: expected a JSON object with "schema": {SCHEMA_VERSION}')
    models = {name: _parse_entry(mpath, name, entry) for name, entry in (raw.get("models") or {}).items()}
    pad_models = {
        name: _parse_entry(mpath, name, entry, PAD_ROLES)
        for name, entry in (raw.get("pad_models") or {}).items()
    }
    ocr_models = {
        name: _parse_entry(mpath, name, entry, OCR_ROLES)
        for name, entry in (raw.get("ocr_models") or {}).items()
    }
    landmark_models = {
        name: _parse_entry(mpath, name, entry, LANDMARK_ROLES)
        for name, entry in (raw.get("landmark_models") or {}).items()
    }
    defaults = raw.get("defaults") or {}
    manifest = Manifest(
        path=mpath,
        models=models,
        defaults=dict(defaults),
        pad_models=pad_models,
        ocr_models=ocr_models,
        landmark_models=landmark_models,
    )
    for role in ROLES:
        manifest.default(role)
    if verify:
        for spec in models.values():
            if not spec.optional:
                verify_model(spec, manifest)
    return manifest


def _parse_entry(mpath: Path, name: str, entry: Any, roles: tuple[str, ...] = ROLES) -> ModelSpec:
    if not isinstance(entry, dict):
        raise ModelError(f"model manifest {mpath}: entry {name!r} is not an object")
    missing = [k for k in _REQUIRED if k not in entry]
    if missing:
        raise ModelError(f"model manifest {mpath}: entry {name!r} lacks {', '.join(missing)}")
    if entry["role"] not in roles:
        raise ModelError(f"model manifest {mpath}: entry {name!r} has unknown role {entry['role']!r}")
    sha = str(entry["sha256"]).lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ModelError(f"model manifest {mpath}: entry {name!r} has a malformed sha256")
    if entry["role"] == "embedder" and not entry.get("alignment"):
        raise ModelError(f"model manifest {mpath}: embedder {name!r} lacks its alignment template")
    return ModelSpec(
        name=name,
        role=entry["role"],
        kind=entry["kind"],
        file=entry["file"],
        sha256=sha,
        size=int(entry["size"]),
        source=entry["source"],
        licence=entry["licence"],
        location=dict(entry["location"]),
        input=dict(entry["input"]),
        optional=bool(entry.get("optional", False)),
        params=dict(entry.get("params") or {}),
        alignment=entry.get("alignment"),
        thresholds=entry.get("thresholds"),
    )


def resolve_model_path(spec: ModelSpec, manifest: Manifest) -> Path:
    """Where the model file should be, from its ``location``: one of
    ``{"python_package": pkg, "subdir": d}`` (found with importlib without importing the package),
    ``{"env": VAR, "path": rel}`` (relative to the directory in environment variable VAR), or
    ``{"path": p}`` (absolute, or relative to the manifest's directory)."""
    loc = spec.location
    what = f"model {spec.name!r} ({spec.file}, sha256 {spec.sha256})"
    if "python_package" in loc:
        found = importlib.util.find_spec(loc["python_package"])
        if found is None or not found.submodule_search_locations:
            raise ModelError(f"{what}: Python package {loc['python_package']!r} is not installed")
        base = Path(next(iter(found.submodule_search_locations))) / loc.get("subdir", "")
    elif "env" in loc:
        value = os.environ.get(loc["env"])
        if not value:
            raise ModelError(
                f"{what}: environment variable {loc['env']} is not set, so the file cannot be found"
            )
        base = Path(value) / loc.get("path", "")
        return base if base.name == spec.file else base / spec.file
    elif "path" in loc:
        base = Path(loc["path"])
        if not base.is_absolute():
            base = manifest.path.parent / base
        return base if base.name == spec.file else base / spec.file
    else:
        raise ModelError(f"{what}: location needs python_package, env or path")
    return base / spec.file


def read_verified(spec: ModelSpec, manifest: Manifest) -> tuple[Path, bytes]:
    """Locate the model file, read it once and check its size and sha256; the bytes returned are the ones
    checked, so a file swapped after the check cannot be loaded. Raises ModelError naming file and sha256."""
    path = resolve_model_path(spec, manifest)
    if not path.is_file():
        raise ModelError(f"model file missing: {path} (model {spec.name!r}, expected sha256 {spec.sha256})")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(
            f"model file unreadable: {path} ({exc.strerror or exc}; model {spec.name!r})"
        ) from None
    actual = hashlib.sha256(data).hexdigest()
    if len(data) != spec.size or actual != spec.sha256:
        raise ModelError(
            f"model file altered: {path} (model {spec.name!r}) does not match the manifest: expected "
            f"sha256 {spec.sha256} and {spec.size} bytes, found sha256 {actual} and {len(data)} bytes"
        )
    return path, data


def verify_model(spec: ModelSpec, manifest: Manifest) -> Path:
    """Check the model file's size and sha256 against the manifest; return its path or raise ModelError."""
    return read_verified(spec, manifest)[0]


def fmr_key(fmr: float) -> str:
    """Canonical manifest key of a false match rate: 1e-3 -> "0.001"."""
    if not (0.0 < float(fmr) < 1.0):
        raise ValueError(f"false match rate must lie in (0, 1), got {fmr}")
    return format(float(fmr), ".10f").rstrip("0")


def interpolate_threshold(fmr_table: dict[str, float], fmr: float) -> float:
    """Threshold for ``fmr`` from calibrated points, linear in log10(fmr); ValueError outside the range."""
    points = sorted((float(k), float(v)) for k, v in fmr_table.items())
    if not points:
        raise ValueError("no calibrated points")
    lo, hi = points[0][0], points[-1][0]
    if not (lo * (1 - 1e-9) <= fmr <= hi * (1 + 1e-9)):
        raise ValueError(f"FMR {fmr:g} is outside the calibrated range {lo:g}..{hi:g}")
    for (f0, s0), (f1, s1) in itertools.pairwise(points):
        if f0 <= fmr <= f1:
            t = (math.log10(fmr) - math.log10(f0)) / (math.log10(f1) - math.log10(f0))
            return s0 + t * (s1 - s0)
    return points[0][1]


def set_thresholds(
    model_name: str, thresholds: dict[Any, float], meta: dict[str, Any], path: Path | None = None
) -> None:
    """Write calibrated thresholds into the embedder's manifest entry, atomically.

    ``thresholds`` maps false match rate (float or string, e.g. 1e-3 or "0.001") to score threshold; the
    entry becomes ``"thresholds": {"fmr": {"0.001": s, ...}, "model_sha256": <sha of the calibrated
    model>, **meta}``. The engine refuses thresholds whose ``model_sha256`` differs from the model in use.
    """
    mpath = manifest_path(path)
    raw = json.loads(mpath.read_text(encoding="utf-8"))
    entry = (raw.get("models") or {}).get(model_name)
    if entry is None:
        raise ModelError(f"manifest {mpath} has no model named {model_name!r}")
    if entry.get("role") != "embedder":
        raise ModelError(f"thresholds belong to an embedder; {model_name!r} is a {entry.get('role')}")
    table = {fmr_key(float(k)): float(v) for k, v in thresholds.items()}
    if not table or not all(math.isfinite(v) for v in table.values()):
        raise ValueError("thresholds must be a non-empty table of finite scores")
    search = (entry.get("thresholds") or {}).get("search")  # the FPIR table is fitted on its own
    entry["thresholds"] = {"fmr": table, "model_sha256": entry["sha256"], **meta}
    if search and search.get("model_sha256") == entry["sha256"]:
        entry["thresholds"]["search"] = search
    replace_file(mpath, (json.dumps(raw, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def set_search_table(model_name: str, search: dict[str, Any], path: Path | None = None) -> None:
    """Write the per-search FPIR table (``matcher.lab.fpir_model``) into the embedder's calibrated
    thresholds as ``thresholds.search``, atomically; the embedder must be calibrated already."""
    mpath = manifest_path(path)
    raw = json.loads(mpath.read_text(encoding="utf-8"))
    entry = (raw.get("models") or {}).get(model_name)
    if entry is None or entry.get("role") != "embedder":
        raise ModelError(f"manifest {mpath} has no embedder named {model_name!r}")
    if not (entry.get("thresholds") or {}).get("fmr"):
        raise ModelError(f"{model_name!r} has no calibrated thresholds: run matcher calibrate first")
    entry["thresholds"]["search"] = search
    replace_file(mpath, (json.dumps(raw, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def onnx_session(model: Path | bytes, threads: int | None = None) -> Any:
    """One CPU onnxruntime session for a model file; ``threads``: intra-op threads (None: ORT default)."""
    import onnxruntime as ort  # imported here so that reading the manifest needs no runtime

    options = ort.SessionOptions()
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Idle worker threads sleep instead of spinning: on a 2-core kiosk, spinning after every inference takes
    # the CPU from the camera preview, the UI and the decision-log write.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        source = model if isinstance(model, bytes) else str(model)
        return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for a corrupt graph
        what = "model bytes" if isinstance(model, bytes) else f"model file {model}"
        raise ModelError(f"{what} cannot be loaded by onnxruntime: {exc}") from None


@dataclass(frozen=True)
class ModelStatus:
    name: str
    role: str
    is_default: bool
    optional: bool
    licence: str
    model_id: str
    path: str | None
    ok: bool
    problem: str | None


def check_models(path: Path | None = None) -> list[ModelStatus]:
    """Verify every model of the manifest (optional ones included) and say, per model, what is wrong."""
    manifest = load_manifest(path, verify=False)
    statuses = []
    sections = (manifest.models, manifest.pad_models, manifest.ocr_models, manifest.landmark_models)
    for spec in [spec for section in sections for spec in section.values()]:
        found: Path | None = None
        problem = None
        try:
            found = verify_model(spec, manifest)
        except ModelError as exc:
            problem = str(exc)
        statuses.append(
            ModelStatus(
                name=spec.name,
                role=spec.role,
                is_default=manifest.defaults.get(spec.role) == spec.name,
                optional=spec.optional,
                licence=spec.licence,
                model_id=spec.model_id,
                path=str(found) if found else None,
                ok=problem is None,
                problem=problem,
            )
        )
    return statuses
