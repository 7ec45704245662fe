"""The SPARQL 1.1 Service Description of the endpoint: what it offers, which data, which limits."""

from __future__ import annotations

from collections.abc import Mapping

from pyoxigraph import BlankNode, Literal, NamedNode, Triple

from kgserver import representations
from kgserver.config import ServerSettings, Settings

SD = "http://www.w3.org/ns/sparql-service-description#"
VOID = "http://rdfs.org/ns/void#"
RDF_TYPE = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
XSD = "http://www.w3.org/2001/XMLSchema#"


def limits_namespace(settings: Settings) -> str:
    """The project namespace for the endpoint's limits (ldnsvc:queryTimeoutSeconds ...)."""
    return f"{settings.base}service#"


def prefixes(settings: Settings) -> dict[str, str]:
    """Prefixes that keep the Turtle of the description readable."""
    return {"sd": SD, "void": VOID, "ldnsvc": limits_namespace(settings), "xsd": XSD}


def describe(
    endpoint: str, settings: Settings, limits: ServerSettings, graph_sizes: Mapping[str, int]
) -> list[Triple]:
    """The sd:Service at `endpoint` as triples, with every named graph and its size."""
    svc = _Namespace(limits_namespace(settings))
    # Blank nodes are labelled in order, not at random: the same description is the same bytes, so HEAD and GET agree
    service, dataset, default_graph = NamedNode(endpoint), BlankNode("dataset"), BlankNode("default")
    triples = [
        Triple(service, RDF_TYPE, _sd("Service")),
        Triple(service, _sd("endpoint"), service),
        Triple(service, _sd("supportedLanguage"), _sd("SPARQL11Query")),
        Triple(service, _sd("feature"), _sd("UnionDefaultGraph")),
        Triple(service, _sd("defaultDataset"), dataset),
        Triple(dataset, RDF_TYPE, _sd("Dataset")),
        Triple(dataset, _sd("defaultGraph"), default_graph),
        Triple(default_graph, RDF_TYPE, _sd("Graph")),
        Triple(default_graph, NamedNode(VOID + "triples"), _integer(sum(graph_sizes.values()))),
        Triple(service, svc("queryTimeoutSeconds"), _decimal(limits.query_timeout)),
        Triple(service, svc("rowCap"), _integer(limits.row_cap)),
        Triple(service, svc("maxRequestBytes"), _integer(limits.max_request_bytes)),
        Triple(service, svc("maxQueryProcesses"), _integer(limits.max_query_workers)),
        Triple(service, svc("heavyQueryAfterSeconds"), _decimal(limits.heavy_after)),
        Triple(service, svc("maxHeavyQueries"), _integer(limits.effective_heavy_share)),
        Triple(service, svc("heavyQueriesPerClient"), _integer(limits.heavy_per_client)),
        Triple(service, svc("heavyQuerySecondsPerClientPerMinute"), _decimal(limits.heavy_budget)),
    ]
    if limits.service_allow:
        triples.append(Triple(service, _sd("feature"), _sd("BasicFederatedQuery")))
        triples += [Triple(service, svc("serviceAllowed"), NamedNode(iri)) for iri in limits.service_allow]
    triples += [Triple(service, _sd("resultFormat"), NamedNode(form.iri))
                for form in representations.offered("results") + representations.offered("graphs") if form.iri]
    for number, (iri, size) in enumerate(graph_sizes.items(), start=1):
        named, graph = BlankNode(f"named{number}"), BlankNode(f"graph{number}")
        triples += [
            Triple(dataset, _sd("namedGraph"), named),
            Triple(named, RDF_TYPE, _sd("NamedGraph")),
            Triple(named, _sd("name"), NamedNode(iri)),
            Triple(named, _sd("graph"), graph),
            Triple(graph, RDF_TYPE, _sd("Graph")),
            Triple(graph, NamedNode(VOID + "triples"), _integer(size)),
        ]
    return triples


def _sd(name: str) -> NamedNode:
    return NamedNode(SD + name)


class _Namespace:
    """Terms of one namespace, called by local name."""

    def __init__(self, iri: str) -> None:
        self.iri = iri

    def __call__(self, name: str) -> NamedNode:
        return NamedNode(self.iri + name)


def _decimal(value: float) -> Literal:
    return Literal(f"{value:f}".rstrip("0").rstrip("."), datatype=NamedNode(XSD + "decimal"))


def _integer(value: int) -> Literal:
    return Literal(str(value), datatype=NamedNode(XSD + "integer"))
