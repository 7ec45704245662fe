"""The store package: the one interface to the data (`GraphStore`) and the stores that offer it.

- interface.py: `GraphStore`, the part of a quad store with SPARQL that the modules use;
- access.py: what any `GraphStore` answers (the query gate, graphs read whole, sizes, version, export);
- embedded.py: the default, pyoxigraph's store on disk (opened, built and swapped whole);
- remote.py: a store held by another SPARQL engine (`answer_by`: a deadline for its reads).

`from kgserver import store as kgstore` gives all of it; nothing outside this package opens a store.
"""

from kgserver.store.access import (
    dataset_version,
    dump_by_subject,
    export,
    graph_sizes,
    query,
    read_graph,
    select_json,
)
from kgserver.store.embedded import (
    built_at,
    damaged,
    damaged_to_clients,
    is_damage,
    open_read_only,
    open_store,
    open_writable,
    read_existing,
    read_replaced,
    require_store,
    swap_into_place,
    write_store,
)
from kgserver.store.interface import GraphStore, QueryResult
from kgserver.store.remote import JsonSolutions, answer_by

__all__ = [
    "GraphStore",
    "JsonSolutions",
    "QueryResult",
    "answer_by",
    "built_at",
    "damaged",
    "damaged_to_clients",
    "dataset_version",
    "dump_by_subject",
    "export",
    "graph_sizes",
    "is_damage",
    "open_read_only",
    "open_store",
    "open_writable",
    "query",
    "read_existing",
    "read_graph",
    "read_replaced",
    "require_store",
    "select_json",
    "swap_into_place",
    "write_store",
]
