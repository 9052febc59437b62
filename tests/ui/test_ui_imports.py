"""Only kiosk/ui imports PySide6, and nothing imports kiosk/ui but command functions of ``cli.py`` files,
inside their bodies (a gate without a screen never loads Qt)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_qt_stays_in_kiosk_ui() -> None:
    ui = ROOT / "kiosk" / "ui"
    for path in sorted([*(ROOT / "kiosk").rglob("*.py"), *(ROOT / "matcher").rglob("*.py")]):
        if ui in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert not any(_under(m, "PySide6") for m in _imports(tree)), f"{path.relative_to(ROOT)} imports Qt"
        if path.name == "cli.py":  # only inside its commands' functions
            module_level = _imports(
                ast.Module(body=[n for n in tree.body if not isinstance(n, ast.FunctionDef)])
            )
            assert not any(_under(m, "kiosk.ui") for m in module_level), f"{path.relative_to(ROOT)}: kiosk.ui"
        else:
            assert not any(_under(m, "kiosk.ui") for m in _imports(tree)), (
                f"{path.relative_to(ROOT)} imports kiosk.ui"
            )


def test_the_presenter_has_no_qt() -> None:
    tree = ast.parse((ROOT / "kiosk/ui/traveller/presenter.py").read_text(encoding="utf-8"))
    assert not any(_under(m, "PySide6") for m in _imports(tree))
