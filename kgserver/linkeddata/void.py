"""The dataset described for machines: VoID statistics and partitions, DCAT distributions, the feed advertised.

`statistics` runs the aggregate queries (the expensive part, seconds at a million triples)
and the caller keeps the answer for the dataset version it was computed at; `describe`
turns statistics, the dataset state and the dump files into triples, rendered last in
whatever RDF format was asked for.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pyoxigraph import BlankNode, Literal, NamedNode, QuerySolutions, Triple

from kgserver.changes import DatasetState
from kgserver.config import Settings
from kgserver.linkeddata.dumps import GZIP_MEDIA_TYPE, DumpFile
from kgserver.store import GraphStore

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
VOID = "http://rdfs.org/ns/void#"
DCAT = "http://www.w3.org/ns/dcat#"
DCTERMS = "http://purl.org/dc/terms/"
OWL = "http://www.w3.org/2002/07/owl#"
SPDX = "http://spdx.org/rdf/terms#"
LDES = "https://w3id.org/ldes#"
TREE = "https://w3id.org/tree#"
HYDRA = "http://www.w3.org/ns/hydra/core#"
SCHEMA = "http://schema.org/"
IANA_MEDIA_TYPES = "https://www.iana.org/assignments/media-types/"
LICENSE = "https://creativecommons.org/licenses/by-sa/4.0/"

PREFIXES: dict[str, str] = {
    "void": VOID, "dcat": DCAT, "spdx": SPDX, "ldes": LDES, "tree": TREE, "hydra": HYDRA,
}

_GRAPH_TRIPLES = "SELECT DISTINCT ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } }"
_QUERIES = {
    "totals": f"""SELECT (COUNT(*) AS ?triples) (COUNT(DISTINCT ?s) AS ?subjects) (COUNT(DISTINCT ?o) AS ?objects)
                  (COUNT(DISTINCT ?p) AS ?properties) WHERE {{ {_GRAPH_TRIPLES} }}""",
    "entities": "SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } FILTER isIRI(?s) }",
    "classes": f"""SELECT ?class (COUNT(DISTINCT ?s) AS ?n) WHERE {{ GRAPH ?g {{ ?s <{RDF_TYPE}> ?class }} }}
                   GROUP BY ?class ORDER BY ?class""",
    "properties": f"SELECT ?property (COUNT(*) AS ?n) WHERE {{ SELECT (?p AS ?property) WHERE {{ {_GRAPH_TRIPLES} }} }} "
                  "GROUP BY ?property ORDER BY ?property",
}


@dataclass(frozen=True)
class Statistics:
    """VoID's numbers for the union of the named graphs, each triple counted once."""

    triples: int
    entities: int
    distinct_subjects: int
    distinct_objects: int
    properties: int
    class_partitions: tuple[tuple[str, int], ...]
    property_partitions: tuple[tuple[str, int], ...]
    source: str | None  # the Wikipedia article the data is curated from, if the data names it

    @property
    def classes(self) -> int:
        return len(self.class_partitions)


def statistics(store: GraphStore, settings: Settings) -> Statistics:
    """Count the dataset: a handful of aggregate queries, to be run once per version."""
    totals = _rows(store, _QUERIES["totals"])[0]
    return Statistics(
        triples=int(totals["triples"]),
        entities=int(_rows(store, _QUERIES["entities"])[0]["n"]),
        distinct_subjects=int(totals["subjects"]),
        distinct_objects=int(totals["objects"]),
        properties=int(totals["properties"]),
        class_partitions=tuple((row["class"], int(row["n"])) for row in _rows(store, _QUERIES["classes"]) if "class" in row),
        property_partitions=tuple(
            (row["property"], int(row["n"])) for row in _rows(store, _QUERIES["properties"]) if "property" in row
        ),
        source=wikipedia_article(store, settings),
    )


def wikipedia_article(store: GraphStore, settings: Settings) -> str | None:
    """The IRI of the Wikipedia article the graph is curated from (ldn:EncyclopediaArticle with a wikipedia.org URL)."""
    rows = _rows(
        store,
        f"""SELECT ?article WHERE {{ GRAPH ?g {{ ?article a <{settings.prefixes['ldn']}EncyclopediaArticle> ;
                  <{SCHEMA}url> ?url FILTER CONTAINS(STR(?url), "wikipedia.org") }} }} ORDER BY ?article LIMIT 1""",
    )
    return rows[0]["article"] if rows else None


def _rows(store: GraphStore, sparql: str) -> list[dict[str, str]]:
    result = store.query(sparql)
    assert isinstance(result, QuerySolutions)
    names = [variable.value for variable in result.variables]
    return [{name: row[name].value for name in names if row[name] is not None} for row in result]


def endpoint_iris(settings: Settings) -> dict[str, str]:
    """The IRIs under which the dataset's services are published."""
    base = settings.base
    return {"sparql": f"{base}sparql", "changes": f"{base}changes", "dumps": f"{base}dumps", "void": f"{base}.well-known/void"}


def dump_iri(settings: Settings, name: str) -> str:
    return f"{settings.base}dumps/{name}"


def describe(
    settings: Settings,
    state: DatasetState,
    stats: Statistics,
    graph_sizes: Mapping[str, int],
    dumps: Sequence[DumpFile],
) -> list[Triple]:
    """The VoID and DCAT description of the dataset at `state`."""
    out = TripleList()
    iris = endpoint_iris(settings)
    dataset = NamedNode(settings.dataset_iri)
    out.add(dataset, RDF_TYPE, NamedNode(f"{VOID}Dataset"), NamedNode(f"{DCAT}Dataset"))
    out.add(dataset, f"{DCTERMS}title", Literal("LDN-KG: a knowledge graph about low-dose naltrexone", language="en"))
    out.add(dataset, f"{DCTERMS}description", Literal(
        "Claims, evidence and sources about low-dose naltrexone, curated from the Wikipedia article.", language="en"))
    out.add(dataset, f"{DCTERMS}license", NamedNode(LICENSE))
    if stats.source is not None:
        out.add(dataset, f"{DCTERMS}source", NamedNode(stats.source))
    out.add(dataset, f"{DCTERMS}hasVersion", Literal(str(state.version)))
    out.add(dataset, f"{OWL}versionInfo", Literal(str(state.version)))
    out.add(dataset, f"{settings.prefixes['ldn']}versionNumber",  # as the meta graph and the feed say it
            Literal(str(state.version), datatype=NamedNode(f"{XSD}integer")))
    if state.modified is not None:
        out.add(dataset, f"{DCTERMS}modified", time_literal(state.modified))
    out.add(dataset, f"{VOID}uriSpace", Literal(settings.prefixes["kg"]))
    out.add(dataset, f"{VOID}vocabulary", NamedNode(settings.prefixes["ldn"]))
    out.add(dataset, f"{VOID}sparqlEndpoint", NamedNode(iris["sparql"]))
    for name, value in (
        ("triples", stats.triples), ("entities", stats.entities), ("classes", stats.classes),
        ("properties", stats.properties), ("distinctSubjects", stats.distinct_subjects),
        ("distinctObjects", stats.distinct_objects),
    ):
        out.add(dataset, f"{VOID}{name}", integer_literal(value))
    for cls, count in stats.class_partitions:
        partition = out.node(dataset, f"{VOID}classPartition")
        out.add(partition, f"{VOID}class", NamedNode(cls))
        out.add(partition, f"{VOID}entities", integer_literal(count))
    for prop, count in stats.property_partitions:
        partition = out.node(dataset, f"{VOID}propertyPartition")
        out.add(partition, f"{VOID}property", NamedNode(prop))
        out.add(partition, f"{VOID}triples", integer_literal(count))
    for graph, size in sorted(graph_sizes.items()):
        subset = NamedNode(graph)
        out.add(dataset, f"{VOID}subset", subset)
        out.add(subset, RDF_TYPE, NamedNode(f"{VOID}Dataset"), NamedNode(f"{DCAT}Dataset"))
        out.add(subset, f"{VOID}triples", integer_literal(size))
        change = state.change_of(graph)
        if change is not None and change.modified is not None:
            out.add(subset, f"{DCTERMS}modified", time_literal(change.modified))
    for dump in dumps:
        _distribution(out, settings, dump)
    _services(out, settings, dataset)
    return out.triples


def _distribution(out: TripleList, settings: Settings, dump: DumpFile) -> None:
    """A dump as void:dataDump and as a dcat:Distribution with its size and checksum."""
    spec = dump.spec
    owner = NamedNode(spec.graph or settings.dataset_iri)
    file = NamedNode(dump_iri(settings, spec.name))
    out.add(owner, f"{VOID}dataDump", file)
    out.add(owner, f"{DCAT}distribution", file)
    out.add(file, RDF_TYPE, NamedNode(f"{DCAT}Distribution"))
    out.add(file, f"{DCTERMS}title", Literal(spec.title))
    out.add(file, f"{DCAT}downloadURL", file)
    out.add(file, f"{DCAT}accessURL", NamedNode(endpoint_iris(settings)["dumps"]))
    out.add(file, f"{DCAT}mediaType", NamedNode(IANA_MEDIA_TYPES + spec.format.media_type))
    out.add(file, f"{DCAT}compressFormat", NamedNode(IANA_MEDIA_TYPES + GZIP_MEDIA_TYPE))
    out.add(file, f"{DCAT}byteSize", Literal(str(dump.size), datatype=NamedNode(f"{XSD}nonNegativeInteger")))
    out.add(file, f"{DCTERMS}license", NamedNode(LICENSE))
    out.add(file, f"{DCTERMS}hasVersion", Literal(str(spec.version)))
    checksum = out.node(file, f"{SPDX}checksum")
    out.add(checksum, RDF_TYPE, NamedNode(f"{SPDX}Checksum"))
    out.add(checksum, f"{SPDX}algorithm", NamedNode(f"{SPDX}checksumAlgorithm_sha256"))
    out.add(checksum, f"{SPDX}checksumValue", Literal(dump.hex_digest, datatype=NamedNode(f"{XSD}hexBinary")))


def _services(out: TripleList, settings: Settings, dataset: NamedNode) -> None:
    """The SPARQL endpoint and the change feed, as DCAT data services of the dataset."""
    iris = endpoint_iris(settings)
    feed, sparql = NamedNode(iris["changes"]), NamedNode(iris["sparql"])
    out.add(dataset, f"{RDFS}seeAlso", feed)
    for service, title in ((sparql, "SPARQL 1.1 endpoint"), (feed, "Change feed (Linked Data Event Stream)")):
        out.add(service, RDF_TYPE, NamedNode(f"{DCAT}DataService"))
        out.add(service, f"{DCTERMS}title", Literal(title, language="en"))
        out.add(service, f"{DCAT}endpointURL", service)
        out.add(service, f"{DCAT}servesDataset", dataset)
    out.add(feed, RDF_TYPE, NamedNode(f"{LDES}EventStream"))


class TripleList:
    """A list of triples with shorthand for adding them and for blank-node objects (VoID and the feed build with it).

    A blank node is labelled by where it hangs (its subject, its predicate, and how many came
    there before it), not at random: the same description is the same bytes on every request,
    as its ETag says, and two documents' nodes keep apart when they hang from different IRIs.
    """

    def __init__(self) -> None:
        self.triples: list[Triple] = []
        self._placed: Counter[tuple[str, str]] = Counter()

    def add(self, subject: NamedNode | BlankNode, predicate: str, *objects: NamedNode | BlankNode | Literal) -> None:
        for obj in objects:
            self.triples.append(Triple(subject, NamedNode(predicate), obj))

    def node(self, subject: NamedNode | BlankNode, predicate: str) -> BlankNode:
        place = (str(subject), predicate)
        rank = self._placed[place]
        self._placed[place] += 1
        node = BlankNode("b" + hashlib.sha256(repr((*place, rank)).encode("utf-8")).hexdigest()[:20])
        self.add(subject, predicate, node)
        return node


def integer_literal(value: int) -> Literal:
    """An xsd:integer."""
    return Literal(str(value), datatype=NamedNode(f"{XSD}integer"))


def time_literal(moment: datetime) -> Literal:
    """An xsd:dateTime in UTC, to the second, as the meta graph writes it."""
    return Literal(moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), datatype=NamedNode(f"{XSD}dateTime"))
