"""The search index on disk: tantivy's, beside the store, stamped with the dataset version it holds.

Tantivy (the Rust library behind Quickwit, through its Python binding) was chosen over SQLite
FTS5 after measuring both on the 1M-triple graph (bench/bench_search.py): both rank by BM25
and match prefixes, but FTS5 has no typo tolerance (it needs a vocabulary scan per query
word, or a C extension the standard library lacks), while tantivy answers a one-typo
(Levenshtein automaton) query from its term dictionary.

`<store>.search/` holds the index and `kgserver-search.json`, the dataset version it was made
from. A build writes a new index aside and renames it into place whole; a commit updates the
documents it touched and then stamps the new version, so an index is never ahead of what it
says. Only one process writes an index (tantivy locks it); the server is that process.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import tantivy

from kgserver.search.documents import Document
from kgserver.store import swap_into_place

STAMP = "kgserver-search.json"
SCHEMA_VERSION = 2  # bump when the fields change: an older index is rebuilt, never read wrongly

_WRITER_HEAP = 64 * 1024 * 1024


def index_directory(store_path: Path) -> Path:
    """Where the index of the store at `store_path` lies: beside it, as its dumps do."""
    return store_path.with_name(f"{store_path.name}.search")


def _schema() -> tantivy.Schema:
    """The fields: tokenized text to match words in, raw terms to match whole values, stored values to show."""
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("iri", stored=True, tokenizer_name="raw")
    builder.add_text_field("label", stored=True)
    builder.add_text_field("labels", stored=True)
    builder.add_text_field("exact", tokenizer_name="raw")  # each label lower-cased whole: exact matches first
    builder.add_text_field("authors", stored=True)
    builder.add_text_field("ids", tokenizer_name="raw")  # each identifier lower-cased whole
    builder.add_text_field("idtext", stored=True)  # the identifiers' words, for a part of one
    builder.add_text_field("text", stored=True)
    builder.add_text_field("related", stored=True)
    builder.add_text_field("types", stored=True, fast=True, tokenizer_name="raw")
    builder.add_text_field("kind", stored=True)
    builder.add_text_field("type", stored=True, tokenizer_name="raw")
    builder.add_text_field("graphs", stored=True, tokenizer_name="raw")
    builder.add_text_field("links", stored=True, tokenizer_name="raw")
    builder.add_float_field("weight", stored=True, fast=True)
    return builder.build()


SCHEMA = _schema()


def normalise(value: str) -> str:
    """A label or identifier as it is matched whole: lower case, inner spaces single."""
    return " ".join(value.lower().split())


def _tantivy_document(document: Document) -> tantivy.Document:
    """One document as tantivy stores it."""
    return tantivy.Document(
        iri=[document.iri],
        label=[document.label],
        labels=document.labels,
        exact=[normalise(label) for label in document.labels] or [""],
        authors=document.authors,
        ids=[normalise(identifier) for identifier in document.identifiers],
        idtext=document.identifiers,
        text=document.text,
        related=document.related,
        types=document.types,
        kind=[document.kind],
        type=[document.kind_type],
        graphs=sorted(document.graphs),
        links=sorted(document.links),
        weight=[document.weight],
    )


@dataclass(frozen=True)
class Stamp:
    """What an index says of itself: the dataset version it holds and how many documents."""

    version: int
    documents: int
    schema: int = SCHEMA_VERSION
    modified: str = ""  # when that version was made: the same number from a store built again is another dataset


def read_stamp(directory: Path) -> Stamp | None:
    """The index's stamp, or None when there is no usable index (missing, unreadable, older schema)."""
    try:
        data = json.loads((directory / STAMP).read_text(encoding="utf-8"))
        stamp = Stamp(int(data["version"]), int(data["documents"]), int(data["schema"]), str(data.get("modified", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return stamp if stamp.schema == SCHEMA_VERSION else None


def _write_stamp(directory: Path, stamp: Stamp) -> None:
    """Stamp the index, atomically: a crash leaves the old stamp or the new one."""
    partial = directory / f"{STAMP}.tmp"
    partial.write_text(json.dumps(stamp.__dict__) + "\n", encoding="utf-8")
    os.replace(partial, directory / STAMP)


def write_index(directory: Path, documents: Iterable[Document], version: int, modified: str = "",
                progress: Callable[[int], None] = lambda _: None) -> Stamp:
    """Write a whole new index from `documents` aside, then put it at `directory` in one rename."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.with_name(f"{directory.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        index = tantivy.Index(SCHEMA, path=str(staging), reuse=False)
        writer = index.writer(heap_size=_WRITER_HEAP, num_threads=1)
        count = 0
        for document in documents:
            if document.replaces:  # a subject met twice: its first document goes
                writer.delete_documents_by_term("iri", document.iri)
                if document.empty:
                    continue
            writer.add_document(_tantivy_document(document))
            count += 1
            if count % 20000 == 0:
                progress(count)
        writer.commit()
        writer.wait_merging_threads()
        index.reload()
        stamp = Stamp(version, index.searcher().num_docs, modified=modified)
        _write_stamp(staging, stamp)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    swap_into_place(staging, directory)
    return stamp


class SearchIndex:
    """An index opened for searching, and for updating by the one process that writes it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.stamp = read_stamp(directory)
        if self.stamp is None:
            raise FileNotFoundError(f"no usable search index at {directory}")
        self.index = tantivy.Index.open(str(directory))
        self._writer: tantivy.IndexWriter | None = None

    def searcher(self) -> tantivy.Searcher:
        """A searcher over the last committed state."""
        return self.index.searcher()

    def documents_in_graphs(self, graphs: Iterable[str]) -> tuple[set[str], set[str]]:
        """The IRIs with a document from any of these graphs, and the IRIs those documents link to."""
        searcher = self.searcher()
        graphs = list(graphs)
        if not graphs:
            return set(), set()
        query = tantivy.Query.term_set_query(SCHEMA, "graphs", graphs)
        found = searcher.search(query, limit=max(1, searcher.num_docs), count=False)
        iris, links = set(), set()
        for _, address in found.hits:
            stored = searcher.doc(address)
            iris.update(stored.get_all("iri"))
            links.update(stored.get_all("links"))
        return iris, links

    def replace(self, documents: list[Document], gone: Iterable[str], version: int, modified: str = "") -> Stamp:
        """Replace the documents of these IRIs (and drop those gone) in one commit, then stamp `version`."""
        if self._writer is None:
            self._writer = self.index.writer(heap_size=_WRITER_HEAP, num_threads=1)
        writer = self._writer
        for iri in [document.iri for document in documents] + list(gone):
            writer.delete_documents_by_term("iri", iri)
        for document in documents:
            writer.add_document(_tantivy_document(document))
        writer.commit()
        self.index.reload()
        count = self.searcher().num_docs
        self.stamp = Stamp(version, count, modified=modified)
        _write_stamp(self.directory, self.stamp)
        return self.stamp

    def close(self) -> None:
        """Let go of the writer (and tantivy's lock on the directory)."""
        if self._writer is not None:
            self._writer.wait_merging_threads()
            self._writer = None
