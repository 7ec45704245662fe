"""The persistent store: named graphs, the dataset version, and the one gate every query passes."""

from __future__ import annotations

import gc
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO, TypeVar

from pyoxigraph import (
    Literal,
    NamedNode,
    QueryBoolean,
    QuerySolutions,
    QueryTriples,
    RdfFormat,
    Store,
)
from rdflib import Graph

from kgserver.config import Settings
from kgserver.errors import InputError, KgError, UpdateRefusedError
from kgserver.sparql_lexer import read_form

T = TypeVar("T")
QueryResult = QuerySolutions | QueryBoolean | QueryTriples

_BUILT_MARKER = "kgserver-built"
_DCTERMS_HAS_VERSION = "http://purl.org/dc/terms/hasVersion"


def open_store(path: Path) -> Store:
    """Open (or create) a writable on-disk store."""
    try:
        return Store(str(path))
    except OSError as error:
        raise KgError(f"{path}: cannot open the store for writing ({error})") from None


def require_store(path: Path) -> None:
    """Fail with a hint unless a built store exists at `path`, without opening it.

    Opening starts RocksDB's background threads, which a process must not have before it
    forks (a forked child crashes on exit if it did), so the server checks with this.
    """
    if not (path / "CURRENT").is_file():
        raise InputError(f"{path}: no store here; create it with: kgserver build --store {path}")


def open_read_only(path: Path, attempts: int = 20) -> Store:
    """Open an existing store for reading only, as the query processes and the query command do.

    A read-only open lists the live files and then opens them; when the writer (a running
    server) deletes one in between, as its background compaction does, RocksDB reports
    corruption (a RuntimeError). The next attempt sees the new list.
    """
    require_store(path)
    for attempt in range(attempts):
        try:
            return Store.read_only(str(path))
        except OSError as error:
            raise KgError(f"{path}: cannot open the store ({error})") from None
        except RuntimeError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.01)
    raise AssertionError("unreachable")


def write_store(target: Path, fill: Callable[[Store], T]) -> T:
    """Build a new store with `fill` and put it at `target` only if `fill` succeeds.

    The store is written into a sibling directory `target.tmp-<pid>` and renamed over
    `target` at the end, so a failed build never leaves a half-written store behind and
    the previous store stays as it was. `fill` must not keep a reference to the store.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        store = open_store(staging)
        outcome = fill(store)
        store.flush()
        del store
        gc.collect()  # the store closes when its last reference goes; it must be closed to move
        (staging / _BUILT_MARKER).write_text(f"{time.time():.0f}\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _swap_into_place(staging, target)
    return outcome


def built_at(path: Path) -> float:
    """When the store at `path` was built (epoch seconds), for HTTP Last-Modified.

    `write_store` leaves a marker file whose mtime is the build time; a store made
    another way falls back to the mtime of RocksDB's CURRENT file.
    """
    marker = path / _BUILT_MARKER
    return (marker if marker.is_file() else path / "CURRENT").stat().st_mtime


def _swap_into_place(staging: Path, target: Path) -> None:
    retired = target.with_name(f"{target.name}.old-{os.getpid()}")
    had_target = target.exists()
    if had_target:
        os.replace(target, retired)
    try:
        os.replace(staging, target)
    except OSError:
        if had_target:
            os.replace(retired, target)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def read_graph(store: Store, graph_iri: str) -> Graph:
    """A named graph of the store as an rdflib graph, for validation and reasoning."""
    data = store.dump(format=RdfFormat.N_TRIPLES, from_graph=NamedNode(graph_iri))
    graph = Graph()
    graph.parse(data=data, format="nt")
    return graph


def graph_sizes(store: Store, graph_iris: tuple[str, ...]) -> dict[str, int]:
    """The number of triples in each of the given named graphs."""
    return {iri: sum(1 for _ in store.quads_for_pattern(None, None, None, NamedNode(iri))) for iri in graph_iris}


def dataset_version(store: Store, settings: Settings) -> str | None:
    """The dataset's version as text, or None for a store not made by `kgserver build`."""
    for quad in store.quads_for_pattern(
        NamedNode(settings.dataset_iri),
        NamedNode(_DCTERMS_HAS_VERSION),
        None,
        NamedNode(settings.meta_graph),
    ):
        if isinstance(quad.object, Literal):
            return quad.object.value
    return None


def read_existing(path: Path, read: Callable[[Store], T], default: T) -> T:
    """Apply `read` to the store at `path` opened read-only and close it again; `default` if none is there."""
    if not (path / "CURRENT").is_file():
        return default
    store = open_read_only(path)
    try:
        return read(store)
    finally:
        del store
        gc.collect()


def read_replaced(path: Path, read: Callable[[Store], T], default: T) -> T:
    """Like `read_existing`, for a store about to be replaced: refused while another process has it open.

    A server holds its store open for writing; swapping the directory under it would send
    its later commits (acknowledged submissions) into a deleted directory. Opening the store
    for writing is how we learn that no one else has it: RocksDB lets one process do so.
    """
    if not (path / "CURRENT").is_file():
        return default
    try:
        store = Store(str(path))
    except OSError as error:
        if "lock" in str(error).lower():
            raise InputError(
                f"{path}: the store is open in another process (a running kgserver serve?); stop it before rebuilding"
            ) from None
        raise KgError(f"{path}: cannot open the store ({error})") from None
    try:
        return read(store)
    finally:
        del store
        gc.collect()


def query(
    store: Store,
    sparql: str,
    prefixes: Mapping[str, str] | None = None,
    default_graphs: Sequence[str] | None = None,
    named_graphs: Sequence[str] | None = None,
    base_iri: str | None = None,
) -> QueryResult:
    """Run a read-only SPARQL query, by default over the union of all named graphs.

    This is the one gate to the engine for queries from the CLI and the web: updates are
    refused and syntax errors become one-line InputErrors that give the position. `prefixes`
    may be used in the query without PREFIX declarations. Giving `default_graphs` or
    `named_graphs` (the protocol's default-graph-uri and named-graph-uri) replaces the
    dataset: the default graph is then the merge of `default_graphs` (empty if none) and
    only `named_graphs` are visible to GRAPH. Relative IRIs resolve against `base_iri`.
    """
    try:
        dataset: dict[str, object] = {"use_default_graph_as_union": True}
        if default_graphs is not None or named_graphs is not None:
            dataset = {
                "default_graph": [NamedNode(iri) for iri in default_graphs or ()],
                "named_graphs": [NamedNode(iri) for iri in named_graphs or ()],
            }
        return store.query(sparql, prefixes=dict(prefixes or {}), base_iri=base_iri, **dataset)
    except SyntaxError as error:
        if read_form(sparql)[1]:
            raise UpdateRefusedError() from None
        raise InputError(f"SPARQL syntax error: {_shorten(' '.join(str(error).split()))}") from None
    except ValueError as error:  # an IRI of the dataset that is not an absolute IRI
        raise InputError(f"invalid graph IRI in the dataset: {error}") from None
    except OSError as error:
        raise KgError(f"the store could not answer the query ({error})") from None


def _shorten(message: str, limit: int = 200) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."


def export(store: Store, output: BinaryIO, fmt: RdfFormat = RdfFormat.N_QUADS) -> None:
    """Write every quad of the store to `output` in a dataset format (N-Quads or TriG)."""
    if not fmt.supports_datasets:
        raise InputError(f"{fmt.name} cannot hold named graphs; export as N-Quads or TriG")
    store.dump(output, format=fmt)
