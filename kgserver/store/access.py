"""What every store answers, embedded or not: the one query gate, graphs read whole, sizes, the version, exports.

These reach the data only through `GraphStore` (interface.py), so they work on any store
that offers it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import BinaryIO, TypeVar

from pyoxigraph import Literal, NamedNode, RdfFormat
from rdflib import Graph

from kgserver.config import Settings
from kgserver.errors import InputError, KgError, UpdateRefusedError
from kgserver.sparql_lexer import (
    declared_prefixes,
    names_its_dataset,
    read_form,
    tokens,
)
from kgserver.store.interface import GraphStore, QueryResult
from kgserver.store.remote import (
    JsonSolutions,
    QueryRefusedError,
    RemoteStore,
    line_sorter,
)

_Result = TypeVar("_Result")  # what a store's query method answers

_DCTERMS_HAS_VERSION = "http://purl.org/dc/terms/hasVersion"


def read_graph(store: GraphStore, graph_iri: str) -> Graph:
    """A named graph of the store as an rdflib graph, for validation and reasoning."""
    data = store.dump(format=RdfFormat.N_TRIPLES, from_graph=NamedNode(graph_iri))
    graph = Graph()
    graph.parse(data=data, format="nt")
    return graph


def dump_by_subject(store: GraphStore, graph_iri: str, output: BinaryIO, spill: str) -> None:
    """A named graph as N-Triples into the file `output`, each subject's triples together, by the system's sort.

    Whatever order the store writes them in: the embedded store's graph comes subject by
    subject, Virtuoso's graph reads do not. `sort` writes straight to `output`, spilling to `spill`.
    """
    try:
        sorter = line_sorter(output, spill)
    except OSError as error:
        raise KgError(f"a graph is put in order by subject with the system's sort, which failed: {error}") from None
    assert sorter.stdin is not None
    try:
        store.dump(sorter.stdin, RdfFormat.N_TRIPLES, from_graph=NamedNode(graph_iri))
    except BaseException:
        sorter.kill()
        raise
    finally:
        sorter.stdin.close()
        status = sorter.wait()
    if status != 0:
        raise KgError(f"the system's sort failed (exit status {status}) putting <{graph_iri}> in order by subject")


def graph_sizes(store: GraphStore, graph_iris: tuple[str, ...]) -> dict[str, int]:
    """The number of triples in each of the given named graphs."""
    return {iri: sum(1 for _ in store.quads_for_pattern(None, None, None, NamedNode(iri))) for iri in graph_iris}


def dataset_version(store: GraphStore, settings: Settings) -> str | None:
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


def query(
    store: GraphStore,
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
    only `named_graphs` are visible to GRAPH; without them, a query's own FROM and FROM NAMED are
    its dataset, as the Protocol says. Relative IRIs resolve against `base_iri`.
    """
    form, is_update = read_form(sparql)
    if is_update and form is None:  # refused here, as for the embedded store, rather than in the engine's words
        raise UpdateRefusedError()
    union = isinstance(store, RemoteStore) or not names_its_dataset(sparql)  # an engine is told by the remote store
    return _asked(store.query, sparql, prefixes, default_graphs, named_graphs, base_iri, union)


def select_json(
    store: GraphStore,
    sparql: str,
    prefixes: Mapping[str, str] | None = None,
    default_graphs: Sequence[str] | None = None,
    named_graphs: Sequence[str] | None = None,
    base_iri: str | None = None,
) -> JsonSolutions | None:
    """A SELECT's answer as an engine's JSON, to send on as it came; None (nothing asked) for the embedded store or
    another form. The same gate as `query`."""
    if not isinstance(store, RemoteStore):
        return None
    return _asked(store.select_json, sparql, prefixes, default_graphs, named_graphs, base_iri)


def _asked(
    ask: Callable[..., _Result],
    sparql: str,
    prefixes: Mapping[str, str] | None,
    default_graphs: Sequence[str] | None,
    named_graphs: Sequence[str] | None,
    base_iri: str | None,
    union: bool = True,
) -> _Result:
    """`ask` (a store's query method) with the dataset as its arguments; its errors as one readable line."""
    try:
        dataset: dict[str, object] = {"use_default_graph_as_union": True} if union else {}  # pyoxigraph's union replaces a FROM
        if default_graphs is not None or named_graphs is not None:
            dataset = {
                "default_graph": [NamedNode(iri) for iri in default_graphs or ()],
                "named_graphs": [NamedNode(iri) for iri in named_graphs or ()],
            }
        return ask(sparql, prefixes=dict(prefixes or {}), base_iri=base_iri, **dataset)
    except SyntaxError as error:
        if read_form(sparql)[1]:
            raise UpdateRefusedError() from None
        raise InputError(_syntax_message(str(error), sparql, prefixes or {})) from None
    except QueryRefusedError as refused:  # the engine's own words; a prefix left undeclared is named as above
        undeclared = _undeclared(sparql, prefixes or {})
        if undeclared is None:
            raise
        raise InputError(f"SPARQL error ({refused.engine}): {undeclared}") from None
    except ValueError as error:  # an IRI of the dataset that is not an absolute IRI
        raise InputError(f"invalid graph IRI in the dataset: {error}") from None
    except RuntimeError as error:
        if "not supported" in str(error):  # such as a function the engine does not have: the query's, not ours
            raise InputError(f"the query cannot be answered: {_shorten(str(error))}") from None
        raise
    except OSError as error:
        raise KgError(f"the store could not answer the query ({error})") from None


def _syntax_message(message: str, sparql: str, prefixes: Mapping[str, str]) -> str:
    """The parser's message as one readable line: where, the text there, and why.

    Oxigraph's parser lists what it would have accepted, character ranges and all, and gives
    its semantic errors (an unbound variable in SELECT) as one more item of that list. When
    that list holds its catch-all (`[_]`), the keywords in it are those of a rule it happened
    to try last, so they are left out rather than offered as the fix.
    """
    message = " ".join(message.split())
    place = re.match(r"error at (\d+):(\d+): (.*)", message)
    if place is None:
        return f"SPARQL syntax error: {_shorten(message)}"
    line, column, said = int(place[1]), int(place[2]), place[3]
    if not any(True for _ in tokens(sparql)):
        return "SPARQL syntax error: the query is empty (or only comments)"
    where = f"SPARQL syntax error {_position(sparql, line, column)}"
    if (undeclared := _undeclared(sparql, prefixes)) is not None:  # wherever it is: the parser may not say so
        return f"{where}: {undeclared}"
    items = [item.strip() for item in re.findall(r'"(?:\\.|[^"\\])*"|\[[^\]]*\]|[^,\s][^,]*',
                                                    said.removeprefix("expected one of ").removeprefix("expected "))]
    reasons = [item for item in items if " " in item and item[0] not in "\"[<"]
    if reasons:
        return f"{where}: {'; '.join(_reason(reason, sparql) for reason in reasons)}"
    expected = _expected(items)
    if not expected:
        return f"{where}: the query cannot be read from here"
    return f"{where}: expected {_shorten('one of ' + ', '.join(expected) if len(expected) > 1 else expected[0])}"


_KEYWORDS_OFFERED = 3  # more keywords than this are alternatives of rules it tried, not the fix (LIMIT x: HAVING...)


def _expected(items: list[str]) -> list[str]:
    """What the parser would have accepted, in words: its punctuation, and a few keywords unless it had a catch-all."""
    catch_all = "[_]" in items
    punctuation = [item for item in items if item.startswith('"')]
    keywords = [item for item in items if item[0].isalpha()]
    keywords = [] if catch_all or len(keywords) > _KEYWORDS_OFFERED else keywords
    classes = [] if catch_all else [item for item in items if item.startswith("[")]
    kinds = ["a number"] if classes and all("'0'" in item and "'A'" not in item for item in classes) else \
        ["a name"] if classes else []
    return punctuation + keywords + kinds


def _position(sparql: str, line: int, column: int) -> str:
    """Where the error is: line:column with the text there and just before, or the end of the query."""
    lines = sparql.split("\n")
    if not 0 < line <= len(lines) or (line == len(lines) and column > len(lines[-1].rstrip())):
        return f"at the end of the query (after {_tail(sparql)})"
    text = lines[line - 1]
    before, there = text[: column - 1], text[column - 1:].split()
    return f'at {line}:{column}, at "{there[0][:20] if there else ""}"' + (f" (after {_tail(before)})" if before.strip() else "")


def _tail(text: str) -> str:
    """The last 20 characters of `text`, on one line and quoted, marked as cut when they are."""
    flat = " ".join(text.split())
    return f'"{"..." if len(flat) > 20 else ""}{flat[-20:].lstrip()}"'


_AGGREGATES = re.compile(r"\b(GROUP\s+BY|COUNT|SUM|MIN|MAX|AVG|SAMPLE|GROUP_CONCAT)\b", re.IGNORECASE)


def _reason(reason: str, sparql: str) -> str:
    """One of the parser's own sentences, with the usual cause of the unbound-variable one."""
    said = reason[0].lower() + reason[1:] if reason[1:2].islower() else reason
    if "variable that is unbound" in reason and _AGGREGATES.search(sparql):
        said += " (a variable selected beside an aggregate or with GROUP BY must be grouped by, or aggregated)"
    return said


def _undeclared(sparql: str, prefixes: Mapping[str, str]) -> str | None:
    """What to do about a prefix the query uses but neither declares nor is given, or None (every prefix is known)."""
    prefix = _undeclared_prefix(sparql, prefixes)
    if prefix is None:
        return None
    declared = f" (declared for every query: {', '.join(f'{name}:' for name in prefixes)})" if prefixes else ""
    return f"the prefix {prefix}: is not declared; add PREFIX {prefix}: <...>{declared}"


def _undeclared_prefix(sparql: str, prefixes: Mapping[str, str]) -> str | None:
    """The first prefix a query uses but neither declares nor is given (the engine's message lists characters instead)."""
    found = list(tokens(sparql))
    declared = set(prefixes) | set(declared_prefixes(found))
    return next((token.text.partition(":")[0] for token in found
                 if token.kind == "pname" and token.text.partition(":")[0] not in declared | {"_"}), None)


def _shorten(message: str, limit: int = 200) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."


def export(store: GraphStore, output: BinaryIO, fmt: RdfFormat = RdfFormat.N_QUADS) -> None:
    """Write every quad of the store to `output` in a dataset format (N-Quads or TriG)."""
    if not fmt.supports_datasets:
        raise InputError(f"{fmt.name} cannot hold named graphs; export as N-Quads or TriG")
    store.dump(output, format=fmt)
