"""The dataset's change records: each commit moves the version by one, records only what changed, atomically."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyoxigraph import NamedNode, Store
from rdflib import Graph

from kgserver import changes
from kgserver.config import Settings

SETTINGS = Settings(root=Path("."))
A = f"{SETTINGS.base}graph/submission/a"
B = f"{SETTINGS.base}graph/submission/b"


def graph(*objects: str) -> Graph:
    return Graph().parse(data="".join(f'<http://example.org/s> <http://example.org/p> "{o}" .\n' for o in objects), format="nt")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(str(tmp_path / "store"))


def test_each_commit_that_changes_something_moves_the_version_by_one(store: Store) -> None:
    first = changes.commit(store, SETTINGS, {A: graph("1")})
    second = changes.commit(store, SETTINGS, {B: graph("2")})
    assert (first.version, second.version) == (1, 2)
    assert second.change_of(A).version == 1 and second.change_of(B).version == 2
    assert changes.read_state(store, SETTINGS) == second


def test_committing_the_same_content_again_changes_nothing(store: Store) -> None:
    state = changes.commit(store, SETTINGS, {A: graph("1", "2")})
    assert changes.commit(store, SETTINGS, {A: graph("2", "1")}) == state


def test_a_deleted_graph_leaves_the_store_and_is_recorded_as_deleted(store: Store) -> None:
    changes.commit(store, SETTINGS, {A: graph("1"), B: graph("2")})
    state = changes.commit(store, SETTINGS, {}, delete=[A])
    assert state.version == 2 and state.live_graphs == (B,)
    assert state.change_of(A).deleted and state.since(1) == (state.change_of(A),)
    assert not store.contains_named_graph(NamedNode(A))


def test_an_empty_graph_is_no_graph(store: Store) -> None:
    changes.commit(store, SETTINGS, {A: graph("1")})
    state = changes.commit(store, SETTINGS, {A: Graph()})
    assert state.change_of(A).deleted and not store.contains_named_graph(NamedNode(A))


def test_a_fresh_store_takes_the_history_of_the_one_it_replaces(store: Store, tmp_path: Path) -> None:
    old = changes.commit(store, SETTINGS, {A: graph("1"), B: graph("2")})
    fresh = Store(str(tmp_path / "fresh"))
    state = changes.commit(fresh, SETTINGS, {A: graph("1")}, previous=old)
    assert state.version == 2 and state.change_of(A).version == 1 and state.change_of(B).deleted
    assert fresh.contains_named_graph(NamedNode(A)) and not fresh.contains_named_graph(NamedNode(B))


def test_the_state_knows_the_size_of_the_meta_graph(store: Store) -> None:
    changes.commit(store, SETTINGS, {A: graph("1"), B: graph("2")})
    state = changes.commit(store, SETTINGS, {}, delete=[A])
    stored = sum(1 for _ in store.quads_for_pattern(None, None, None, NamedNode(SETTINGS.meta_graph)))
    assert state.meta_triples == stored


def test_a_graph_is_attributed_to_whoever_wrote_it_and_a_fresh_store_keeps_saying_so(store: Store, tmp_path: Path) -> None:
    curators = f"{SETTINGS.base}id/ldn-kg-curators"
    first = changes.commit(store, SETTINGS, {A: graph("1"), B: graph("2")}, attributed={A: curators})
    assert first.change_of(A).attributed_to == curators and first.change_of(B).attributed_to is None
    assert changes.read_state(store, SETTINGS) == first
    rows = store.query(f"SELECT ?who WHERE {{ GRAPH <{SETTINGS.meta_graph}> {{ <{A}> <http://www.w3.org/ns/prov#wasAttributedTo> ?who }} }}")
    assert [row["who"].value for row in rows] == [curators]
    # a rebuild into a fresh store with the same content keeps the version and attributes B as well
    fresh = Store(str(tmp_path / "fresh"))
    again = changes.commit(fresh, SETTINGS, {A: graph("1"), B: graph("2")}, previous=first, attributed={A: curators, B: curators})
    assert again.version == first.version and again.change_of(B).attributed_to == curators
    stored = sum(1 for _ in fresh.quads_for_pattern(None, None, None, NamedNode(SETTINGS.meta_graph)))
    assert again.meta_triples == stored



class Recording:
    """A store that keeps each update text it is sent, then applies it."""

    def __init__(self, store: Store) -> None:
        self.store, self.updates = store, []

    def __getattr__(self, name: str):
        return getattr(self.store, name)

    def update(self, text: str, **options) -> None:
        self.updates.append(text)
        self.store.update(text, **options)


def _operations(text: str) -> list[str]:
    """The names of the operations in an update request, as rdflib's SPARQL parser reads it."""
    from rdflib.plugins.sparql.parser import parseUpdate

    return [operation.name for operation in parseUpdate(text).request]


def test_a_change_is_one_update_operation_so_no_engine_can_apply_half_of_it(store: Store) -> None:
    """Virtuoso commits each operation of a request on its own: the graphs and their records must be one operation."""
    recording = Recording(store)
    changes.commit(recording, SETTINGS, {A: graph("1"), B: graph("2")})
    changes.commit(recording, SETTINGS, {A: graph("3")})  # a graph replaced, its record and the version with it
    assert [_operations(text) for text in recording.updates] == [["Modify"], ["Modify"]]
    changes.commit(recording, SETTINGS, {}, delete=[B])  # a graph deleted: emptied in the change, then forgotten
    assert _operations(recording.updates[-1]) == ["Modify", "Drop"]
    state = changes.read_state(store, SETTINGS)
    assert state.version == 3 and state.live_graphs == (A,)
    assert {t.object.value for t in store.quads_for_pattern(None, None, None, NamedNode(A))} == {"3"}


def test_blank_nodes_are_written_once_each_with_their_links(store: Store) -> None:
    """Blank nodes go in the change's template (Virtuoso refuses them in INSERT DATA), once, however many triples are replaced."""
    with_blank = Graph().parse(data="""
        <http://example.org/s> <http://example.org/dose> [ <http://example.org/value> "4.5" ; <http://example.org/unit> "mg" ] .
        <http://example.org/s> <http://example.org/p> "x" .""", format="turtle")
    changes.commit(store, SETTINGS, {A: graph("1", "2", "3")})
    changes.commit(store, SETTINGS, {A: with_blank})
    quads = list(store.quads_for_pattern(None, None, None, NamedNode(A)))
    assert len(quads) == 4
    dose = next(q.object for q in quads if q.predicate.value == "http://example.org/dose")
    assert {q.object.value for q in quads if q.subject == dose} == {"4.5", "mg"}


def test_the_version_alone_reads_zero_for_a_store_without_records_and_follows_each_commit(store: Store) -> None:
    assert changes.read_version(store, SETTINGS) == 0
    changes.commit(store, SETTINGS, {A: graph("1")})
    changes.commit(store, SETTINGS, {B: graph("2")})
    assert changes.read_version(store, SETTINGS) == 2 == changes.read_state(store, SETTINGS).version
