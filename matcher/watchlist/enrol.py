"""Enrolment of watchlist entries from images (through the FaceEngine), CSV manifests or template files.

Input is validated as a whole first (a CSV with missing files, conflicting rows or bad fields is refused
with every problem listed, and nothing changes). Then each image is processed on its own: an image without
a usable face (no face, several faces, poor quality, unreadable) is reported and skipped, the rest are
enrolled in one new list version. A CSV reference given on several rows (several images of one subject) is
enrolled as one entry whose template fuses the usable ones (:meth:`Template.fuse`).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from matcher.errors import MatcherError, TemplateMismatchError
from matcher.imageio import IMAGE_SUFFIXES, load_image
from matcher.quality import QualityLimits
from matcher.types import Template
from matcher.watchlist.errors import WatchlistError
from matcher.watchlist.search import normalise_time
from matcher.watchlist.store import SEVERITIES, NewEntry, WatchlistStore

if TYPE_CHECKING:
    from matcher.engine import FaceEngine

TEMPLATE_SUFFIX = ".tpl"
CSV_COLUMNS = ("external_ref", "image", "template", "category", "severity", "valid_until", "source")


@dataclass(frozen=True)
class EnrolItem:
    """One entry to enrol, before its template exists: metadata and where the face comes from."""

    external_ref: str
    image: Path | None = None
    template: Path | None = None
    category: str = ""
    severity: str | None = None
    valid_until: str | None = None
    source: str = ""


@dataclass(frozen=True)
class EnrolFailure:
    external_ref: str
    file: str
    code: str  # NO_FACE, MULTIPLE_FACES, POOR_QUALITY, IMAGE_UNREADABLE, TEMPLATE_MISMATCH, ...
    message: str


@dataclass
class EnrolReport:
    list_id: str
    added: list[tuple[str, int]] = field(default_factory=list)  # (external_ref, entry_id)
    failures: list[EnrolFailure] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "list_id": self.list_id,
            "added": len(self.added),
            "failed": len(self.failures),
            "failures": [f.__dict__ for f in self.failures],
        }


def items_from_folder(
    folder: Path,
    *,
    category: str = "",
    severity: str | None = None,
    valid_until: str | None = None,
    source: str = "",
) -> list[EnrolItem]:
    """One item per image (or ``.tpl`` template file) in ``folder``, named by its file stem."""
    if not folder.is_dir():
        raise WatchlistError(f"not a folder: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (*IMAGE_SUFFIXES, TEMPLATE_SUFFIX))
    if not files:
        raise WatchlistError(f"no images or {TEMPLATE_SUFFIX} templates in {folder}")
    _refuse_duplicates([p.stem for p in files], str(folder))
    return [
        EnrolItem(
            external_ref=p.stem,
            image=None if p.suffix.lower() == TEMPLATE_SUFFIX else p,
            template=p if p.suffix.lower() == TEMPLATE_SUFFIX else None,
            category=category,
            severity=severity,
            valid_until=valid_until,
            source=source,
        )
        for p in files
    ]


def items_from_csv(path: Path) -> list[EnrolItem]:
    """Rows of a CSV manifest: ``external_ref`` and ``image`` or ``template`` (paths relative to the CSV),
    optional ``category``, ``severity``, ``valid_until`` (ISO date), ``source``. A reference may repeat
    (several images of one subject) with the same other fields.

    Refuses the whole file, listing the problems, if a file is missing, a repeated reference's fields differ
    or a field is bad.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise WatchlistError(f"{path}: not a readable UTF-8 CSV: {exc}") from None
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    if "external_ref" not in columns or not ({"image", "template"} & set(columns)) or unknown:
        raise WatchlistError(
            f"{path}: columns must be external_ref, image and/or template, and optionally category, severity,"
            f" valid_until, source (found {', '.join(columns) or 'none'})"
        )
    problems: list[str] = []
    items = []
    for line, row in enumerate(rows, start=2):
        ref = (row.get("external_ref") or "").strip()
        image = (row.get("image") or "").strip()
        template = (row.get("template") or "").strip()
        if not ref:
            problems.append(f"line {line}: empty external_ref")
        if bool(image) == bool(template):
            problems.append(f"line {line}: give exactly one of image or template")
            continue
        file = path.parent / (image or template)
        if not file.is_file():
            problems.append(f"line {line}: missing file {image or template}")
        severity = (row.get("severity") or "").strip() or None
        if severity and severity not in SEVERITIES:
            problems.append(f"line {line}: severity {severity!r} not one of {', '.join(SEVERITIES)}")
        valid_until = (row.get("valid_until") or "").strip() or None
        try:
            normalise_time(valid_until)
        except ValueError as exc:
            problems.append(f"line {line}: {exc}")
        items.append(
            EnrolItem(
                external_ref=ref,
                image=file if image else None,
                template=file if template else None,
                category=(row.get("category") or "").strip(),
                severity=severity,
                valid_until=valid_until,
                source=(row.get("source") or "").strip(),
            )
        )
    if not rows:
        problems.append("no rows")
    first: dict[str, EnrolItem] = {}
    for item in items:
        seen = first.setdefault(item.external_ref, item)
        meta = (item.category, item.severity, item.valid_until, item.source)
        if meta != (seen.category, seen.severity, seen.valid_until, seen.source):
            problems.append(f"reference {item.external_ref!r} repeats with other category, severity or dates")
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise WatchlistError(f"{path}: refused, nothing enrolled: {'; '.join(problems[:10])}{more}")
    return items


def enrol(
    store: WatchlistStore,
    list_id: str,
    items: Iterable[EnrolItem],
    engine_factory: Callable[[], FaceEngine] | None = None,
    *,
    replace: bool = False,
) -> EnrolReport:
    """Make templates for ``items`` (images through the engine with enrolment quality limits, or ``.tpl``
    files) and add the ones that worked to ``list_id`` in one version; every failure is reported. Items
    sharing a reference become one entry with their usable templates fused."""
    items = list(items)
    info = store.info(list_id)  # an unknown list fails here, before any model is loaded
    report = EnrolReport(list_id)
    engine = None
    limits: QualityLimits | None = None
    made: dict[str, list[Template]] = {}
    meta: dict[str, EnrolItem] = {}
    for item in items:
        file = item.image or item.template
        assert file is not None
        try:
            if item.template is not None:
                template = Template.from_bytes(item.template.read_bytes())
            else:
                if engine is None:
                    if engine_factory is None:
                        raise WatchlistError("image enrolment needs the face engine")
                    engine = engine_factory()
                    limits = QualityLimits.for_enrolment()
                template = image_template(engine, item.image, limits)  # type: ignore[arg-type]
            if template.model_id != info.model_id or template.dim != info.dim:
                raise TemplateMismatchError(
                    f"template of {template.model_id!r} ({template.dim}-d); the list holds "
                    f"{info.model_id!r} ({info.dim}-d)"
                )
        except (MatcherError, OSError) as exc:
            code = getattr(exc, "code", "IO_ERROR")
            report.failures.append(EnrolFailure(item.external_ref, file.name, code, str(exc)))
            continue
        made.setdefault(item.external_ref, []).append(template)
        meta.setdefault(item.external_ref, item)
    new = [
        NewEntry(
            external_ref=ref,
            template=Template.fuse(templates),
            category=meta[ref].category,
            severity=meta[ref].severity,
            valid_until=meta[ref].valid_until,
            source=meta[ref].source,
        )
        for ref, templates in made.items()
    ]
    if new:
        ids = store.add(list_id, new, replace=replace)
        report.added = [(e.external_ref, i) for e, i in zip(new, ids, strict=True)]
    return report


def image_template(
    engine: FaceEngine, image: Path | str | bytes, limits: QualityLimits | None = None
) -> Template:
    """Template of the one face in an image file (raises NoFace/MultipleFaces/PoorQuality/ImageError)."""
    return engine.template(load_image(image), limits=limits)


def _refuse_duplicates(refs: list[str], where: str) -> None:
    dups = sorted(r for r, n in Counter(refs).items() if n > 1)
    if dups:
        raise WatchlistError(f"{where}: duplicate external references: {', '.join(dups[:10])}")
