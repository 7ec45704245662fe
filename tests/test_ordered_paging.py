"""Deep ordered paging: `ORDER BY ?a ... LIMIT n OFFSET m` answered by the query process's plan, exactly as the engine would.

A researcher pages through results ordered by one column (an IRI, a label, a column of mixed
terms with many ties and unbound values) or by a column with many ties (a year) and then by
an IRI or a label. The server answers such pages without the engine's full sort: it keeps the
OFFSET + LIMIT smallest solutions of the unsorted stream in a bounded heap, or, when the first
key is a number, lets the engine order by it and sorts the ties itself
(kgserver/sparql/paging.py). These tests send such queries over HTTP to a served store of
generated data and compare every page with what pyoxigraph answers for the same query on the
same data, and check the log says which plan answered.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from itertools import groupby
from pathlib import Path

import pyoxigraph
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving import Server, fetch, serving

from kgserver import changes
from kgserver import store as kgstore
from kgserver.config import Settings

pytestmark = pytest.mark.slow  # pages through a real server on a generated store

EX = "http://example.org/"
GRAPH = "https://w3id.org/ldn-kg/graph/data"
PREFIXES = f"PREFIX ex: <{EX}>\nPREFIX xsd: <http://www.w3.org/2001/XMLSchema#>\n"
WORDS = ["alpha", "Beta", "gamma", "Émile", "zeta", "Ünïcode", "delta", "éclair", "Omega", "beta"]


def mixed_term(rng: random.Random) -> str | None:
    """A value of the mixed column: an IRI, a blank node, a number of one of three types, or none (unbound)."""
    return rng.choice([
        f"ex:tag{rng.randrange(4)}", f"_:b{rng.randrange(3)}", f'"{rng.randrange(20)}"^^xsd:integer',
        f'"{rng.randrange(80) / 4}"^^xsd:decimal', f'"{rng.randrange(40)}.5e0"^^xsd:double', None,
    ])


def worded_term(rng: random.Random) -> str | None:
    """A value of the worded column: an IRI, a string, a language-tagged string, a boolean, or none (unbound)."""
    word = rng.choice(WORDS)
    return rng.choice([
        f"ex:tag{rng.randrange(4)}", f'"{word}"', f'"{word}"@{rng.choice(["en", "fr"])}',
        rng.choice(["true", "false"]), f'"{word}"^^ex:code', None,
    ])


def generated_turtle(items: int = 600, seed: int = 3) -> str:
    """Items with a year (many ties), a label, a score of mixed numeric types, a tag, an optional rank, and
    optional values of mixed kinds: numbers among IRIs and blank nodes, or strings among IRIs and booleans."""
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
        for name, value in (("mixed", mixed_term(rng)), ("worded", worded_term(rng))):
            if value is not None:
                lines.append(f"{item} ex:{name} {value} .")
        if index % 50 == 0:  # a few strings among the numbers: those pages run as sent
            lines.append(f'{item} ex:either "{rng.choice(WORDS)}" .')
        lines.append(f"{item} ex:either {rng.randrange(30)} .")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def data() -> str:
    return generated_turtle()


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("paging") / "store"


@pytest.fixture(scope="module")
def reference(server: Server, store_path: Path) -> pyoxigraph.Store:
    """The served store itself, opened read-only here: what the engine answers on it is the reference.

    The same store, not a copy: equal keys are left in the order the engine met the solutions,
    and that order depends on how the store lays out its data.
    """
    return kgstore.open_read_only(store_path)


@pytest.fixture(scope="module")
def server(data: str, sources_root: Path, store_path: Path) -> Iterator[Server]:
    """`kgserver serve` on a store holding the generated data as its data graph."""
    folder = store_path.parent
    store = pyoxigraph.Store(str(store_path))
    store.load(data.encode(), format=pyoxigraph.RdfFormat.TURTLE, to_graph=pyoxigraph.NamedNode(GRAPH))
    changes.record_loaded(store, Settings.from_env(), [GRAPH])
    store.flush()
    del store
    with serving(folder / "store", sources_root, folder / "stderr.log") as running:
        yield running


def page(server: Server, sparql: str) -> list[list[str | None]]:
    """The page the server answers, each row as the N-Triples text of its terms (None when unbound)."""
    reply = fetch(server.sparql, headers={"Accept": "text/tab-separated-values"}, params={"query": sparql})
    assert reply.status == 200, reply.text
    lines = reply.text.split("\n")[1:-1]
    return [[cell or None for cell in line.split("\t")] for line in lines]


def expected(reference: pyoxigraph.Store, sparql: str) -> list[list[str | None]]:
    solutions = reference.query(sparql, use_default_graph_as_union=True)
    return [[None if term is None else str(term) for term in solution] for solution in solutions]


_NUMBER = re.compile(r'"(.*)"\^\^<http://www.w3.org/2001/XMLSchema#(integer|decimal|double|float)>')
_ORDER = re.compile(r"ORDER BY (.*?)(?: LIMIT| OFFSET|$)", re.DOTALL)
_KEY = re.compile(r"(DESC|ASC)?\(?(STR\()?\?(\w+)")


def key_value(cell: str | None, text: bool) -> object:
    """What the engine compares for a key: numbers by value, STR(?v) by the string, anything else by the term."""
    if cell is None or text and cell.startswith("_:"):  # STR of a blank node is an error: ordered as unbound
        return None
    if text:
        return cell[1:-1] if cell.startswith("<") else cell[1 : cell.rindex('"')]
    number = _NUMBER.fullmatch(cell)
    if number:
        value, datatype = number.groups()
        return Decimal(float(value)) if datatype in ("double", "float") else Decimal(value)
    return cell


def assert_engines_page(server: Server, reference: pyoxigraph.Store, sparql: str) -> None:
    """The server's page is the engine's, up to the order of solutions with equal keys, which SPARQL leaves open.

    Rows of a run of equal keys that lies inside the page must be the engine's rows of that
    run; where a run crosses the page's edge, the page holds as many of them, from the run.
    """
    ours, theirs = page(server, sparql), expected(reference, sparql)
    variables = re.search(r"SELECT (?:DISTINCT )?(.*?) WHERE", sparql).group(1).split()
    order = _KEY.findall(_ORDER.search(sparql).group(1))
    if any("?" + name not in variables for _, _, name in order):
        assert ours == theirs  # keys not in the answer (or SELECT *): only an exact comparison is possible
        return
    keys = [(variables.index("?" + name), bool(text)) for _, text, name in order]
    everything = expected(reference, re.sub(r" (LIMIT|OFFSET) \d+", "", sparql))

    def key(row: list[str | None]) -> tuple[object, ...]:
        return tuple(key_value(row[column], text) for column, text in keys)

    assert [key(row) for row in ours] == [key(row) for row in theirs]
    runs = [list(group) for _, group in groupby(range(len(theirs)), key=lambda i: key(theirs[i]))]
    for number, run in enumerate(runs):
        mine, engines = Counter(map(tuple, (ours[i] for i in run))), Counter(map(tuple, (theirs[i] for i in run)))
        if 0 < number < len(runs) - 1:
            assert mine == engines
        else:
            assert not mine - Counter(tuple(row) for row in everything if key(row) == key(theirs[run[0]]))


# name: (query, the plan that answers it: "heap", "ties", or "" when the query runs as sent)
CASES = {
    "by year then item": ("SELECT ?i ?y WHERE { ?i ex:year ?y } ORDER BY DESC(?y) ?i LIMIT 25 OFFSET 100", "ties"),
    "by year then label, descending":
        ("SELECT ?i ?y ?l WHERE { ?i ex:year ?y ; ex:label ?l } ORDER BY ?y DESC(?l) LIMIT 40 OFFSET 70", "ties"),
    "by tag then score then item":
        ("SELECT * WHERE { ?i ex:tag ?t ; ex:score ?s } ORDER BY ?t ?s DESC(?i) LIMIT 30 OFFSET 200", "heap"),
    "unbound ranks first": (
        "SELECT ?i ?y ?r WHERE { ?i ex:year ?y OPTIONAL { ?i ex:rank ?r } } ORDER BY ?y ?r ?i LIMIT 60 OFFSET 20", "ties"),
    "offset first, then limit": ("SELECT ?i ?y WHERE { ?i ex:year ?y } ORDER BY ?y ?i OFFSET 590 LIMIT 50", "ties"),
    "a page past the end": ("SELECT ?i ?y WHERE { ?i ex:year ?y } ORDER BY ?y ?i LIMIT 10 OFFSET 5000", "ties"),
    "grouped": (("SELECT ?y ?t (COUNT(*) AS ?n) WHERE { ?i ex:year ?y ; ex:tag ?t } GROUP BY ?y ?t "
                 "ORDER BY ?y DESC(?n) ?t LIMIT 12 OFFSET 3"), "ties"),
    "distinct": ("SELECT DISTINCT ?y ?t WHERE { ?i ex:year ?y ; ex:tag ?t } ORDER BY DESC(?t) ?y LIMIT 9 OFFSET 4", "heap"),
    "one key, an IRI": ("SELECT ?i ?y WHERE { ?i ex:year ?y } ORDER BY DESC(?i) LIMIT 10 OFFSET 30", "heap"),
    "one key, labels": ("SELECT ?i ?l WHERE { ?i ex:label ?l } ORDER BY ?l LIMIT 20 OFFSET 500", "heap"),
    "one key of mixed terms with ties":
        ("SELECT ?i ?m WHERE { ?i ex:year ?y OPTIONAL { ?i ex:mixed ?m } } ORDER BY ?m LIMIT 50 OFFSET 130", "heap"),
    "one key of mixed terms, descending":
        ("SELECT ?i ?m WHERE { ?i ex:year ?y OPTIONAL { ?i ex:mixed ?m } } ORDER BY DESC(?m) LIMIT 50 OFFSET 30", "heap"),
    "strings, language-tagged strings, booleans and IRIs":
        ("SELECT ?i ?w WHERE { ?i ex:year ?y OPTIONAL { ?i ex:worded ?w } } ORDER BY ?w LIMIT 50 OFFSET 300", "heap"),
    "them, descending, then the item":
        ("SELECT ?i ?w WHERE { ?i ex:year ?y OPTIONAL { ?i ex:worded ?w } } ORDER BY DESC(?w) ?i LIMIT 50 OFFSET 60", "heap"),
    "a string value as key": ("SELECT ?i ?y WHERE { ?i ex:year ?y } ORDER BY ?y STR(?i) LIMIT 10", "ties"),
    "the string value of mixed terms": (
        "SELECT ?i ?m WHERE { ?i ex:year ?y OPTIONAL { ?i ex:mixed ?m } } ORDER BY DESC(STR(?m)) ?i LIMIT 40 OFFSET 90",
        "heap"),
    "a key not projected": ("SELECT ?i WHERE { ?i ex:year ?y } ORDER BY ?y ?i LIMIT 10 OFFSET 10", "ties"),
    "keys not projected, one key": ("SELECT ?y WHERE { ?i ex:year ?y ; ex:label ?l } ORDER BY DESC(?l) LIMIT 7", "heap"),
    # run as sent
    "no limit": ("SELECT ?i ?y WHERE { ?i ex:year ?y } ORDER BY ?y ?i OFFSET 590", ""),
    "another expression as key": ("SELECT ?i ?y WHERE { ?i ex:year ?y } ORDER BY ?y LCASE(STR(?i)) LIMIT 10", ""),
    "a key not projected from distinct solutions":
        ("SELECT DISTINCT ?y WHERE { ?i ex:year ?y ; ex:label ?l } ORDER BY ?l LIMIT 10", ""),
    "a key bound nowhere": ("SELECT * WHERE { ?i ex:year ?y } ORDER BY ?nowhere ?i LIMIT 10 OFFSET 10", ""),
    # numbers and strings in one key: the engine's order is not a total order (10 < "5" < 9 < 10)
    "numbers among strings": ("SELECT ?i ?e WHERE { ?i ex:either ?e } ORDER BY ?e ?i LIMIT 30 OFFSET 20", ""),
    # language-tagged strings of different tags: by text, then tag (as the engine falls back to)
    "language-tagged ties": (
        "SELECT ?i ?y ?n WHERE { ?i ex:year ?y ; ex:note ?n } ORDER BY ?y ?n ?i LIMIT 30 OFFSET 40", "ties"),
    "language-tagged key": ("SELECT ?i ?n WHERE { ?i ex:note ?n } ORDER BY ?n LIMIT 30 OFFSET 40", "heap"),
}


@pytest.mark.parametrize("name", CASES)
def test_every_ordered_page_is_the_engines_page(server, reference, name):
    sparql, planned = CASES[name]
    sparql = PREFIXES + sparql
    seen = len(server.query_lines())
    assert_engines_page(server, reference, sparql)
    line = server.query_line("", since=seen)
    assert (f" paged={planned}" in line) if planned else (" paged" not in line), line


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
    seen = len(server.query_lines())
    assert_engines_page(server, reference, sparql)
    assert server.query_line(" paged=", since=seen)


# One key over: labels and items (unique), years (ties), scores of mixed numeric types, the mixed columns
# (IRIs, blank nodes, numbers; IRIs, strings, booleans) and optional ranks (unbound); by the term or its string value.
ONE_KEY_COLUMNS = {"i": "", "l": "ex:label", "y": "ex:year", "s": "ex:score", "m": "ex:mixed", "w": "ex:worded",
                   "r": "ex:rank"}


@settings(derandomize=True, database=None, deadline=None, max_examples=40,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    column=st.sampled_from(sorted(ONE_KEY_COLUMNS)),
    descending=st.booleans(),
    as_string=st.booleans(),
    limit=st.integers(0, 120),
    offset=st.integers(0, 800),
)
def test_generated_pages_on_one_key_are_the_engines_pages(server, reference, column, descending, as_string, limit, offset):
    """`ORDER BY ?v LIMIT n OFFSET m` either way, over every kind of term, with ties, unbound values and pages past the end."""
    pattern = f"OPTIONAL {{ ?i {ONE_KEY_COLUMNS[column]} ?{column} }}" if ONE_KEY_COLUMNS[column] else ""
    key = f"STR(?{column})" if as_string else f"?{column}"
    order = f"DESC({key})" if descending else key
    projection = "?i" if column == "i" else f"?i ?{column}"
    sparql = (f"{PREFIXES}SELECT {projection} WHERE {{ ?i ex:year ?any {pattern} }} "
              f"ORDER BY {order} LIMIT {limit} OFFSET {offset}")
    seen = len(server.query_lines())
    assert_engines_page(server, reference, sparql)
    assert server.query_line(" paged=", since=seen)
