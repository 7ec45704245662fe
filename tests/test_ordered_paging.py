"""Deep ordered paging: `ORDER BY ?a ?b LIMIT n OFFSET m` answered by the worker's plan, exactly as the engine would.

A researcher pages through results ordered by a column with many ties (a year) and then by
an IRI or a label. The server answers such pages by letting the engine order by the first
key only and sorting the ties itself (kgserver/sparql/paging.py). These tests send such
queries over HTTP to a served store of generated data and compare every page with what
pyoxigraph answers for the same query on the same data, and check the log says which plan
answered.
"""

from __future__ import annotations

import random
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pyoxigraph
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving import Server, fetch, serving

from kgserver import changes
from kgserver.config import Settings

EX = "http://example.org/"
GRAPH = "https://w3id.org/ldn-kg/graph/data"
PREFIXES = f"PREFIX ex: <{EX}>\nPREFIX xsd: <http://www.w3.org/2001/XMLSchema#>\n"
WORDS = ["alpha", "Beta", "gamma", "Émile", "zeta", "Ünïcode", "delta", "éclair", "Omega", "beta"]


def generated_turtle(items: int = 600, seed: int = 3) -> str:
    """Items with a year (many ties), a label, a score of mixed numeric types, a tag and an optional rank."""
    rng = random.Random(seed)
    lines = [f"@prefix ex: <{EX}> .", "@prefix xsd: <http://www.w3.org/2001/XMLSchema#> ."]
    for index in range(items):
        item = f"ex:item{rng.randrange(10**6):06d}-{index}"
        score = rng.choice([f'"{rng.randrange(100)}"^^xsd:integer', f'"{rng.randrange(1000) / 8}"^^xsd:decimal',
                            f'"{rng.randrange(1000)}.5e-1"^^xsd:double'])
        lines.append(f'{item} ex:year {2000 + rng.randrange(8)} ; ex:label "{rng.choice(WORDS)} {index}" ; '
                     f"ex:score {score} ; ex:tag ex:tag{rng.randrange(5)} ; "
                     f'ex:note "{rng.choice(WORDS)}"@{rng.choice(["en", "fr"])} .')
        if rng.random() < 0.6:
            lines.append(f"{item} ex:rank {rng.randrange(50)} .")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def data() -> str:
    return generated_turtle()


@pytest.fixture(scope="module")
def reference(data: str) -> pyoxigraph.Store:
    """The same data in an in-memory pyoxigraph store: what the engine answers is the reference."""
    store = pyoxigraph.Store()
    store.load(data.encode(), format=pyoxigraph.RdfFormat.TURTLE, to_graph=pyoxigraph.NamedNode(GRAPH))
    return store


@pytest.fixture(scope="module")
def server(data: str, sources_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`kgserver serve` on a store holding the generated data as its data graph."""
    folder = tmp_path_factory.mktemp("paging")
    store = pyoxigraph.Store(str(folder / "store"))
    store.load(data.encode(), format=pyoxigraph.RdfFormat.TURTLE, to_graph=pyoxigraph.NamedNode(GRAPH))
    changes.record_loaded(store, Settings.from_env(), [GRAPH])
    store.flush()
    del store
    with serving(folder / "store", sources_root, folder / "stderr.log") as running:
        yield running


def page(server: Server, sparql: str) -> list[list[str | None]]:
    """The page the server answers, each row as the N-Triples text of its terms (None when unbound)."""
    reply = fetch(f"{server.sparql}?{urllib.parse.urlencode({'query': sparql})}",
                  headers={"Accept": "text/tab-separated-values"})
    assert reply.status == 200, reply.text
    lines = reply.text.split("\n")[1:-1]
    return [[cell or None for cell in line.split("\t")] for line in lines]


def expected(reference: pyoxigraph.Store, sparql: str) -> list[list[str | None]]:
    solutions = reference.query(sparql, use_default_graph_as_union=True)
    return [[None if term is None else str(term) for term in solution] for solution in solutions]


def last_log_line(server: Server) -> str:
    return [line for line in server.log.read_text().splitlines() if "kgserver.sparql sparql" in line][-1]


# name: (query, whether the plan answers it)
CASES = {
    "by year then item": ("SELECT ?i ?y WHERE { ?i ex:year ?y } ORDER BY DESC(?y) ?i LIMIT 25 OFFSET 100", True),
    "by year then label, descending":
        ("SELECT ?i ?y ?l WHERE { ?i ex:year ?y ; ex:label ?l } ORDER BY ?y DESC(?l) LIMIT 40 OFFSET 70", True),
    "by tag then score then item":
        ("SELECT * WHERE { ?i ex:tag ?t ; ex:score ?s } ORDER BY ?t ?s DESC(?i) LIMIT 30 OFFSET 200", True),
    "unbound ranks first": (
        "SELECT ?i ?y ?r WHERE { ?i ex:year ?y OPTIONAL { ?i ex:rank ?r } } ORDER BY ?y ?r ?i LIMIT 60 OFFSET 20", True),
    "offset first, then limit": ("SELECT ?i ?y WHERE { ?i ex:year ?y } ORDER BY ?y ?i OFFSET 590 LIMIT 50", True),
    "a page past the end": ("SELECT ?i ?y WHERE { ?i ex:year ?y } ORDER BY ?y ?i LIMIT 10 OFFSET 5000", True),
    "grouped": (("SELECT ?y ?t (COUNT(*) AS ?n) WHERE { ?i ex:year ?y ; ex:tag ?t } GROUP BY ?y ?t "
                 "ORDER BY ?y DESC(?n) ?t LIMIT 12 OFFSET 3"), True),
    "distinct": ("SELECT DISTINCT ?y ?t WHERE { ?i ex:year ?y ; ex:tag ?t } ORDER BY DESC(?t) ?y LIMIT 9 OFFSET 4", True),
    # run as sent
    "one key": ("SELECT ?i ?y WHERE { ?i ex:year ?y } ORDER BY DESC(?i) LIMIT 10 OFFSET 30", False),
    "no limit": ("SELECT ?i ?y WHERE { ?i ex:year ?y } ORDER BY ?y ?i OFFSET 590", False),
    "an expression as key": ("SELECT ?i ?y WHERE { ?i ex:year ?y } ORDER BY ?y STR(?i) LIMIT 10", False),
    "a key not projected": ("SELECT ?i WHERE { ?i ex:year ?y } ORDER BY ?y ?i LIMIT 10 OFFSET 10", False),
    "a key bound nowhere": ("SELECT * WHERE { ?i ex:year ?y } ORDER BY ?nowhere ?i LIMIT 10 OFFSET 10", False),
    # SPARQL leaves the order of language-tagged strings to the engine: the plan gives up
    "language-tagged ties": (
        "SELECT ?i ?y ?n WHERE { ?i ex:year ?y ; ex:note ?n } ORDER BY ?y ?n ?i LIMIT 30 OFFSET 40", False),
}


@pytest.mark.parametrize("name", CASES)
def test_every_ordered_page_is_the_engines_page(server, reference, name):
    sparql, planned = CASES[name]
    sparql = PREFIXES + sparql
    assert page(server, sparql) == expected(reference, sparql)
    assert (" paged" in last_log_line(server)) is planned


# Columns a generated page may order by; ?i, unique, always ends the keys so the order is total.
COLUMNS = {"y": "ex:year", "l": "ex:label", "s": "ex:score", "t": "ex:tag", "r": "ex:rank"}


@settings(derandomize=True, database=None, deadline=None, max_examples=40,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    keys=st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=3, unique=True),
    descending=st.lists(st.booleans(), min_size=4, max_size=4),
    limit=st.integers(0, 120),
    offset=st.integers(0, 700),
)
def test_generated_pages_are_the_engines_pages(server, reference, keys, descending, limit, offset):
    """Any two to four keys over years, labels, scores of mixed numeric types, tags and optional ranks."""
    patterns = " ".join(f"OPTIONAL {{ ?i {COLUMNS[key]} ?{key} }}" for key in keys)
    order = " ".join(f"DESC(?{key})" if down else f"?{key}" for key, down in zip([*keys, "i"], descending, strict=False))
    sparql = (f"{PREFIXES}SELECT ?i {' '.join('?' + key for key in keys)} WHERE {{ ?i ex:year ?any {patterns} }} "
              f"ORDER BY {order} LIMIT {limit} OFFSET {offset}")
    assert page(server, sparql) == expected(reference, sparql)
    assert " paged" in last_log_line(server)
