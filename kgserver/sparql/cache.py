"""A bounded in-memory cache of small query results, so a repeated query is answered at once.

Keys include the dataset version, so results never outlive the data they came from.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from kgserver.sparql.execution import Head


@dataclass(frozen=True)
class CachedResult:
    """A complete, serialised response body and its head."""

    head: Head
    body: bytes


class ResultCache:
    """Least-recently-used results, at most `max_bytes` in all and `max_entry_bytes` each."""

    def __init__(self, max_bytes: int, max_entry_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.max_entry_bytes = min(max_entry_bytes, max_bytes)
        self._entries: OrderedDict[Hashable, CachedResult] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> CachedResult | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: Hashable, entry: CachedResult) -> None:
        """Keep `entry` if it is small enough, evicting the least recently used to make room."""
        if len(entry.body) > self.max_entry_bytes:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._size -= len(previous.body)
            self._entries[key] = entry
            self._size += len(entry.body)
            while self._size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._size -= len(evicted.body)
