"""Document-number lists at the gate (lost and stolen documents, national alerts; see
:mod:`matcher.watchlist.documents`): every document read is looked up, and a listed one refers the
traveller with ``DOC_LISTED``.

Fail closed: a configured store that is missing, a store without lists, a configured list that is missing,
empty, hashed under another key than the kiosk's, or last refreshed longer ago than
``document_lists.max_age_hours`` stops the kiosk at start. The kiosk never creates a store. List versions
published while the kiosk runs are picked up before the next document (a changed file is reloaded; one that
no longer loads is logged and the version already loaded stays in use)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiosk.errors import ConfigError
from matcher.watchlist.documents import (
    SUFFIX,
    DocumentEntry,
    DocumentHit,
    DocumentListError,
    DocumentListStore,
    lookup_digests,
)

log = logging.getLogger("kiosk.document_lists")


@dataclass(frozen=True)
class DocumentListsConfig:
    path: Path | None = None  # document list store; none = no document-number lists
    key_file: Path | None = None  # the list key the numbers are hashed under (required with a path)
    lists: tuple[str, ...] = ()  # lists that must be there and non-empty (none: every list in the store)
    max_age_hours: float = 72.0  # a list refreshed longer ago stops the kiosk at start (0: no limit)


class DocumentScreen:
    """The loaded lists of one store; :meth:`check` looks a document reading up in all of them."""

    def __init__(self, store: DocumentListStore, key: bytes, list_ids: tuple[str, ...]) -> None:
        self._store = store
        self._key = key
        self._lists: dict[str, dict[str, DocumentEntry]] = {}
        self._stamps: dict[str, tuple[int, int]] = {}
        for list_id in list_ids:
            self._lists[list_id] = store.load(list_id)
            self._stamps[list_id] = self._stamp(list_id)

    def _stamp(self, list_id: str) -> tuple[int, int]:
        st = (self._store.path / f"{list_id}{SUFFIX}").stat()
        return st.st_mtime_ns, st.st_size

    def refresh(self) -> None:
        """Reload the lists whose file changed since they were loaded."""
        for list_id in self._lists:
            try:
                stamp = self._stamp(list_id)
                if stamp != self._stamps[list_id]:
                    self._lists[list_id] = self._store.load(list_id)
                    self._stamps[list_id] = stamp
            except (OSError, DocumentListError):
                log.exception("document list %s did not reload; the version loaded stays in use", list_id)

    def check(self, reading: Any) -> tuple[DocumentHit, ...]:
        """Hits of the document's MRZ (and of the chip's DG1 when it differs) on every list."""
        self.refresh()
        wanted: set[str] = set()
        for mrz in (getattr(reading, "mrz", None), getattr(reading, "chip_mrz", None)):
            if mrz is None:
                continue
            try:
                wanted |= lookup_digests(self._key, mrz.document_number, mrz.issuing_state, mrz.document_code)
            except ValueError:  # no usable number (empty): the document's own checks refer it
                continue
        return tuple(
            DocumentHit(list_id, entries[d].category, entries[d].reference)
            for list_id, entries in self._lists.items()
            for d in sorted(wanted & entries.keys())
        )


def open_document_lists(config: DocumentListsConfig, now: datetime | None = None) -> DocumentScreen | None:
    """The configured document lists, loaded and checked (see the module docstring; ``now`` judges their
    age, default the system clock), or None when none are configured. ConfigError naming the problem."""
    if config.path is None:
        return None
    from matcher.watchlist.sealing import read_key_file
    from matcher.watchlist.search import to_epoch

    if config.key_file is None:
        raise ConfigError("document_lists.key_file is required with document_lists.path")
    try:
        key = read_key_file(config.key_file)
        store = DocumentListStore(config.path, key)
        available = {li.list_id: li for li in store.lists()}
    except (OSError, ValueError, DocumentListError) as exc:
        raise ConfigError(f"document_lists: {exc}") from None
    wanted = config.lists or tuple(available)
    if not wanted:
        raise ConfigError(f"document list store {config.path} holds no list: nothing to check against")
    for list_id in wanted:
        info = available.get(list_id)
        if info is None:
            raise ConfigError(f"document_lists.lists names {list_id!r}, which is not in {config.path}")
        if info.entry_count == 0:
            raise ConfigError(f"document list {list_id!r} in {config.path} is empty")
        refreshed = info.bundle_issued_at or info.updated_at
        age_h = ((now or datetime.now(UTC)).timestamp() - to_epoch(refreshed)) / 3600
        if config.max_age_hours and age_h > config.max_age_hours:
            raise ConfigError(
                f"document list {list_id!r} was last refreshed at {refreshed} ({age_h:.0f} h ago), longer "
                f"ago than document_lists.max_age_hours = {config.max_age_hours:g}"
            )
    try:
        return DocumentScreen(store, key, wanted)
    except (OSError, DocumentListError) as exc:
        raise ConfigError(f"document_lists: {exc}") from None
