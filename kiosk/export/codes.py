"""The published code list every export carries (``codes.csv``): what each code in the records means.

Generated from the code base itself, so it cannot drift from it: the gate's reason codes with the officer's
text (the English catalogue's ``reason.*`` keys, ``kiosk.texts``), the officers' resolution codes, and the
``code`` of every error class in ``kiosk`` and ``matcher`` with its docstring (read from the source files,
without importing device drivers such as PC/SC).
"""

from __future__ import annotations

import ast
import csv
import io
from dataclasses import dataclass
from pathlib import Path

import kiosk
import matcher
from kiosk.store.log import RESOLUTIONS
from kiosk.store.records import EXIT_OPENED
from kiosk.texts import catalogue

CODES_FILE = "codes.csv"


@dataclass(frozen=True)
class Code:
    code: str
    kind: str  # reason, resolution, resolution_reason, error
    text: str
    source: str  # where it is defined


def error_codes(packages: tuple[Path, ...]) -> list[Code]:
    """``code = "..."`` of every class defined in the packages' sources, with the class docstring."""
    found: dict[str, Code] = {}
    for package in packages:
        for path in sorted(package.rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.ClassDef):
                    continue
                for statement in node.body:
                    if (
                        isinstance(statement, ast.Assign)
                        and [getattr(t, "id", "") for t in statement.targets] == ["code"]
                        and isinstance(statement.value, ast.Constant)
                        and isinstance(statement.value.value, str)
                    ):
                        doc = " ".join((ast.get_docstring(node) or node.name).split())
                        where = f"{path.relative_to(package.parent).with_suffix('')}.{node.name}"
                        found.setdefault(
                            statement.value.value, Code(statement.value.value, "error", doc, where)
                        )
    return sorted(found.values(), key=lambda c: c.code)


def resolution_reason_codes(cases: Path) -> list[Code]:
    """The reason codes an officer picks per action (``REASON_CODES`` of ``kiosk/officer/cases.py``, read
    from its source: the export wing does not import the officer wing), as the resolutions record them."""
    tree = ast.parse(cases.read_text(encoding="utf-8"), str(cases))
    for node in tree.body:
        if (
            isinstance(node, ast.AnnAssign)
            and getattr(node.target, "id", "") == "REASON_CODES"
            and node.value
        ):
            per_action: dict[str, tuple[str, ...]] = ast.literal_eval(node.value)
            return [
                Code(
                    code,
                    "resolution_reason",
                    f"officer's reason to {action.replace('_', ' ')}",
                    "kiosk.officer",
                )
                for action, codes in per_action.items()
                for code in codes
            ]
    raise ValueError(f"{cases} defines no REASON_CODES")


def code_list() -> list[Code]:
    """Every code: reason codes, resolutions and the officers' reasons for them, then errors."""
    reasons = [
        Code(key.removeprefix("reason."), "reason", text, "kiosk/texts/en.json")
        for key, text in catalogue("en").items()
        if key.startswith("reason.")
    ]
    resolutions = [
        Code(code, "resolution", "officer's resolution", "kiosk.store.log") for code in RESOLUTIONS
    ] + [Code(EXIT_OPENED, "resolution", "the gate's exit opened on the officer's admit", "kiosk.store.log")]
    packages = (Path(kiosk.__file__).parent, Path(matcher.__file__).parent)
    officer_reasons = resolution_reason_codes(packages[0] / "officer" / "cases.py")
    return [*sorted(reasons, key=lambda c: c.code), *resolutions, *officer_reasons, *error_codes(packages)]


def codes_csv(codes: list[Code]) -> str:
    """RFC 4180 CSV (CRLF) of the code list."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(("code", "kind", "text", "source"))
    writer.writerows((c.code, c.kind, c.text, c.source) for c in codes)
    return buffer.getvalue()
