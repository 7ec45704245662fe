"""The web process's view of the store: one read handle per process and the dataset's current state."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from kgserver import changes
from kgserver import store as kgstore
from kgserver.config import Settings


class LiveDataset:
    """The store as the web routes see it: its state (version, graphs, sizes) and a handle for reading.

    The handle is opened lazily, in the process that uses it (gunicorn's worker, never its
    master), and shared by the worker's threads: pyoxigraph reads are thread-safe. Routes
    read `state` once per request and use that version for ETags and cache keys.
    """

    def __init__(self, settings: Settings, store_path: Path) -> None:
        self.settings = settings
        self.path = store_path
        self._lock = threading.Lock()
        self._store: kgstore.Store | None = None
        self._state = self._read_state()
        self._meta_size = self._count_meta()

    @property
    def store(self) -> kgstore.Store:
        """The read-only store, opened on first use in this process."""
        with self._lock:
            if self._store is None:
                self._store = kgstore.open_read_only(self.path)
            return self._store

    @property
    def state(self) -> changes.DatasetState:
        return self._state

    @property
    def version(self) -> str | None:
        """The version as text for ETags and cache keys; None for a store without records."""
        return str(self._state.version) if self._state.version else None

    @property
    def last_modified(self) -> datetime:
        """When the dataset last changed, to the second, for Last-Modified."""
        if self._state.modified is not None:
            return self._state.modified
        return datetime.fromtimestamp(int(kgstore.built_at(self.path)), tz=UTC)

    @property
    def graph_sizes(self) -> dict[str, int]:
        """Triples per live named graph, the meta graph included, as recorded with each change."""
        sizes = {change.graph: change.triples for change in self._state.changes if not change.deleted}
        if not sizes:  # a store loaded by other means: count what is there
            return kgstore.graph_sizes(self.store, self.settings.named_graphs)
        return {**sizes, self.settings.meta_graph: self._meta_size}

    def _read_state(self) -> changes.DatasetState:
        return kgstore.read_existing(self.path, lambda store: changes.read_state(store, self.settings), changes.DatasetState())

    def _count_meta(self) -> int:
        return kgstore.read_existing(
            self.path, lambda store: kgstore.graph_sizes(store, (self.settings.meta_graph,))[self.settings.meta_graph], 0
        )
