"""How each SPARQL engine differs: where its endpoints are, how a query is sent, how a failed or cut answer looks.

A store held by another engine (remote.py) speaks the SPARQL 1.1 Protocol, Update and the
Graph Store Protocol; what the standards leave open is said here, one small `Dialect` per
engine, so a further engine (Fuseki, QLever, GraphDB) is one more entry, not a rewrite.
Measured on the engines themselves:

- Virtuoso 7.2.5 takes updates only at /sparql-auth (digest authentication); a query sent
  as a raw `application/sparql-query` body hangs, so queries go as GET or form; past its
  `timeout` (milliseconds) it answers 200 with a cut result and `X-SQL-State: S1TAT`. Its
  default graph is the union of its graphs.
- Oxigraph's server answers a query cancelled at its own `--timeout-s` with 200 and "The
  SPARQL operation has been cancelled" in the body; `union-default-graph` makes its default
  graph the union of the named graphs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Dialect:
    """One engine's ways: endpoint paths, parameters, authentication, and the signs of a failed answer."""

    name: str
    query_path: str
    update_path: str
    graph_store_path: str
    union_default_graph: Mapping[str, str] = field(default_factory=dict)  # parameters for "all graphs merged"
    timeout_parameter: str | None = None  # how a query's time limit is named, if the engine takes one per query
    timeout_unit: float = 1.0  # the parameter's unit, in seconds
    digest_auth: bool = False  # updates authenticate with HTTP digest (else basic, when credentials are given)
    cut_header: tuple[str, str] | None = None  # a response header that marks a cut (incomplete) answer
    failure_texts: tuple[str, ...] = ()  # texts in a 200 body that mean the answer is an error, not results

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


VIRTUOSO = Dialect(
    name="virtuoso",
    query_path="/sparql",
    update_path="/sparql-auth",
    graph_store_path="/sparql-graph-crud",
    timeout_parameter="timeout",
    timeout_unit=0.001,
    digest_auth=True,
    cut_header=("X-SQL-State", "S1TAT"),
    failure_texts=("Virtuoso S1T00 Error", "SR171: Transaction timed out"),
)

OXIGRAPH = Dialect(
    name="oxigraph",
    query_path="/query",
    update_path="/update",
    graph_store_path="/store",
    union_default_graph={"union-default-graph": ""},
    failure_texts=("The SPARQL operation has been cancelled",),
)

DIALECTS: dict[str, Dialect] = {dialect.name: dialect for dialect in (VIRTUOSO, OXIGRAPH)}
