"""What search finds: one document per described IRI, its words sorted into labels, authors, identifiers and text.

A document gathers what the searchable graphs (every graph but the meta, shapes, examples
and inferred graphs) say of one IRI: its label and alternative labels, author lists, identifiers (DOI,
PMID, PMCID and the external IRIs it matches, as an IRI and as a compact id such as
MONDO:0005546), every other text literal (definitions, the article's words, quotations),
the labels of the value nodes it points to (a quantity such as "4.5 mg" belongs to the
regimen that has it, as an author list belongs to its source), and its weight: how many
other things link to it, so that the thing a claim is about outranks a passing mention.

The same code builds every document (the whole store at build time) and rebuilds those a
commit touched, so the two never disagree.
"""

from __future__ import annotations

import re
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pyoxigraph import Literal, NamedNode, RdfFormat, parse

from kgserver.config import Settings
from kgserver.store import GraphStore, dump_by_subject
from kgserver.store.dialects import PRIVATE_GRAPHS

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_RDFS = "http://www.w3.org/2000/01/rdf-schema#"
_SKOS = "http://www.w3.org/2004/02/skos/core#"
_SCHEMA = "http://schema.org/"
_DCTERMS = "http://purl.org/dc/terms/"
_OWL = "http://www.w3.org/2002/07/owl#"
_XSD = "http://www.w3.org/2001/XMLSchema#"
_QUDT = "http://qudt.org/schema/qudt/"

RDF_TYPE = f"{_RDF}type"
_SUBCLASS_OF = "http://www.w3.org/2000/01/rdf-schema#subClassOf"
_TEXT_DATATYPES = frozenset({f"{_XSD}string", f"{_RDF}langString"})
_LABELS = (f"{_RDFS}label", f"{_SKOS}prefLabel", f"{_SCHEMA}name", f"{_DCTERMS}title")
_ALTERNATIVES = frozenset({f"{_SKOS}altLabel", f"{_SKOS}hiddenLabel", f"{_SCHEMA}alternateName"})
_MATCHES = frozenset({f"{_SKOS}exactMatch", f"{_SKOS}closeMatch", f"{_OWL}sameAs", f"{_SCHEMA}sameAs"})
_GENERIC_TYPES = frozenset({f"{_OWL}NamedIndividual", f"{_OWL}Thing", f"{_RDFS}Resource"})


def _vocabulary(settings: Settings) -> tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str]]:
    """The predicates whose values are alternative labels, author names, identifiers; the classes of value nodes."""
    ldn = settings.prefixes["ldn"]
    alternatives = _ALTERNATIVES | {f"{ldn}title"}
    authors = frozenset({f"{ldn}authorList", f"{_DCTERMS}creator", f"{_SCHEMA}author"})
    identifiers = frozenset({f"{ldn}{name}" for name in ("doi", "pmid", "pmcid", "s2cid", "issn", "articleNumber")}
                            | {f"{_DCTERMS}identifier", f"{_SCHEMA}identifier"})
    # Nodes that only describe another (who wrote it, where it appeared, an amount, the curators'
    # reading of it): found through it.
    values = frozenset({f"{_QUDT}QuantityValue", f"{ldn}AuthorGroup", f"{ldn}Periodical", f"{ldn}CuratorInterpretation"})
    return alternatives, authors, identifiers, values


def searchable_graphs(settings: Settings, live_graphs: Iterable[str]) -> tuple[str, ...]:
    """The graphs search reads: what the dataset states, not its bookkeeping (meta, shapes, examples) or inferences.

    The reasoner's graph holds no text, and its inverse links would count every link twice.
    """
    skipped = unsearched_graphs(settings)
    return tuple(g for g in live_graphs if g not in skipped and not g.startswith(PRIVATE_GRAPHS))


def unsearched_graphs(settings: Settings) -> frozenset[str]:
    """The dataset's own graphs that search leaves out."""
    return frozenset({settings.meta_graph, settings.shapes_graph, settings.examples_graph, settings.inferred_graph})


@dataclass
class Document:
    """What search knows of one IRI."""

    iri: str
    label: str = ""
    labels: list[str] = field(default_factory=list)  # the label first, then alternative labels
    authors: list[str] = field(default_factory=list)
    identifiers: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    related: list[str] = field(default_factory=list)  # labels of the value nodes it points to
    types: list[str] = field(default_factory=list)
    graphs: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)  # the IRIs it points to (their weight depends on it)
    weight: float = 0.0
    kind: str = ""  # what it is, in words: the label of its class
    kind_type: str = ""  # that class
    replaces: bool = False  # an earlier document of the same IRI in this stream is to be dropped

    @property
    def empty(self) -> bool:
        """Nothing to find it by: no document is kept."""
        return not (self.labels or self.authors or self.identifiers or self.text or self.related)


@dataclass
class _Described:
    """The statements about one IRI, as read from the searchable graphs."""

    statements: list[tuple[str, NamedNode | Literal]] = field(default_factory=list)
    graphs: set[str] = field(default_factory=set)


def compact_ids(iri: str) -> list[str]:
    """An external IRI as people write its id: MONDO_0005546 gives MONDO:0005546 and MONDO_0005546."""
    local = local_name(iri)
    ids = [iri]
    if local and local != iri:
        ids.append(local)
        if "_" in local:
            ids.append(local.replace("_", ":", 1))
    return ids


class DocumentReader:
    """Documents from a store: all of them at once, or those of some IRIs after a commit."""

    def __init__(self, settings: Settings, store: GraphStore, graphs: Iterable[str]) -> None:
        self.settings = settings
        self.store = store
        self.graphs = tuple(graphs)
        self._graph_set = frozenset(self.graphs)
        self._alternatives, self._authors, self._identifiers, self._value_types = _vocabulary(settings)
        self._class_labels: dict[str, str] = {}
        self._skipped = sorted(unsearched_graphs(settings))
        self._superclasses: dict[str, tuple[str, ...]] | None = None

    def all_documents(self) -> Iterator[Document]:
        """Every document of the searchable graphs, in two passes over them that keep only counts and a few labels.

        The first pass counts the links to each IRI and keeps the labels of value nodes and
        the classes used; the second makes each subject's document from its run of statements
        (each graph's lines are sorted, so a subject's statements come together). A subject met
        again in another graph is read whole again at the end, and its first document
        replaced: `replaces` on the returned document says so.
        """
        with tempfile.TemporaryDirectory(prefix="kgserver-search-") as scratch:
            files = self._dump_graphs(Path(scratch))
            in_degree: dict[str, int] = defaultdict(int)
            value_labels: dict[str, str] = {}
            classes: set[str] = set()
            for iri, entry in _subject_runs(files):
                types = {obj.value for p, obj in entry.statements if p == RDF_TYPE}
                classes |= types
                if types & self._value_types:
                    value_labels[iri] = _first_label(entry)
                for target in {obj.value for predicate, obj in entry.statements
                               if isinstance(obj, NamedNode) and predicate != RDF_TYPE}:
                    in_degree[target] += 1  # once per thing linking to it, as _in_degree counts
            self._class_labels = {iri: label for iri in classes if (label := _first_label(self._read(iri)))}

            seen: set[str] = set()
            again: set[str] = set()
            for iri, entry in _subject_runs(files):
                if iri in seen:
                    again.add(iri)
                    continue
                seen.add(iri)
                document = self._document(iri, entry, value_labels.get, in_degree.get(iri, 0))
                if document is not None:
                    yield document
        if again:
            documents, gone = self.documents_of(again)
            for document in documents:
                document.replaces = True
                yield document
            for iri in gone:
                yield Document(iri=iri, replaces=True)

    def _dump_graphs(self, scratch: Path) -> list[tuple[str, Path]]:
        """Each searchable graph written once as N-Triples into `scratch`, by subject, for both passes to read.

        A store writes a graph out as an engine sends it with the Graph Store Protocol,
        streamed: no store is asked for a million rows in one answer. Its lines are sorted
        (`dump_by_subject`): Virtuoso's reads do not group a subject's triples, and each subject
        met again was read again with two queries (for the bundled graph, 454 documents made a
        second time: 2.5 s of a 2.8-s index build).
        """
        files = []
        for number, graph in enumerate(self.graphs):
            path = scratch / f"{number}.nt"
            with path.open("wb") as out:
                dump_by_subject(self.store, graph, out, str(scratch))
            files.append((graph, path))
        return files

    def documents_of(self, iris: Iterable[str]) -> tuple[list[Document], list[str]]:
        """The documents of these IRIs as the store holds them now, and the IRIs that no longer have one."""
        value_labels: dict[str, str | None] = {}

        def value_label(iri: str) -> str | None:
            """The label of a value node (None for anything else), read once."""
            if iri not in value_labels:
                entry = self._read(iri)
                types = {obj.value for p, obj in entry.statements if p == RDF_TYPE}
                value_labels[iri] = _first_label(entry) if types & self._value_types else None
            return value_labels[iri]

        kept, gone = [], []
        for iri in sorted(set(iris)):
            entry = self._read(iri)
            document = self._document(iri, entry, value_label, self._in_degree(iri)) if entry.statements else None
            (kept.append(document) if document is not None else gone.append(iri))
        return kept, gone

    def _read(self, iri: str) -> _Described:
        """What the searchable graphs say of one IRI."""
        entry = _Described()
        for quad in self.store.quads_for_pattern(NamedNode(iri), None, None, None):
            graph = quad.graph_name
            if isinstance(graph, NamedNode) and graph.value in self._graph_set and isinstance(quad.object, NamedNode | Literal):
                entry.statements.append((quad.predicate.value, quad.object))
                entry.graphs.add(graph.value)
        return entry

    def _in_degree(self, iri: str) -> int:
        """How many things link to this IRI (types aside) in the searchable graphs, counted by the store."""
        skipped = ", ".join(f"<{graph}>" for graph in self._skipped)
        rows = self.store.query(
            f"SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ GRAPH ?g {{ ?s ?p <{iri}> }} "
            f"FILTER(isIRI(?s) && ?p != <{RDF_TYPE}> && ?g NOT IN ({skipped}) "
            f'&& !STRSTARTS(STR(?g), "{PRIVATE_GRAPHS}")) }}'
        )
        for row in rows:  # type: ignore[union-attr]
            return int(row["n"].value)  # type: ignore[index]
        return 0

    def _kind_label(self, class_iri: str) -> str:
        """What a thing of this class is called: the class's label, else its local name."""
        if class_iri not in self._class_labels:
            self._class_labels[class_iri] = _first_label(self._read(class_iri)) or local_name(class_iri)
        return self._class_labels[class_iri]

    def _document(self, iri: str, entry: _Described, value_label: Callable[[str], str | None],
                  in_degree: int) -> Document | None:
        """The document of one IRI, or None when it is a value node (found through what points to it)."""
        types = [obj.value for p, obj in entry.statements if p == RDF_TYPE and obj.value not in _GENERIC_TYPES]
        if self._value_types.intersection(types):
            return None
        ancestors = self._ontology_superclasses()
        every_type = list(dict.fromkeys([*types, *(above for cls in types for above in ancestors.get(cls, ()))]))
        document = Document(iri=iri, types=every_type, graphs=set(entry.graphs), weight=float(in_degree))
        label = _first_label(entry)
        if label:
            document.label, document.labels = label, [label]
        for predicate, obj in entry.statements:
            if isinstance(obj, NamedNode):
                if predicate == RDF_TYPE:
                    continue
                document.links.add(obj.value)
                if predicate in _MATCHES:
                    document.identifiers.extend(compact_ids(obj.value))
                elif label_of_value := value_label(obj.value):
                    document.related.append(label_of_value)
                continue
            if predicate in self._identifiers:
                document.identifiers.append(obj.value)
            elif obj.datatype.value not in _TEXT_DATATYPES:
                continue
            elif predicate in _LABELS:
                if obj.value != label:
                    document.labels.append(obj.value)
            elif predicate in self._alternatives:
                document.labels.append(obj.value)
            elif predicate in self._authors:
                document.authors.append(obj.value)
            else:
                document.text.append(obj.value)
        document.labels = list(dict.fromkeys(document.labels))
        if document.empty:
            return None
        if not document.label:
            document.label = document.labels[0] if document.labels else iri
        document.kind_type = self._main_type(types)
        document.kind = self._kind_label(document.kind_type) if document.kind_type else ""
        return document

    def _ontology_superclasses(self) -> dict[str, tuple[str, ...]]:
        """Each class's superclasses in the project's ontology, read once: `type=ldn:Source` finds journal articles."""
        if self._superclasses is None:
            ldn = self.settings.prefixes["ldn"]
            parents: dict[str, set[str]] = defaultdict(set)
            # each rdfs:subClassOf once, closed here: Virtuoso refuses a path (subClassOf+) with neither end bound
            for quad in self.store.quads_for_pattern(None, NamedNode(_SUBCLASS_OF), None, NamedNode(self.settings.ontology_graph)):
                if isinstance(quad.subject, NamedNode) and isinstance(quad.object, NamedNode):
                    parents[quad.subject.value].add(quad.object.value)
            self._superclasses = {cls: tuple(sorted(a for a in _above(cls, parents) if a.startswith(ldn))) for cls in parents}
        return self._superclasses

    def _main_type(self, types: list[str]) -> str:
        """The class that says what a thing is: its first class of the project's ontology, else its first class."""
        own = sorted(t for t in types if t.startswith(self.settings.prefixes["ldn"]))
        return (own or sorted(types) or [""])[0]


def _above(cls: str, parents: dict[str, set[str]]) -> set[str]:
    """Every class above `cls` (its parents, theirs...), cycles and all."""
    seen: set[str] = set()
    todo = list(parents.get(cls, ()))
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(parents.get(current, ()))
    return seen - {cls}


def _subject_runs(files: list[tuple[str, Path]]) -> Iterator[tuple[str, _Described]]:
    """Each graph's statements about one IRI at a time, in the order its file lists them."""
    for graph, path in files:
        current: str | None = None
        entry = _Described()
        for triple in parse(path=str(path), format=RdfFormat.N_TRIPLES):
            if not isinstance(triple.subject, NamedNode) or not isinstance(triple.object, NamedNode | Literal):
                continue
            if triple.subject.value != current:
                if current is not None:
                    yield current, entry
                current, entry = triple.subject.value, _Described(graphs={graph})
            entry.statements.append((triple.predicate.value, triple.object))
        if current is not None:
            yield current, entry


def local_name(iri: str) -> str:
    """The last segment of an IRI (after its last / or #): a name when there is no label."""
    return re.split(r"[/#]", iri.rstrip("/"))[-1]


def _first_label(entry: _Described | None) -> str:
    """The label of a thing: an English or untagged rdfs:label (or prefLabel, name, title), in that order."""
    if entry is None:
        return ""
    for predicate in _LABELS:
        values = [obj for p, obj in entry.statements if p == predicate and isinstance(obj, Literal)]
        for obj in sorted(values, key=lambda o: (o.language not in ("en", None), o.value)):
            return obj.value
    return ""
