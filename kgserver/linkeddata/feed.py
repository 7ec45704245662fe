"""The change feed: a Linked Data Event Stream of named-graph changes, paged with TREE relations.

Each member is the latest change of one named graph (the retention policy keeps only the
latest version of each graph): which graph, the version and time of the change, its size
and content hash, and the graph's content as it is now, carried in the page as a named
graph whose name is the member's IRI. A deletion is a member typed as:Delete with no
content. The meta graph is always a member at the current version. A member's IRI resolves
to the member alone, described and carried as a page does.

Members are ordered by version, then graph IRI. A page is named by a cursor,
`changes?since=V` (the members changed after version V) with `&skip=K` when a page boundary
falls inside a version; so a harvester holding version V reads only what it lacks by
starting at `changes?since=V`. Everything is computed from the dataset state of the
request, so the feed follows the version without a restart.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain

from pyoxigraph import DefaultGraph, Literal, NamedNode, Quad

from kgserver.changes import DatasetState
from kgserver.config import Settings
from kgserver.linkeddata.dumps import graph_slug
from kgserver.linkeddata.void import (
    DCTERMS,
    HYDRA,
    LDES,
    RDF_TYPE,
    TREE,
    VOID,
    XSD,
    TripleList,
    integer_literal,
    time_literal,
)
from kgserver.store import GraphStore

ACTIVITY_STREAMS = "https://www.w3.org/ns/activitystreams#"
MAX_PAGE_MEMBERS = 100
MAX_PAGE_TRIPLES = 2000  # a member larger than this has a page of its own
CONTENT_BATCH = 10_000  # quads per serialised chunk of a page


@dataclass(frozen=True)
class Member:
    """The latest change of one named graph, as a member of the event stream."""

    iri: str
    graph: str
    version: int
    modified: datetime | None
    triples: int
    content_hash: str | None
    deleted: bool


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: the members changed after version `since`, less the first `skip` of them."""

    since: int
    skip: int = 0

    def iri(self, settings: Settings) -> str:
        return f"{settings.base}changes?since={self.since}" + (f"&skip={self.skip}" if self.skip else "")


@dataclass(frozen=True)
class Relation:
    """A TREE relation to the next page: its members have a version greater than (or equal to) `value`."""

    kind: str  # "GreaterThanRelation" or "GreaterThanOrEqualToRelation"
    value: int
    node: Cursor


@dataclass(frozen=True)
class Page:
    """One page of the feed, read at dataset version `version`."""

    cursor: Cursor
    version: int
    members: tuple[Member, ...]
    next: Relation | None


def stream_iri(settings: Settings) -> str:
    return f"{settings.base}changes"


def member_iri(settings: Settings, version: int, graph: str) -> str:
    return f"{settings.base}changes/v{version}/{graph_slug(graph, settings)}"


def members(state: DatasetState, settings: Settings, meta_triples: int) -> tuple[Member, ...]:
    """Every member of the stream at `state`, oldest first: one per graph ever held, plus the meta graph."""
    found = [
        Member(member_iri(settings, change.version, change.graph), change.graph, change.version, change.modified,
               change.triples, change.content_hash, change.deleted)
        for change in state.changes
    ]
    if state.version:
        meta = settings.meta_graph
        found.append(Member(member_iri(settings, state.version, meta), meta, state.version, state.modified,
                            meta_triples, None, False))
    return tuple(sorted(found, key=lambda member: (member.version, member.graph)))


def page(
    everything: Sequence[Member],
    version: int,
    cursor: Cursor,
    max_members: int = MAX_PAGE_MEMBERS,
    max_triples: int = MAX_PAGE_TRIPLES,
) -> Page:
    """The page at `cursor`: members in order until either bound is reached, at least one."""
    newer = [member for member in everything if member.version > cursor.since]
    remaining = newer[cursor.skip:]
    taken: list[Member] = []
    triples = 0
    for member in remaining:
        if taken and (len(taken) >= max_members or triples + member.triples > max_triples):
            break
        taken.append(member)
        triples += member.triples
    following = remaining[len(taken):]
    relation = None
    if following:
        last = taken[-1].version
        if following[0].version > last:
            relation = Relation("GreaterThanRelation", last, Cursor(last))
        else:  # the boundary falls inside version `last`: skip what this page and earlier ones hold of it
            held = sum(1 for member in newer[: cursor.skip + len(taken)] if member.version == last)
            relation = Relation("GreaterThanOrEqualToRelation", last, Cursor(last - 1, held))
    return Page(cursor, version, tuple(taken), relation)


def root_quads(settings: Settings, state: DatasetState) -> list[Quad]:
    """The stream itself: its paths, retention policy, and the view a harvester starts from."""
    out = TripleList()
    first = NamedNode(Cursor(0).iri(settings))
    _describe_stream(out, settings, first)
    out.add(first, RDF_TYPE, NamedNode(f"{TREE}Node"))
    search = out.node(first, f"{TREE}search")
    out.add(search, RDF_TYPE, NamedNode(f"{HYDRA}IriTemplate"))
    out.add(search, f"{HYDRA}template", Literal(f"{stream_iri(settings)}{{?since}}"))
    out.add(search, f"{HYDRA}variableRepresentation", NamedNode(f"{HYDRA}BasicRepresentation"))
    mapping = out.node(search, f"{HYDRA}mapping")
    out.add(mapping, f"{HYDRA}variable", Literal("since"))
    out.add(mapping, f"{HYDRA}property", NamedNode(f"{settings.prefixes['ldn']}changedInVersion"))
    out.add(mapping, f"{HYDRA}required", Literal("true", datatype=NamedNode(f"{XSD}boolean")))
    _read_at(out, settings, NamedNode(stream_iri(settings)), state)
    return _in_default_graph(out)


def page_quads(store: GraphStore, settings: Settings, state: DatasetState, current: Page) -> Iterator[list[Quad]]:
    """The page in batches: first its description and members, then each member's graph as it is now.

    The members' graphs are read from the store here, before the route sends a byte, so a store
    that fails makes a 503 rather than a page cut short: a page carries at most MAX_PAGE_TRIPLES
    triples of content and is read whole, unless it is one larger member alone, which is read
    as a member at its IRI is (`member_quads`).
    """
    out = TripleList()
    node = NamedNode(current.cursor.iri(settings))
    stream = NamedNode(stream_iri(settings))
    _describe_stream(out, settings, NamedNode(Cursor(0).iri(settings)))
    out.add(node, RDF_TYPE, NamedNode(f"{TREE}Node"))
    out.add(node, f"{DCTERMS}isPartOf", stream)
    _read_at(out, settings, node, state)
    if current.next is not None:
        relation = out.node(node, f"{TREE}relation")
        out.add(relation, RDF_TYPE, NamedNode(f"{TREE}{current.next.kind}"))
        out.add(relation, f"{TREE}path", NamedNode(f"{settings.prefixes['ldn']}changedInVersion"))
        out.add(relation, f"{TREE}value", integer_literal(current.next.value))
        out.add(relation, f"{TREE}node", NamedNode(current.next.node.iri(settings)))
    for member in current.members:
        _describe_member(out, settings, stream, member)
    content = chain.from_iterable(_content(store, member) for member in current.members)
    return _read_now(_in_default_graph(out), content, MAX_PAGE_TRIPLES)


def member_quads(store: GraphStore, settings: Settings, member: Member) -> Iterator[list[Quad]]:
    """A member on its own, as its IRI answers: what a page says of it, then the content a page carries for it.

    A member may carry a graph of any size, so it streams; its first batch is read here, before
    the route sends a byte, so a store that does not answer makes a 503 (`_read_now`).
    """
    out = TripleList()
    _describe_member(out, settings, NamedNode(stream_iri(settings)), member)
    return _read_now(_in_default_graph(out), _content(store, member), 0)


def latest_for(everything: Sequence[Member], iri: str) -> Member | None:
    """The member held now for the graph that `iri`, a member IRI of another version, was a change of.

    The retention policy keeps only the latest change of each graph, so an older member's IRI
    (`changes/v3/data` once `changes/v5/data` exists) names nothing the stream still holds.
    """
    name = iri.rpartition("/")[2]
    return next((member for member in everything if member.iri.rpartition("/")[2] == name), None)


def _content(store: GraphStore, member: Member) -> Iterator[list[Quad]]:
    """The member's graph as it is now, named by the member's IRI, in batches; nothing for a deletion."""
    if member.deleted:
        return
    name = NamedNode(member.iri)
    batch: list[Quad] = []
    for quad in store.quads_for_pattern(None, None, None, NamedNode(member.graph)):
        batch.append(Quad(quad.subject, quad.predicate, quad.object, name))
        if len(batch) == CONTENT_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _read_now(head: list[Quad], content: Iterator[list[Quad]], bound: int) -> Iterator[list[Quad]]:
    """`head`, then `content`, whose batches are read now until they hold more than `bound` quads or end.

    The route builds its headers after this returns, so a store that fails within this read is
    an error with a status and Retry-After. One that fails later, once the answer has begun, can
    only end the stream: the server closes the connection without the chunked body's last
    chunk, so the client sees a broken answer, never a short one that looks whole.
    """
    held = [head]
    count = 0
    while count <= bound and (batch := next(content, None)) is not None:
        held.append(batch)
        count += len(batch)
    return chain(held, content)


def _describe_stream(out: TripleList, settings: Settings, first: NamedNode) -> None:
    stream = NamedNode(stream_iri(settings))
    out.add(stream, RDF_TYPE, NamedNode(f"{LDES}EventStream"))
    out.add(stream, f"{LDES}timestampPath", NamedNode(f"{DCTERMS}modified"))
    out.add(stream, f"{LDES}versionOfPath", NamedNode(f"{DCTERMS}isVersionOf"))
    out.add(stream, f"{DCTERMS}isPartOf", NamedNode(settings.dataset_iri))
    out.add(stream, f"{DCTERMS}description", Literal(
        "Changes to the named graphs of LDN-KG. Only the latest version of each graph is kept: a member "
        "carries the graph as it is now; a deleted graph is an as:Delete member without content.", language="en"))
    policy = out.node(stream, f"{LDES}retentionPolicy")
    out.add(policy, RDF_TYPE, NamedNode(f"{LDES}LatestVersionSubset"))
    out.add(policy, f"{LDES}amount", integer_literal(1))
    out.add(stream, f"{TREE}view", first)


def _read_at(out: TripleList, settings: Settings, subject: NamedNode, state: DatasetState) -> None:
    """The dataset version (and its time) the document was read at."""
    out.add(subject, f"{settings.prefixes['ldn']}versionNumber", integer_literal(state.version))
    if state.modified is not None:
        out.add(subject, f"{DCTERMS}modified", time_literal(state.modified))


def _describe_member(out: TripleList, settings: Settings, stream: NamedNode, member: Member) -> None:
    ldn = settings.prefixes["ldn"]
    subject = NamedNode(member.iri)
    out.add(stream, f"{TREE}member", subject)
    out.add(subject, f"{DCTERMS}isVersionOf", NamedNode(member.graph))
    if member.modified is not None:
        out.add(subject, f"{DCTERMS}modified", time_literal(member.modified))
    if member.deleted:
        out.add(subject, RDF_TYPE, NamedNode(f"{ACTIVITY_STREAMS}Delete"))
        out.add(subject, f"{ldn}deletedInVersion", integer_literal(member.version))
        return
    out.add(subject, f"{ldn}changedInVersion", integer_literal(member.version))
    out.add(subject, f"{VOID}triples", integer_literal(member.triples))
    if member.content_hash is not None:
        out.add(subject, f"{ldn}contentHash", Literal(member.content_hash))


def _in_default_graph(out: TripleList) -> list[Quad]:
    return [Quad(t.subject, t.predicate, t.object, DefaultGraph()) for t in out.triples]
