"""How each SPARQL engine differs: where its endpoints are, how a query is sent, how a failed or cut answer looks.

A store held by another engine (remote.py) speaks the SPARQL 1.1 Protocol, Update and the
Graph Store Protocol; what the standards leave open is said here, one small `Dialect` per
engine, so a further engine (Fuseki, QLever, GraphDB) is one more entry, not a rewrite.
Measured on the engines themselves (Virtuoso 7.2.5.1 from Debian, Oxigraph 0.5's server),
by tests/test_remote_store.py and tests/test_frontend.py:

- Virtuoso takes updates only at /sparql-auth (digest authentication); a query sent as a
  raw `application/sparql-query` body hangs, so queries go as GET or form. Its default graph
  is the union of *all* its graphs, its own included (virtrdf#, ldp#, localuriqaserver), and
  `GRAPH ?g` ranges over all of them unless `named-graph-uri` is given: the dataset's graphs
  are named in every query. It has no default graph of its own (the Graph Store Protocol
  refuses `?default`). It names a blank node `nodeID://b123` in JSON results (which a
  conforming parser refuses) and `_:b123` in N-Triples, and takes `<nodeID://b123>` in a
  query for that blank node, so blank nodes can be looked up again. Its JSON results give a
  literal with a datatype the type `typed-literal` (a draft's; the standard says `literal`), an
  `xsd:boolean` the value "1" or "0" (its N-Triples and XML: "true", "false"), and
  keys the standard does not have (`distinct`, `ordered`), which clients ignore. It answers ASK as a
  one-column table (`__ASK_RETVAL`, a row holding 1 for true, none for false). Past its
  `timeout` (milliseconds) it answers 200 with a cut result and `X-SQL-State: S1TAT`; it
  checks that limit every 2 s of the query's run (asked for 1, 3 or 5 s it stops at 2, 4 or
  6 s), and a client that disconnects does not stop it: it computes on to that limit. It
  sorts for a deep ordered page itself in 0.1-0.6 s at 1M triples, where kgserver's own
  paging plan (reading every solution unsorted) took over 5 s: its pages are left to it.
  It cuts any answer at its ResultSetMaxRows (INI) with status 200, saying so only in
  `X-SPARQL-MaxRows: N`: an answer read to such an end is an error, not a complete result.
  Its message on a bad query (400) says `SPARQL compiler, line N` of the text it was sent,
  then repeats that text after `SPARQL query:`, its DEFINE pragmas put first. `GRAPH ?g { }`
  (an empty group) binds no graph, and DESCRIBE gives the triples pointing at the resource too.
- Oxigraph's server answers a query cancelled at its own `--timeout-s` with 200 and "The
  SPARQL operation has been cancelled" in the body; `union-default-graph` makes its default
  graph the union of the named graphs. It takes no per-query limit and computes on after a
  disconnect, even past its `--timeout-s` (0.5.13: a runaway COUNT computed on for 30 s with
  --timeout-s 3). Its blank nodes cannot be named in a query, but keep their labels from one
  answer to the next, so one is found again by the path that led to it from an IRI. Its
  message on a bad query is pyoxigraph's, `error at LINE:COLUMN: ...` of the text it was sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

# kgserver's own graphs in an engine: never part of a dataset, never listed, dumped or queried through a frontend.
PRIVATE_GRAPHS = "urn:x-kgserver:"
# Graphs a commit writes blank-node triples into before it copies them to their graphs (changes.py).
STAGING_GRAPHS = f"{PRIVATE_GRAPHS}staging:"
# The curators and the hashes of their tokens, shared by every frontend of the engine (curation/engine_curators.py).
CURATORS_GRAPH = f"{PRIVATE_GRAPHS}curators"
# Who holds the writer role of the engine, and until when (writer_lease.py).
LEASE_GRAPH = f"{PRIVATE_GRAPHS}writer"


@dataclass(frozen=True)
class Dialect:
    """One engine's ways: endpoint paths, parameters, authentication, and the signs of a failed answer."""

    name: str
    query_path: str
    update_path: str
    graph_store_path: str
    union_default_graph: Mapping[str, str] = field(default_factory=dict)  # parameters for "all graphs merged"
    names_dataset_graphs: bool = False  # the union (and GRAPH ?g) must be asked for as the dataset's graphs, one by one
    exact_graph_names: bool = False  # GRAPH <g> matches that graph alone, whatever graphs are named (no need to name them)
    own_graphs: tuple[str, ...] = ()  # IRI prefixes of the engine's own graphs, never part of a dataset
    has_default_graph: bool = True  # whether the engine keeps a default graph of its own (else it is empty here)
    blank_node_prefix: str | None = None  # a blank node's label as an IRI in a query: <PREFIX+label>
    stable_blank_labels: bool = False  # a blank node has the same label in every answer (though no name in a query)
    ask_variable: str | None = None  # the engine answers ASK as a table of this one variable (a row for true)
    timeout_parameter: str | None = None  # how a query's time limit is named, if the engine takes one per query
    timeout_unit: float = 1.0  # the parameter's unit, in seconds
    timeout_tick: float = 0.0  # how often the engine checks its limit: it may stop up to this much past it
    digest_auth: bool = False  # updates authenticate with HTTP digest (else basic, when credentials are given)
    cut_header: tuple[str, str] | None = None  # a response header that marks a cut (incomplete) answer
    failure_texts: tuple[str, ...] = ()  # texts in a 200 body that mean the answer is an error, not results
    pages_ordered: bool = False  # answers ORDER BY ... LIMIT ... OFFSET fast itself: kgserver's paging plan is not used
    max_rows_header: str | None = None  # a header saying the engine cut the answer at its own row limit (the value)
    template_triples: int | None = None  # the most blank-node triples one update's template may hold (None: no limit)
    graph_store_write_path: str = ""  # where the Graph Store Protocol takes writes (with the update's credentials)
    inline_triples: int = 20_000  # a commit adding more is loaded into staging graphs with the Graph Store Protocol
    graph_read_triples: int | None = None  # the most triples one answer may hold: a larger graph is read in parts
    typed_literal_type: bool = False  # its JSON results give a literal with a datatype the type "typed-literal" (a draft's)
    boolean_digits: bool = False  # its JSON results write an xsd:boolean as "1" or "0" (its N-Triples: "true", "false")
    error_line: str | None = None  # where its message on a bad query gives the line (a regex, the number its one group)
    query_echo: str | None = None  # the text after which its message on a bad query repeats the query as it was sent

    def failure(self, headers: Mapping[str, str], body_start: bytes) -> str | None:
        """Why a 200 answer is not a complete result (from its headers and first bytes), or None when it is one."""
        if self.cut_header:
            name, value = self.cut_header
            if headers.get(name, "").strip().upper() == value:
                return f"{self.name} cut the answer short ({name}: {value}): it ran past the engine's time limit"
        text = body_start.decode("utf-8", "replace")
        for marker in self.failure_texts:
            if marker in text:
                return f"{self.name} answered with an error instead of results: {marker}"
        return None

    def time_limit(self, seconds: float) -> dict[str, str]:
        """The query parameters that set the engine's own limit to `seconds` (none where it takes no such limit)."""
        if not self.timeout_parameter:
            return {}
        return {self.timeout_parameter: str(max(1, round(seconds / self.timeout_unit)))}

    def is_own_graph(self, iri: str) -> bool:
        """Whether a graph is the engine's own (its schemas, its settings) or kgserver's, not data anyone loaded."""
        return iri.startswith((*self.own_graphs, PRIVATE_GRAPHS))

    def standard_results(self, body: bytes) -> bytes:
        """SPARQL JSON results as the standard writes them: blank node labels without the engine's IRI prefix,
        a literal with a datatype of type "literal", a boolean "true" or "false" as the other stores give it (its
        lexical form is what a content hash covers); a client may send them on to their own clients as they are."""
        if self.blank_node_prefix:
            body = _blank_label(self.blank_node_prefix).sub(rb"\1", body)
        if self.typed_literal_type:
            body = _TYPED_LITERAL.sub(rb'\1"literal"', body)
        if self.boolean_digits:
            body = _BOOLEAN_DIGIT.sub(lambda found: found[1] + (b'"true"' if found[2] == b"1" else b'"false"'), body)
        return body

    def query_error(self, text: str, lines_added: int) -> str:
        """The engine's message on a bad query as the query's author reads it: their own line numbers (the engine
        counted `lines_added` lines kgserver put before the text), without the query as kgserver sent it."""
        if self.query_echo and self.query_echo in text:
            text = text[: text.index(self.query_echo)]
        if self.error_line and lines_added:
            text = re.sub(self.error_line, lambda found: _earlier_line(found, lines_added), text, count=1)
        return text


def _earlier_line(found: re.Match[str], lines_added: int) -> str:
    """A line number the engine gave, less the lines put before the author's text (one of those, if any: unchanged)."""
    line = int(found[1])
    if line <= lines_added:
        return found[0]
    start = found.start(1) - found.start()
    return found[0][:start] + str(line - lines_added) + found[0][start + len(found[1]):]


def _blank_label(prefix: str) -> re.Pattern[bytes]:
    """`"type": "bnode", "value": "PREFIX` in JSON results (a literal's text cannot hold it unescaped)."""
    return re.compile(rb'("type"\s*:\s*"bnode"\s*,\s*"value"\s*:\s*")' + re.escape(prefix.encode()))


# `"type": "typed-literal"` in JSON results: a literal's text cannot hold it, its quotes would be escaped.
_TYPED_LITERAL = re.compile(rb'("type"\s*:\s*)"typed-literal"')
# An xsd:boolean's value in JSON results, written as a digit (a literal's text cannot hold it unescaped either).
_BOOLEAN_DIGIT = re.compile(rb'("datatype"\s*:\s*"http://www\.w3\.org/2001/XMLSchema#boolean"\s*,\s*"value"\s*:\s*)"([01])"')


VIRTUOSO = Dialect(
    name="virtuoso",
    query_path="/sparql",
    update_path="/sparql-auth",
    graph_store_path="/sparql-graph-crud",
    names_dataset_graphs=True,
    own_graphs=("http://www.openlinksw.com/", "http://www.w3.org/ns/ldp#", "http://localuriqaserver/"),
    has_default_graph=False,
    blank_node_prefix="nodeID://",
    ask_variable="__ASK_RETVAL",
    timeout_parameter="timeout",
    timeout_unit=0.001,
    timeout_tick=2.0,
    digest_auth=True,
    cut_header=("X-SQL-State", "S1TAT"),
    failure_texts=("Virtuoso S1T00 Error", "SR171: Transaction timed out"),
    pages_ordered=True,
    max_rows_header="X-SPARQL-MaxRows",
    template_triples=400,  # its SQL for a template triple is long: about 1,000 pass its 10,000-line limit
    graph_store_write_path="/sparql-graph-crud-auth",
    # A Graph Store Protocol read (or a CONSTRUCT) of more than its MaxVectorSize (1,000,000 unless
    # virtuoso.ini says otherwise) fails with "FRVEC ... over max vector length": seen at 1M triples.
    graph_read_triples=1_000_000,
    typed_literal_type=True,
    boolean_digits=True,
    error_line=r"SPARQL compiler, line (\d+)",
    query_echo="SPARQL query:",
)

OXIGRAPH = Dialect(
    name="oxigraph",
    query_path="/query",
    update_path="/update",
    graph_store_path="/store",
    union_default_graph={"union-default-graph": ""},
    stable_blank_labels=True,
    exact_graph_names=True,
    failure_texts=("The SPARQL operation has been cancelled",),
    graph_store_write_path="/store",
    error_line=r"^error at (\d+):",
)

DIALECTS: dict[str, Dialect] = {dialect.name: dialect for dialect in (VIRTUOSO, OXIGRAPH)}
