"""Dump files: the whole dataset and each named graph, gzip N-Quads and Turtle, one set per dataset version.

A dump is written once per version, on first request, into a cache directory, and then
served from disk. Its name carries the version (`ldn-kg-v7.nq.gz`, `graph-data-v7.ttl.gz`),
so a file never changes once written and its SHA-256 is its identity (ETag, Digest,
spdx:checksum). Writing is atomic (a temporary file, fsync, rename) and serialised per
file by a lock that holds across threads and processes, so concurrent first requests
write it once; a writer killed mid-way leaves only a temporary file that is never served
and is removed by the next writer. Writing a version's file removes older versions' files.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import gzip
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from pyoxigraph import NamedNode, RdfFormat, serialize

from kgserver.changes import DatasetState
from kgserver.config import Settings
from kgserver.errors import UnavailableError
from kgserver.representations import Form, by_suffix, offered
from kgserver.store import GraphStore

log = logging.getLogger("kgserver.dumps")

GZIP_MEDIA_TYPE = "application/gzip"

_VERSIONED = re.compile(r"^(?P<stem>.+)-v(?P<version>\d+)\.(?P<ext>nq|ttl)\.gz$")
_VERSION_IN_NAME = re.compile(r"-v(\d+)\.(?:nq|ttl)\.gz")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CHUNK = 1 << 20
_ABANDONED_SECONDS = 600  # a temporary file this old is no writer's any more
_GZIP_LEVEL = 6


@dataclass(frozen=True)
class DumpSpec:
    """One dump the current version offers: its file name, what it holds and in which format."""

    name: str
    extension: str  # "nq" or "ttl"
    graph: str | None  # None: the whole dataset
    version: int
    modified: datetime | None

    @property
    def format(self) -> Form:
        form = by_suffix("dumps", self.extension)
        assert form is not None
        return form

    @property
    def title(self) -> str:
        what = "the whole dataset" if self.graph is None else f"the named graph <{self.graph}>"
        return f"{what} as gzip {self.format.engine.name.replace('_', '-').title()}, version {self.version}"


@dataclass(frozen=True)
class DumpFile:
    """A dump written to disk: where it is, its size and its SHA-256."""

    spec: DumpSpec
    path: Path
    size: int
    sha256: bytes

    @property
    def hex_digest(self) -> str:
        return self.sha256.hex()

    @property
    def base64_digest(self) -> str:
        return base64.b64encode(self.sha256).decode("ascii")

    @property
    def etag(self) -> str:
        """A strong validator: the file's bytes never change under its name."""
        return f"sha256-{self.hex_digest[:40]}"


def graph_slug(iri: str, settings: Settings) -> str:
    """A file-name-safe name for a graph: the path after `{base}graph/`, with '/' as '-'.

    Example: https://w3id.org/ldn-kg/graph/submission/2026/abc -> submission-2026-abc.
    A graph outside that space is named by a hash of its IRI, so no IRI can shape a path.
    """
    prefix = f"{settings.base}graph/"
    if iri.startswith(prefix):
        slug = _UNSAFE.sub("-", iri[len(prefix):].replace("/", "-")).strip(".-")
        if slug:
            return slug
    return "iri-" + hashlib.sha256(iri.encode("utf-8")).hexdigest()[:16]



def _extensions() -> list[str]:
    """The file extension of each form a dump is written in (N-Quads first)."""
    return [form.suffix for form in offered("dumps")]

def plan(state: DatasetState, settings: Settings, graphs: Sequence[str]) -> tuple[DumpSpec, ...]:
    """The dumps of the dataset at `state`: the whole dataset, then each of `graphs`, each in N-Quads and Turtle."""
    specs: list[DumpSpec] = []
    for extension in _extensions():
        specs.append(DumpSpec(f"ldn-kg-v{state.version}.{extension}.gz", extension, None, state.version, state.modified))
    used: set[str] = set()
    for graph in sorted(graphs):
        slug = graph_slug(graph, settings)
        if slug in used:  # two IRIs that slug alike: keep both apart
            slug = f"{slug}-{hashlib.sha256(graph.encode('utf-8')).hexdigest()[:8]}"
        used.add(slug)
        change = state.change_of(graph)  # None for the meta graph, which changes with every version
        modified = change.modified if change is not None else state.modified
        version = change.version if change is not None else state.version
        for extension in _extensions():  # named by the graph's own version, so an unchanged graph keeps its files
            specs.append(DumpSpec(f"graph-{slug}-v{version}.{extension}.gz", extension, graph, version, modified))
    return tuple(specs)


def current_name_for(name: str, specs: Sequence[DumpSpec]) -> str | None:
    """For a dump name of another version, the name of the same dump now, if it still exists."""
    match = _VERSIONED.match(name)
    if match is None:
        return None
    return next(
        (spec.name for spec in specs if (m := _VERSIONED.match(spec.name)) and
         (m["stem"], m["ext"]) == (match["stem"], match["ext"])),
        None,
    )


class DumpCache:
    """The directory of dump files: writes each dump once, hands back its size and checksum."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._digests: dict[tuple[str, int, int], bytes] = {}

    def ensure(self, store: GraphStore, spec: DumpSpec, prefixes: Mapping[str, str]) -> DumpFile:
        """The dump on disk, written now if no process has written it yet."""
        target = self.directory / spec.name
        existing = self._existing(spec, target)
        if existing is not None:
            return existing
        try:
            with self._exclusive(spec.name):
                existing = self._existing(spec, target)
                if existing is not None:
                    return existing
                return self._write(store, spec, target, prefixes)
        except OSError as error:  # a read-only or full disk: say so, and keep the path out of the answer
            log.error("cannot write the dump %s into %s: %s", spec.name, self.directory, error)
            raise UnavailableError(
                f"the dump files cannot be written on this server now ({error.strerror or error})"
            ) from None

    def _existing(self, spec: DumpSpec, target: Path) -> DumpFile | None:
        try:
            stat = target.stat()
        except FileNotFoundError:
            return None
        key = (spec.name, stat.st_size, stat.st_mtime_ns)
        digest = self._digests.get(key)
        if digest is None:  # written by another process: hash it once here
            digest = _file_sha256(target)
            self._digests[key] = digest
        return DumpFile(spec, target, stat.st_size, digest)

    @contextlib.contextmanager
    def _exclusive(self, name: str) -> Iterator[None]:
        """Hold the file's lock: one lock per name within the process, and a lock file across processes."""
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            with open(self.directory / f".{name}.lock", "a+b") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def _write(self, store: GraphStore, spec: DumpSpec, target: Path, prefixes: Mapping[str, str]) -> DumpFile:
        """Serialise into a temporary file, fsync it and rename it into place."""
        for leftover in self.directory.glob(f".{spec.name}.tmp-*"):  # a killed writer's; we hold the lock
            leftover.unlink(missing_ok=True)
        temporary = self.directory / f".{spec.name}.tmp-{os.getpid()}-{threading.get_ident()}"
        digest = hashlib.sha256()
        try:
            with open(temporary, "wb") as raw:
                hashing = _HashingWriter(raw, digest)
                with gzip.GzipFile(fileobj=hashing, mode="wb", compresslevel=_GZIP_LEVEL, mtime=0) as zipped:
                    write_dump(store, spec, zipped, prefixes)
                raw.flush()
                os.fsync(raw.fileno())
                size = hashing.size
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        _fsync_directory(self.directory)
        stat = target.stat()
        self._digests[(spec.name, stat.st_size, stat.st_mtime_ns)] = digest.digest()
        return DumpFile(spec, target, size, digest.digest())

    def prune(self, current: Sequence[DumpSpec]) -> None:
        """Remove dump files (and their lock files) that are no longer among the `current` dumps.

        A download of a removed file that is still being sent finishes: the open file lives on.
        """
        keep = {spec.name for spec in current}
        # A request that read an older version must not remove what one at a newer version just wrote.
        newest = max((int(found.group(1)) for spec in current if (found := _VERSION_IN_NAME.search(spec.name))),
                     default=0)
        stale_before = time.time() - _ABANDONED_SECONDS
        for path in self.directory.glob("*"):
            name = path.name.removeprefix(".").removesuffix(".lock").split(".tmp-")[0]
            version = _VERSION_IN_NAME.search(name)
            if not version or name in keep or int(version.group(1)) > newest:
                continue
            try:
                abandoned = ".tmp-" not in path.name or path.stat().st_mtime < stale_before  # a killed writer's
            except FileNotFoundError:  # another request's temporary file, renamed or removed since the glob
                continue
            if abandoned:
                path.unlink(missing_ok=True)


def write_dump(store: GraphStore, spec: DumpSpec, output: BinaryIO, prefixes: Mapping[str, str]) -> None:
    """Serialise what the dump holds, uncompressed, to `output`."""
    fmt = spec.format.engine
    assert isinstance(fmt, RdfFormat)
    if spec.graph is None and fmt is RdfFormat.N_QUADS:
        store.dump(output, format=fmt)
    elif spec.graph is None:  # the union of the named graphs, each triple once
        triples = store.query("CONSTRUCT { ?s ?p ?o } WHERE { SELECT DISTINCT ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } } }")
        serialize(triples, output, fmt, prefixes=dict(prefixes))
    elif fmt is RdfFormat.N_QUADS:  # keep the graph name, which dump(from_graph=...) would drop
        serialize(store.quads_for_pattern(None, None, None, NamedNode(spec.graph)), output, fmt)
    else:
        store.dump(output, format=fmt, from_graph=NamedNode(spec.graph), prefixes=dict(prefixes))


class _HashingWriter:
    """A write-only file object that hashes and counts what passes through to `raw`."""

    def __init__(self, raw: BinaryIO, digest: hashlib._Hash) -> None:
        self._raw = raw
        self._digest = digest
        self.size = 0

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        self.size += len(data)
        return self._raw.write(data)

    def flush(self) -> None:
        self._raw.flush()


def _file_sha256(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.digest()


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable: a crash after it must not bring back the old directory entry."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
