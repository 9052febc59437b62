"""The house's layout rules, checked on the code as it stands.

The runtime never loads the lab: importing every runtime module (everything under ``kiosk/`` and
``matcher/`` except the lab wings, the Qt front ends and the click shells) must leave ``kiosk.lab``,
``matcher.lab``, matplotlib and scikit-image out of ``sys.modules``. They stay dependencies of the lab (page
generator fonts, DET plots, benchmark faces) and of the supervisors' PDF report (``kiosk/export/``, which may
load matplotlib but never the lab), never of a gate reading a passport."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB = ("kiosk.lab", "matcher.lab")
PLOTTING = ("matplotlib", "skimage")
REPORTING = ("kiosk.export",)  # the supervisors' PDF report draws its charts with matplotlib


def runtime_modules() -> list[str]:
    """Dotted names of every runtime module: not in a ``lab/`` or ``ui/`` folder, not a click shell."""
    names = []
    for package in ("kiosk", "matcher"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "lab" in parts or "ui" in parts or parts[-1] == "cli" or parts[-1].endswith("_cli"):
                continue
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _loaded_by(modules: list[str], forbidden: tuple[str, ...]) -> list[str]:
    """The modules under ``forbidden`` that importing ``modules`` (in a fresh interpreter) loads."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return [m for m in json.loads(out.stdout) if any(m == f or m.startswith(f + ".") for f in forbidden)]


def test_the_runtime_loads_no_lab_and_no_plotting() -> None:
    modules = runtime_modules()
    assert "kiosk.documents.ocr.reading" in modules
    loaded = _loaded_by(modules, LAB)
    assert not loaded, f"runtime modules loaded lab modules: {', '.join(loaded)}"
    gate = [m for m in modules if not any(m == r or m.startswith(r + ".") for r in REPORTING)]
    loaded = _loaded_by(gate, PLOTTING)
    assert not loaded, f"runtime modules loaded plotting modules: {', '.join(loaded[:10])}"


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; relative imports are not used in this house)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_click_only_in_cli_files_and_no_cli_module_imported_but_by_the_top_commands() -> None:
    # console.py runs a click group as a console script (one line per expected error): it is the one
    # non-cli module that names click, and it defines no command.
    click_users, cli_importers = [], []
    for package in ("kiosk", "matcher"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            imported = _imports(path)
            if "click" in {name.split(".")[0] for name in imported} and not (
                path.name.endswith("cli.py") or rel == "matcher/console.py"
            ):
                click_users.append(rel)
            if rel not in ("kiosk/cli.py", "matcher/cli.py") and any(
                name.split(".")[-1] == "cli" or name.split(".")[-1].endswith("_cli") for name in imported
            ):
                cli_importers.append(rel)
    assert not click_users, f"click outside cli.py files: {', '.join(click_users)}"
    assert not cli_importers, f"modules importing a cli module: {', '.join(cli_importers)}"
