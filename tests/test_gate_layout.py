"""Import rules of the gate room and its neighbours, checked on the source: documents never import devices
(or the gate, or the lab), the gate never imports a front end, click only in cli.py files, and no module
imports a command module except the ``kiosk`` group itself."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GATE_LANE = [
    *sorted((ROOT / "kiosk/gate").glob("*.py")),
    *sorted((ROOT / "kiosk/texts").glob("*.py")),
    *(ROOT / "kiosk" / name for name in ("config.py", "config_check.py", "policy.py", "liveness.py")),
    ROOT / "kiosk/document_lists.py",
    ROOT / "kiosk/devices/document_reader.py",
    ROOT / "kiosk/documents/presentation.py",
]


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports (at any depth: lazy imports count)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_documents_import_no_devices_gate_or_lab() -> None:
    for path in sorted((ROOT / "kiosk/documents").rglob("*.py")):
        bad = [
            m
            for m in imports(path)
            if any(_under(m, p) for p in ("kiosk.devices", "kiosk.gate", "kiosk.lab"))
        ]
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_gate_imports_no_front_end_and_no_lab() -> None:
    for path in sorted((ROOT / "kiosk/gate").glob("*.py")):
        bad = [m for m in imports(path) if any(_under(m, p) for p in ("kiosk.ui", "PySide6", "kiosk.lab"))]
        if path.name == "cli.py":  # a command may load the lab inside its function (kiosk demo, kiosk bench)
            bad = [m for m in bad if not _under(m, "kiosk.lab")]
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_click_only_in_cli_files() -> None:
    for path in GATE_LANE:
        if path.name != "cli.py":
            assert "click" not in imports(path), f"{path.relative_to(ROOT)} imports click"


def test_no_module_imports_the_gate_commands() -> None:
    for path in sorted([*(ROOT / "kiosk").rglob("*.py"), *(ROOT / "matcher").rglob("*.py")]):
        if path == ROOT / "kiosk/cli.py":
            continue
        assert "kiosk.gate.cli" not in imports(path), f"{path.relative_to(ROOT)} imports kiosk.gate.cli"
