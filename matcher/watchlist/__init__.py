"""Watchlists: lists of enrolled templates the gate searches every live face against (1:N, FAISS)."""

from matcher.watchlist.policy import ThresholdPolicy
from matcher.watchlist.search import Alert
from matcher.watchlist.store import (
    Entry,
    IndexCorruptError,
    ListInfo,
    NewEntry,
    WatchlistError,
    WatchlistMissingError,
    WatchlistStore,
)

__all__ = [
    "Alert",
    "Entry",
    "IndexCorruptError",
    "ListInfo",
    "NewEntry",
    "ThresholdPolicy",
    "WatchlistError",
    "WatchlistMissingError",
    "WatchlistStore",
]
