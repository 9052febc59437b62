"""The house's layout rules, checked on the code as it stands.

The runtime never loads the lab: importing every runtime module (everything under ``kiosk/`` and
``matcher/`` except the lab wings, the Qt front ends and the click shells) must leave ``kiosk.lab``,
``matcher.lab``, matplotlib and scikit-image out of ``sys.modules``. They stay dependencies of the lab (page
generator fonts, DET plots, benchmark faces), never of a gate reading a passport."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("kiosk.lab", "matcher.lab", "matplotlib", "skimage")


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


def test_the_runtime_loads_no_lab_and_no_plotting() -> None:
    modules = runtime_modules()
    assert "kiosk.documents.ocr.reading" in modules or "kiosk.documents.ocr.reader" in modules
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = [m for m in json.loads(out.stdout) if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert not loaded, f"runtime modules loaded lab or plotting modules: {', '.join(loaded)}"
