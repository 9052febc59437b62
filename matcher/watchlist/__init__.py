"""Watchlists: lists of enrolled templates the gate searches every live face against (1:N, FAISS)."""

from matcher.watchlist.disk import ListInfo
from matcher.watchlist.errors import IndexCorruptError, WatchlistError, WatchlistMissingError
from matcher.watchlist.policy import ThresholdPolicy
from matcher.watchlist.search import Alert
from matcher.watchlist.searcher import WatchlistSearcher
from matcher.watchlist.store import Entry, NewEntry, WatchlistStore

__all__ = [
    "Alert",
    "Entry",
    "IndexCorruptError",
    "ListInfo",
    "NewEntry",
    "ThresholdPolicy",
    "WatchlistError",
    "WatchlistMissingError",
    "WatchlistSearcher",
    "WatchlistStore",
]
