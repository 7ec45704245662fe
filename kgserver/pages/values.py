"""What every page for people is built from: values with their links, and the queries that read them.

Every value comes from a SPARQL query over the store (through `kgserver.store.query`); nothing
shown is written here. Templates render these dataclasses; they never query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pyoxigraph import BlankNode, Literal, NamedNode, QuerySolutions

from kgserver import store as kgstore
from kgserver.config import Settings
from kgserver.formats import compact_iri
from kgserver.store import GraphStore

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDF_FIRST = "http://www.w3.org/1999/02/22-rdf-syntax-ns#first"
RDF_REST = "http://www.w3.org/1999/02/22-rdf-syntax-ns#rest"
RDF_NIL = "http://www.w3.org/1999/02/22-rdf-syntax-ns#nil"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
SH = "http://www.w3.org/ns/shacl#"
DCT = "http://purl.org/dc/terms/"
SCHEMA = "http://schema.org/"

EXCERPT_CHARS = 160
# The SKOS mapping properties and owl:equivalentClass: how a term is aligned to other vocabularies.
ALIGNMENT_PROPERTIES = tuple(f"{SKOS}{name}" for name in ("exactMatch", "closeMatch", "broadMatch", "narrowMatch", "relatedMatch")) + (
    f"{OWL}equivalentClass",
    f"{OWL}equivalentProperty",
)
PROPERTY_CHARACTERISTICS = tuple(
    f"{OWL}{name}"
    for name in ("FunctionalProperty", "InverseFunctionalProperty", "TransitiveProperty", "SymmetricProperty", "AsymmetricProperty")
)




@dataclass(frozen=True)
class Link:
    """A resource as a page shows it: its IRI (the template makes the link) and its name."""

    iri: str
    label: str


@dataclass(frozen=True)
class Value:
    """One value of a field: text, and the address it links to if it is a resource or an identifier."""

    text: str
    href: str | None = None
    local: bool = False  # href is an IRI to pass through `local_href`


@dataclass(frozen=True)
class Field:
    """A named row of a page's table, named as the ontology labels its property."""

    name: str
    values: tuple[Value, ...]
    origin: str | None = None  # whose words the values are, where the property declares it (ldn:textOrigin)


Row = dict[str, NamedNode | BlankNode | Literal]
Facts = list[tuple[str, NamedNode | BlankNode | Literal]]  # (property, value) pairs of one resource
Namer = Callable[[str], "Link"]  # an IRI to a labelled link


def select(store: GraphStore, settings: Settings, sparql: str) -> list[Row]:
    """The solutions of a SELECT as dicts of bound terms; the pages' one way into the store."""
    result = kgstore.query(store, sparql, settings.prefixes)
    if not isinstance(result, QuerySolutions):
        raise TypeError("pages only run SELECT queries")
    names = [variable.value for variable in result.variables]
    return [{name: solution[name] for name in names if solution[name] is not None} for solution in result]


def iri_term(iri: str) -> str:
    """An IRI as SPARQL text; NamedNode refuses characters that could break out of the brackets."""
    return str(NamedNode(iri))


def text(row: Row, name: str) -> str | None:
    """A bound variable's value as text, None when unbound."""
    term = row.get(name)
    return term.value if term is not None else None


def first_by_key(rows: Iterable[Row], key: str) -> dict[str, Row]:
    """The first row for each value of `key`, in query order; extra labels or languages repeat rows."""
    chosen: dict[str, Row] = {}
    for row in rows:
        chosen.setdefault(row[key].value, row)
    return chosen


def display_name(settings: Settings, iri: str, label: str | None) -> str:
    """A resource's label, or its compact IRI when the graph gives none."""
    return label or compact_iri(iri, settings.prefixes).strip("<>")
