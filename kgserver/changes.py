"""The dataset's version and change records, kept in the meta graph so they commit with the data.

Every change to the dataset (a build that changes something, later a submission or a
retraction) replaces or deletes whole named graphs and moves the dataset version on by
one. The meta graph records, for each graph the dataset has ever held, the version in
which it last changed, when, its size and a hash of its content, or that it was deleted,
and, for a graph whose text someone wrote, who (`prov:wasAttributedTo`: the build's graphs
are the LDN-KG curators'), so that "who wrote this literal" is a query:
`GRAPH ?g { ?s ?p ?o } ?g prov:wasAttributedTo ?who`.
That is all a harvester needs to stay in sync (the change feed serves, for each graph
changed since the version it holds, the graph as it is now), and because the records are
written in the same transaction as the graphs they describe, they never disagree.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import subprocess
import sys
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyoxigraph import BlankNode, Literal, NamedNode, RdfFormat, parse, serialize
from rdflib import BNode, Graph

from kgserver.config import Settings
from kgserver.errors import InputError, KgError
from kgserver.store import GraphStore
from kgserver.store.dialects import STAGING_GRAPHS

_DCTERMS = "http://purl.org/dc/terms/"
_XSD = "http://www.w3.org/2001/XMLSchema#"
_OWL_VERSION_INFO = "http://www.w3.org/2002/07/owl#versionInfo"
_VOID_TRIPLES = "http://rdfs.org/ns/void#triples"
_PROV_ATTRIBUTED_TO = "http://www.w3.org/ns/prov#wasAttributedTo"
_LOAD_LINES = 100_000  # N-Triples lines in one bulk-load request


@dataclass(frozen=True)
class GraphChange:
    """The last change to one named graph: the version it happened in, when, and what the graph became."""

    graph: str
    version: int
    modified: datetime
    triples: int
    content_hash: str | None  # None when the change deleted the graph
    attributed_to: str | None = None  # the agent whose words the graph holds, if recorded

    @property
    def deleted(self) -> bool:
        return self.content_hash is None


@dataclass(frozen=True)
class DatasetState:
    """The dataset's current version, when it last changed, and the last change of every graph."""

    version: int = 0
    modified: datetime | None = None
    changes: tuple[GraphChange, ...] = field(default_factory=tuple)

    @property
    def live_graphs(self) -> tuple[str, ...]:
        """The named graphs the dataset holds now (the meta graph aside)."""
        return tuple(change.graph for change in self.changes if not change.deleted)

    def live_under(self, prefix: str) -> tuple[str, ...]:
        """The live graphs named under `prefix` (the curators' submissions, say), in order of name."""
        return tuple(sorted(graph for graph in self.live_graphs if graph.startswith(prefix)))

    def change_of(self, graph: str) -> GraphChange | None:
        return next((change for change in self.changes if change.graph == graph), None)

    @property
    def meta_triples(self) -> int:
        """How many triples the meta graph holds for this state (as `_meta_ntriples` writes them)."""
        if not self.version:
            return 0
        dataset = 4 if self.modified is not None else 3
        return dataset + sum(2 if change.deleted else 4 + bool(change.attributed_to) for change in self.changes)

    def since(self, version: int) -> tuple[GraphChange, ...]:
        """The graphs changed after `version`, oldest change first: what a replica at `version` lacks."""
        return tuple(change for change in self.changes if change.version > version)


def _terms(settings: Settings) -> dict[str, NamedNode]:
    ldn = settings.prefixes["ldn"]
    return {
        "version_number": NamedNode(f"{ldn}versionNumber"),
        "changed_in": NamedNode(f"{ldn}changedInVersion"),
        "deleted_in": NamedNode(f"{ldn}deletedInVersion"),
        "content_hash": NamedNode(f"{ldn}contentHash"),
        "modified": NamedNode(f"{_DCTERMS}modified"),
        "has_version": NamedNode(f"{_DCTERMS}hasVersion"),
        "triples": NamedNode(_VOID_TRIPLES),
        "attributed_to": NamedNode(_PROV_ATTRIBUTED_TO),
    }


def read_version(store: GraphStore, settings: Settings) -> int:
    """The dataset's version number alone (0 for a store without records): one lookup, to see whether to read the rest."""
    for quad in store.quads_for_pattern(NamedNode(settings.dataset_iri), _terms(settings)["version_number"], None,
                                        NamedNode(settings.meta_graph)):
        return int(quad.object.value)
    return 0


def read_state(store: GraphStore, settings: Settings) -> DatasetState:
    """The state recorded in the store's meta graph; an empty state for a store without records."""
    terms, meta = _terms(settings), NamedNode(settings.meta_graph)

    def value(subject: NamedNode, predicate: NamedNode) -> str | None:
        for quad in store.quads_for_pattern(subject, predicate, None, meta):
            return quad.object.value
        return None

    dataset = NamedNode(settings.dataset_iri)
    number = value(dataset, terms["version_number"])
    if number is None:
        return DatasetState()
    changes = []
    for predicate, deleted in ((terms["changed_in"], False), (terms["deleted_in"], True)):
        for quad in store.quads_for_pattern(None, predicate, None, meta):
            graph = quad.subject
            modified = value(graph, terms["modified"])
            changes.append(
                GraphChange(
                    graph=graph.value,
                    version=int(quad.object.value),
                    modified=_parse_time(modified),
                    triples=0 if deleted else int(value(graph, terms["triples"]) or 0),
                    content_hash=None if deleted else value(graph, terms["content_hash"]),
                    attributed_to=None if deleted else value(graph, terms["attributed_to"]),
                )
            )
    changes.sort(key=lambda change: (change.version, change.graph))
    return DatasetState(int(number), _parse_time(value(dataset, terms["modified"])), tuple(changes))


def content_hash(graph: Graph) -> str:
    """A hash of a graph's content that ignores blank node labels and triple order: SHA-256 of its lines in the
    W3C's canonical form (RDFC-1.0), sorted, so that anyone with an RDFC-1.0 implementation can compute it again.

    rdflib's to_canonical_graph, used before, took 1.3 s of every build for the shapes graph,
    and from a curator's submission 16 s for a list of 1,000 items, 13 s for 50 alike blank
    nodes and 52 s for a ring of 200, under the write lock; pyoxigraph's RDFC-1.0 takes 0.001-0.8 s
    for those. Blank nodes are put in order in a child process (`_canonical`), within a time limit.
    """
    written = graph.serialize(format="nt", encoding="utf-8")
    if any(isinstance(term, BNode) for triple in graph for term in triple):
        text = _canonical(written)
    else:  # pyoxigraph writes the lines, as RDFC-1.0's canonical N-Quads (its escapes, not rdflib's)
        text = serialize(parse(written, format=RdfFormat.N_QUADS), format=RdfFormat.N_QUADS)
    digest = hashlib.sha256()
    for line in sorted(filter(None, text.splitlines())):
        digest.update(line + b"\n")
    return f"sha256:{digest.hexdigest()}"


_CANONICAL_SECONDS = 5.0  # the longest a graph's blank nodes may take to be put in canonical order
_CANONICAL_FORM = """
import sys
from pyoxigraph import CanonicalizationAlgorithm, Dataset, RdfFormat, parse, serialize
dataset = Dataset(parse(sys.stdin.buffer.read(), format=RdfFormat.N_QUADS))
dataset.canonicalize(CanonicalizationAlgorithm.RDFC_1_0)
sys.stdout.buffer.write(serialize(dataset, format=RdfFormat.N_QUADS))
"""


def _canonical(nquads: bytes) -> bytes:
    """The quads with their blank nodes labelled by RDFC-1.0, computed in a child process that is killed at the limit.

    RDFC-1.0 takes exponential time on some graphs (blank nodes all linked to each other,
    trees of alike blank nodes: 155 of them took 4-13 s, 258 did not end in 40 s), and
    pyoxigraph holds Python's lock while it works: in the web process it would stop every
    request, and its time cannot be cut short in a thread. The child costs about 0.08 s.
    """
    try:
        done = subprocess.run([sys.executable, "-I", "-c", _CANONICAL_FORM], input=nquads, capture_output=True,
                              timeout=_CANONICAL_SECONDS, check=True)
    except subprocess.TimeoutExpired:
        raise InputError(
            f"the graph's blank nodes could not be put in canonical order (RDFC-1.0) within {_CANONICAL_SECONDS:g} s, "
            "which its content hash needs: they are too much alike (blank nodes all linked to each other, or a deep "
            "tree of identical ones); give some of them IRIs"
        ) from None
    except (OSError, subprocess.CalledProcessError) as error:
        detail = error.stderr.decode("utf-8", "replace").strip()[-300:] if isinstance(error, subprocess.CalledProcessError) else error
        raise KgError(f"putting a graph's blank nodes in canonical order failed: {detail}") from None
    return done.stdout


def commit(
    store: GraphStore,
    settings: Settings,
    replace: Mapping[str, Graph],
    delete: Iterable[str] = (),
    previous: DatasetState | None = None,
    now: datetime | None = None,
    attributed: Mapping[str, str] | None = None,
) -> DatasetState:
    """Replace and delete named graphs and record the change, all in one transaction.

    Graphs whose content equals what `previous` (by default the store's own state) records
    are left alone, so committing unchanged content changes nothing and keeps the version;
    otherwise the version moves on by one. A build passes the state of the store it
    replaces as `previous` and commits every graph into a fresh store: the history carries
    over, and a graph the old store had but the new one lacks is recorded as deleted.
    `attributed` names the agent whose words a graph holds; it is recorded for the graphs
    written (in a fresh store, every graph it names, changed or not).
    """
    fresh = not store.contains_named_graph(NamedNode(settings.meta_graph))
    previous = read_state(store, settings) if previous is None else previous
    delete = {*delete, *(iri for iri, graph in replace.items() if not len(graph))}  # a quad store has no empty graphs
    replace = {iri: graph for iri, graph in replace.items() if len(graph)}
    hashes = {iri: content_hash(graph) for iri, graph in replace.items()}
    changed = [iri for iri in replace if _hash_of(previous, iri) != hashes[iri]]
    dropped = set(delete) | (set(previous.live_graphs) if fresh else set())
    removed = sorted(iri for iri in dropped if iri in previous.live_graphs and iri not in replace)
    if not changed and not removed and not fresh:
        return previous
    moved = bool(changed or removed)
    version = previous.version + 1 if moved else previous.version
    when = (now or datetime.now(UTC)).replace(microsecond=0)
    attributed = attributed or {}
    records = {change.graph: change for change in previous.changes}
    if fresh:  # the whole meta graph is written: the graphs kept as they were get their attribution too
        for iri in set(records) & set(attributed) & set(replace):
            records[iri] = dataclasses.replace(records[iri], attributed_to=attributed[iri])
    for iri in changed:
        records[iri] = GraphChange(iri, version, when, len(replace[iri]), hashes[iri], attributed.get(iri))
    for iri in removed:
        records[iri] = GraphChange(iri, version, when, 0, None)
    state = DatasetState(
        version,
        when if moved else previous.modified,
        tuple(sorted(records.values(), key=lambda change: (change.version, change.graph))),
    )
    written = list(replace) if fresh else changed
    touched = None if fresh else [*changed, *removed]
    meta = settings.meta_graph
    inserts = [(iri, replace[iri].serialize(format="nt", encoding="utf-8")) for iri in written]
    inserts.append((meta, _meta_ntriples(state, settings, None if touched is None else set(touched)).encode("utf-8")))
    additions = Additions.of(inserts)
    limit, bulk = _template_limit(store), _inline_limit(store)
    staged: dict[str, str] = {}
    if bulk is not None and additions.row_count + additions.blank_count > bulk:
        staged = _load_staged(store, [(iri, text) for iri, text in inserts if iri != meta])
        additions = Additions.of([(iri, text) for iri, text in inserts if iri not in staged])
    elif limit is not None and additions.blank_count > limit:
        staged = _stage(store, additions, limit)
    try:
        change = one_operation(
            dropped=[*written, *removed, *([meta] if touched is None else [])],
            meta=meta,
            meta_subjects=[] if touched is None else [settings.dataset_iri, *touched],
            additions=additions,
            staged=staged,
        )
        # A store that keeps empty named graphs (pyoxigraph) is told to forget the removed ones, already
        # emptied by the change: applied on its own (Virtuoso), this cannot leave a change half made.
        store.update(" ;\n".join([change, *(f"DROP SILENT GRAPH <{iri}>" for iri in removed)]))
    finally:
        if staged:  # never part of a dataset (dialects.STAGING_GRAPHS): one left behind by a failure is only clutter
            with contextlib.suppress(KgError):
                store.update(" ;\n".join(f"DROP SILENT GRAPH <{iri}>" for iri in staged.values()))
    return state


@dataclass(frozen=True)
class Additions:
    """The triples a commit adds, per graph: those without blank nodes (sent as inline data) and those with."""

    rows: dict[str, list[str]]  # graph -> "(s p o)" rows of N-Triples terms
    blank: dict[str, list[tuple[str, str, str]]]  # graph -> (subject, predicate IRI, object), blank nodes relabelled

    @classmethod
    def of(cls, inserts: Iterable[tuple[str, bytes]]) -> Additions:
        """From (graph, N-Triples) pairs; each text's blank nodes are labelled apart from every other's."""
        rows: dict[str, list[str]] = {}
        blank: dict[str, list[tuple[str, str, str]]] = {}
        for number, (graph, ntriples) in enumerate(inserts):
            for triple in parse(ntriples, format=RdfFormat.N_TRIPLES):
                if isinstance(triple.subject, BlankNode) or isinstance(triple.object, BlankNode):
                    subject, obj = (_template_term(term, number) for term in (triple.subject, triple.object))
                    blank.setdefault(graph, []).append((subject, triple.predicate.value, obj))
                else:
                    rows.setdefault(graph, []).append(f"({triple.subject} {triple.predicate} {triple.object})")
        return cls(rows, blank)

    @property
    def blank_count(self) -> int:
        return sum(len(triples) for triples in self.blank.values())

    @property
    def row_count(self) -> int:
        return sum(len(rows) for rows in self.rows.values())


def one_operation(
    dropped: Iterable[str], meta: str, meta_subjects: Iterable[str], additions: Additions,
    staged: Mapping[str, str] | None = None,
) -> str:
    """A commit as one SPARQL Update operation (DELETE ... INSERT ... WHERE), so every engine applies it whole or not at all.

    Virtuoso commits each operation of a request on its own (an earlier INSERT DATA stays
    when a later operation fails) and refuses blank nodes in INSERT DATA; one DELETE/INSERT
    is one transaction there and takes blank nodes in its template. The WHERE clause is a
    UNION of branches, each binding the variables of one part of the templates only (a
    template triple with an unbound variable is left out): the triples of the graphs to
    empty, the meta records of `meta_subjects`, each graph's new triples without blank nodes
    as inline data, the blank-node triples `staged` in a graph of their own (target graph ->
    staging graph) to copy, and one solution binding the predicates of the other blank-node
    triples, so those are written once. Virtuoso 7.2 shapes it: a UNION branch that is VALUES
    alone gives no solution (hence the BIND beside it), an INSERT into a graph named by a
    variable is applied but answered 500 (so each graph's template names it), and its SQL
    for a template triple is long (hence the inline data, and staging past
    `Dialect.template_triples`).
    """
    staged = staged or {}
    branches, delete, insert = [], [], []
    graphs = " ".join(f"<{iri}>" for iri in dict.fromkeys(dropped))
    if graphs:
        branches.append(f"{{ GRAPH ?dropped {{ ?s ?p ?o }} VALUES ?dropped {{ {graphs} }} }}")
        delete.append("GRAPH ?dropped { ?s ?p ?o }")
    subjects = " ".join(f"<{iri}>" for iri in dict.fromkeys(meta_subjects))
    if subjects:
        branches.append(f"{{ GRAPH <{meta}> {{ ?record ?field ?value }} VALUES ?record {{ {subjects} }} }}")
        delete.append(f"GRAPH <{meta}> {{ ?record ?field ?value }}")
    for number, (graph, rows) in enumerate(additions.rows.items()):
        values = "\n".join(rows)
        branches.append(f"{{ BIND({number} AS ?new{number}) VALUES (?a{number} ?b{number} ?c{number}) {{\n{values}\n}} }}")
        insert.append(f"GRAPH <{graph}> {{ ?a{number} ?b{number} ?c{number} }}")
    for number, (graph, staging) in enumerate(staged.items()):
        branches.append(f"{{ GRAPH <{staging}> {{ ?x{number} ?y{number} ?z{number} }} }}")
        insert.append(f"GRAPH <{graph}> {{ ?x{number} ?y{number} ?z{number} }}")
    predicates: dict[str, str] = {}  # a blank-node triple's predicate IRI -> the variable bound to it
    for graph, triples in additions.blank.items():
        if graph in staged:
            continue
        lines = []
        for subject, predicate, obj in triples:
            lines.append(f"{subject} {predicates.setdefault(predicate, f'?q{len(predicates)}')} {obj} .")
        insert.append(f"GRAPH <{graph}> {{\n" + "\n".join(lines) + "\n}")
    if predicates:
        branches.append("{ " + " ".join(f"BIND(<{iri}> AS {variable})" for iri, variable in predicates.items()) + " }")
    clauses = ([f"DELETE {{ {' '.join(delete)} }}"] if delete else []) + ([f"INSERT {{ {' '.join(insert)} }}"] if insert else [])
    return "\n".join([*clauses, "WHERE { " + " UNION\n".join(branches) + " }"])


def _template_limit(store: GraphStore) -> int | None:
    """The most blank-node triples the store takes in one update's template (an engine's dialect says), None for any."""
    return getattr(getattr(store, "dialect", None), "template_triples", None)


def _inline_limit(store: GraphStore) -> int | None:
    """The most triples one commit sends inline before it loads them into staging graphs (engines only)."""
    return getattr(getattr(store, "dialect", None), "inline_triples", None)


def _load_staged(store: GraphStore, inserts: list[tuple[str, bytes]]) -> dict[str, str]:
    """Each graph's whole N-Triples into a staging graph with the engine's bulk load (the Graph Store Protocol).

    The commit's one operation then copies each staging graph into its graph, all or nothing,
    so a build of millions of triples is neither inline data nor a change made graph by graph.
    """
    run = uuid.uuid4().hex
    staged = {}
    for number, (graph, ntriples) in enumerate(inserts):
        staged[graph] = f"{STAGING_GRAPHS}{run}:{number}"
        # A blank node's label holds within one request: a graph with any is sent whole, others in parts.
        for part in [ntriples] if b"_:" in ntriples else _parts(ntriples, _LOAD_LINES):
            store.load(input=part, format=RdfFormat.N_TRIPLES, to_graph=NamedNode(staged[graph]))
    return staged


def _parts(ntriples: bytes, lines: int) -> Iterator[bytes]:
    """N-Triples in parts of at most `lines` lines."""
    rows = ntriples.splitlines(keepends=True)
    for start in range(0, len(rows), lines):
        yield b"".join(rows[start:start + lines])


def _stage(store: GraphStore, additions: Additions, limit: int) -> dict[str, str]:
    """Write each graph's blank-node triples into a staging graph, at most `limit` a request, a blank node's together.

    The change then copies them to their graph in its one operation: a blank node bound by
    its WHERE clause is the same node in the INSERT, so the links between them hold.
    """
    run = uuid.uuid4().hex
    staged = {}
    for number, (graph, triples) in enumerate(additions.blank.items()):
        staging = staged[graph] = f"{STAGING_GRAPHS}{run}:{number}"
        for chunk in _chunks(_linked(triples), limit):
            lines = "\n".join(f"{subject} <{predicate}> {obj} ." for subject, predicate, obj in chunk)
            store.update(f"INSERT {{ GRAPH <{staging}> {{\n{lines}\n}} }} WHERE {{ }}")
    return staged


def _linked(triples: list[tuple[str, str, str]]) -> list[list[tuple[str, str, str]]]:
    """The triples in groups that share blank nodes (a label names the same node within one update only)."""
    parent: dict[str, str] = {}

    def root(label: str) -> str:
        while parent.setdefault(label, label) != label:
            label = parent[label]
        return label

    for subject, _, obj in triples:
        labels = [term for term in (subject, obj) if term.startswith("_:")]
        parent[root(labels[0])] = root(labels[-1])
    groups: dict[str, list[tuple[str, str, str]]] = {}
    for triple in triples:
        first = triple[0] if triple[0].startswith("_:") else triple[2]
        groups.setdefault(root(first), []).append(triple)
    return list(groups.values())


def _chunks(groups: list[list[tuple[str, str, str]]], limit: int) -> Iterator[list[tuple[str, str, str]]]:
    """Groups packed into lists of at most `limit` triples (a larger group alone)."""
    chunk: list[tuple[str, str, str]] = []
    for group in groups:
        if chunk and len(chunk) + len(group) > limit:
            yield chunk
            chunk = []
        chunk += group
    if chunk:
        yield chunk


def _template_term(term: object, graph_number: int) -> str:
    """A term for an INSERT template; a blank node labelled apart from every other graph's (each N-Triples text had its own)."""
    if isinstance(term, BlankNode):
        return f"_:g{graph_number}_{''.join(char for char in term.value if char.isalnum())}"
    return str(term)


def _hash_of(state: DatasetState, graph: str) -> str | None:
    change = state.change_of(graph)
    return None if change is None else change.content_hash


def _meta_ntriples(state: DatasetState, settings: Settings, graphs: set[str] | None) -> str:
    """The meta graph's triples for `state` as N-Triples: the dataset's, and the records of `graphs` (None: all)."""
    terms = _terms(settings)
    dataset = NamedNode(settings.dataset_iri)
    version = Literal(str(state.version))
    triples = [
        (dataset, terms["has_version"], version),
        (dataset, NamedNode(_OWL_VERSION_INFO), version),
        (dataset, terms["version_number"], Literal(str(state.version), datatype=NamedNode(f"{_XSD}integer"))),
    ]
    if state.modified is not None:
        triples.append((dataset, terms["modified"], _time_literal(state.modified)))
    for change in state.changes:
        if graphs is not None and change.graph not in graphs:
            continue
        graph = NamedNode(change.graph)
        number = Literal(str(change.version), datatype=NamedNode(f"{_XSD}integer"))
        triples.append((graph, terms["deleted_in" if change.deleted else "changed_in"], number))
        triples.append((graph, terms["modified"], _time_literal(change.modified)))
        if not change.deleted:
            triples.append((graph, terms["triples"], Literal(str(change.triples), datatype=NamedNode(f"{_XSD}integer"))))
            triples.append((graph, terms["content_hash"], Literal(change.content_hash or "")))
            if change.attributed_to:
                triples.append((graph, terms["attributed_to"], NamedNode(change.attributed_to)))
    return "".join(f"{s} {p} {o} .\n" for s, p, o in triples)


def _time_literal(moment: datetime) -> Literal:
    return Literal(moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), datatype=NamedNode(f"{_XSD}dateTime"))


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text)


def record_loaded(store: GraphStore, settings: Settings, graphs: Iterable[str], now: datetime | None = None) -> DatasetState:
    """Record graphs loaded into a fresh store by other means (a bulk load) as version 1.

    For stores too big to pass through rdflib, such as the benchmarks' generated graphs:
    the hash is taken over the sorted N-Triples, which is exact when there are no blank nodes.
    """
    when = (now or datetime.now(UTC)).replace(microsecond=0)
    changes = []
    for iri in graphs:
        data = store.dump(format=RdfFormat.N_TRIPLES, from_graph=NamedNode(iri))
        lines = sorted(filter(None, data.splitlines()))
        digest = hashlib.sha256(b"".join(line + b"\n" for line in lines)).hexdigest()
        changes.append(GraphChange(iri, 1, when, len(lines), f"sha256:{digest}"))
    state = DatasetState(1, when, tuple(changes))
    meta = settings.meta_graph
    store.update(one_operation([meta], meta, [], Additions.of([(meta, _meta_ntriples(state, settings, None).encode("utf-8"))])))
    return state

