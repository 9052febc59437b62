"""Watchlist errors (stable codes, see :mod:`matcher.errors`)."""

from __future__ import annotations

from matcher.errors import MatcherError


class WatchlistError(MatcherError):
    """A watchlist operation was refused (unknown list, duplicate or unknown ids, bad input)."""

    code = "WATCHLIST_INVALID"


class WatchlistMissingError(WatchlistError):
    """The store folder holds no watchlist store (only ``create=True`` makes one)."""

    code = "WATCHLIST_MISSING"


class IndexCorruptError(WatchlistError):
    """An index file is missing, altered or disagrees with the entries; ``rebuild`` recreates it."""

    code = "WATCHLIST_INDEX_CORRUPT"
