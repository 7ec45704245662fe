"""A data catalogue reads /.well-known/void: VoID statistics that match SPARQL, DCAT distributions that match the files."""

from __future__ import annotations

import gzip
import hashlib

import pytest
from rdflib import Graph, Literal, Namespace, URIRef
from serving import fetch

BASE = "https://w3id.org/ldn-kg/"
DATASET = URIRef(f"{BASE}dataset")
LDN = Namespace(f"{BASE}ontology#")
RDF = Namespace("http://www.w3.org/1999/02/22-rdf-syntax-ns#")
RDFS = Namespace("http://www.w3.org/2000/01/rdf-schema#")
OWL = Namespace("http://www.w3.org/2002/07/owl#")
XSD = Namespace("http://www.w3.org/2001/XMLSchema#")
DCTERMS = Namespace("http://purl.org/dc/terms/")
DCAT = Namespace("http://www.w3.org/ns/dcat#")
VOID = Namespace("http://rdfs.org/ns/void#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
LDES = Namespace("https://w3id.org/ldes#")
ALL_TRIPLES = "SELECT DISTINCT ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } }"
RDF_FORMATS = {
    "text/turtle": "turtle",
    "application/n-triples": "nt",
    "application/ld+json": "json-ld",
    "application/rdf+xml": "xml",
}


@pytest.fixture(scope="module")
def void(app_base: str) -> Graph:
    """The description as a catalogue harvests it: Turtle, the default."""
    reply = fetch(f"{app_base}/.well-known/void")
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/turtle")
    return Graph().parse(data=reply.body, format="turtle")


def count(run_query, store, sparql: str) -> int:
    return int(run_query(store, sparql)[0]["n"])


def number(void: Graph, subject, predicate) -> int:
    value = void.value(subject, predicate)
    assert value is not None, f"no {predicate} on {subject}"
    return int(value)


def test_the_counts_are_what_sparql_counts(void, run_query, built_store):
    expected = {
        VOID.triples: f"SELECT (COUNT(*) AS ?n) WHERE {{ {ALL_TRIPLES} }}",
        VOID.distinctSubjects: f"SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ {ALL_TRIPLES} }}",
        VOID.distinctObjects: f"SELECT (COUNT(DISTINCT ?o) AS ?n) WHERE {{ {ALL_TRIPLES} }}",
        VOID.properties: f"SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE {{ {ALL_TRIPLES} }}",
        VOID.entities: f"SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ {{ {ALL_TRIPLES} }} FILTER isIRI(?s) }}",
        VOID.classes: "SELECT (COUNT(DISTINCT ?c) AS ?n) WHERE { GRAPH ?g { ?s a ?c } }",
    }
    for predicate, sparql in expected.items():
        assert number(void, DATASET, predicate) == count(run_query, built_store, sparql), predicate


def test_class_and_property_partitions_match_sparql(void, run_query, built_store):
    classes = {void.value(p, VOID["class"]): int(void.value(p, VOID.entities)) for p in void.objects(DATASET, VOID.classPartition)}
    properties = {void.value(p, VOID.property): int(void.value(p, VOID.triples))
                  for p in void.objects(DATASET, VOID.propertyPartition)}

    assert len(classes) == number(void, DATASET, VOID.classes)
    assert len(properties) == number(void, DATASET, VOID.properties)
    claims = f"SELECT (COUNT(DISTINCT ?c) AS ?n) WHERE {{ GRAPH ?g {{ ?c a <{LDN.EvidenceClaim}> }} }}"
    assert classes[LDN.EvidenceClaim] == count(run_query, built_store, claims) > 0
    labels = f"SELECT (COUNT(*) AS ?n) WHERE {{ SELECT DISTINCT ?s ?o WHERE {{ GRAPH ?g {{ ?s <{RDFS.label}> ?o }} }} }}"
    assert properties[RDFS.label] == count(run_query, built_store, labels) > 0
    assert sum(properties.values()) == number(void, DATASET, VOID.triples)


def test_each_named_graph_is_a_subset_with_its_size(void, run_query, built_store):
    subsets = set(void.objects(DATASET, VOID.subset))

    assert {str(s) for s in subsets} == {f"{BASE}graph/{g}" for g in ("ontology", "data", "shapes", "inferred", "examples", "meta")}
    for subset in subsets:
        size = count(run_query, built_store, f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{subset}> {{ ?s ?p ?o }} }}")
        assert number(void, subset, VOID.triples) == size, subset


def test_it_names_licence_source_endpoint_uri_space_version_and_feed(void, run_query, built_store):
    version = run_query(built_store, f"SELECT ?v WHERE {{ <{DATASET}> <{DCTERMS.hasVersion}> ?v }}")[0]["v"]
    article = run_query(built_store, f"SELECT ?a WHERE {{ ?a a <{LDN.EncyclopediaArticle}> }}")[0]["a"]

    assert (DATASET, RDF.type, VOID.Dataset) in void and (DATASET, RDF.type, DCAT.Dataset) in void
    assert void.value(DATASET, DCTERMS.license) == URIRef("https://creativecommons.org/licenses/by-sa/4.0/")
    assert void.value(DATASET, DCTERMS.source) == URIRef(article)
    assert "wikipedia" in article
    assert void.value(DATASET, VOID.sparqlEndpoint) == URIRef(f"{BASE}sparql")
    assert str(void.value(DATASET, VOID.uriSpace)) == f"{BASE}id/"
    assert str(void.value(DATASET, DCTERMS.hasVersion)) == str(void.value(DATASET, OWL.versionInfo)) == version
    assert void.value(DATASET, LDN.versionNumber) == Literal(int(version))  # as the meta graph and the feed say it
    assert void.value(DATASET, DCTERMS.modified).datatype == XSD.dateTime
    feed = URIRef(f"{BASE}changes")
    assert (DATASET, RDFS.seeAlso, feed) in void and (feed, RDF.type, LDES.EventStream) in void
    assert (feed, DCAT.servesDataset, DATASET) in void


def test_every_dump_is_listed_with_the_checksum_and_size_of_the_file(void, app_base):
    distributions = set(void.objects(DATASET, DCAT.distribution))
    assert {str(d).rsplit("/", 1)[1].split("-v")[0] for d in distributions} == {"ldn-kg"}
    assert len(distributions) == 2
    subsets = set(void.objects(DATASET, VOID.subset))
    per_graph = {d for subset in subsets for d in void.objects(subset, DCAT.distribution)}
    assert len(per_graph) == 2 * len(subsets)  # N-Quads and Turtle for each named graph

    for distribution in distributions | per_graph:
        url = str(void.value(distribution, DCAT.downloadURL))
        assert (None, VOID.dataDump, distribution) in void
        body = fetch(app_base + "/" + url.removeprefix(BASE)).body
        checksum = void.value(distribution, SPDX.checksum)
        assert void.value(checksum, SPDX.algorithm) == SPDX.checksumAlgorithm_sha256
        assert str(void.value(checksum, SPDX.checksumValue)) == hashlib.sha256(body).hexdigest()
        assert int(void.value(distribution, DCAT.byteSize)) == len(body)
        assert str(void.value(distribution, DCAT.compressFormat)).endswith("/application/gzip")
        assert str(void.value(distribution, DCAT.mediaType)).rsplit("/", 2)[-2:] in (
            ["application", "n-quads"], ["text", "turtle"])


@pytest.mark.parametrize("media_type", list(RDF_FORMATS))
def test_it_parses_in_every_format_by_accept_and_by_format(app_base, void, media_type):
    by_accept = fetch(f"{app_base}/.well-known/void", headers={"Accept": media_type})
    name = {"text/turtle": "ttl", "application/n-triples": "nt", "application/ld+json": "jsonld",
            "application/rdf+xml": "rdfxml"}[media_type]
    by_name = fetch(f"{app_base}/.well-known/void?format={name}")

    for reply in (by_accept, by_name):
        assert reply.status == 200 and reply.headers["content-type"].startswith(media_type)
        assert "Accept" in reply.headers["vary"]
        parsed = Graph().parse(data=reply.body, format=RDF_FORMATS[media_type])
        assert parsed.value(DATASET, VOID.triples) == void.value(DATASET, VOID.triples)
        assert len(parsed) == len(void)


def test_the_dataset_iri_answers_with_the_same_description(app_base, void):
    reply = fetch(f"{app_base}/dataset", headers={"Accept": "text/turtle"})

    assert reply.status == 200
    described = Graph().parse(data=reply.body, format="turtle")
    assert described.value(DATASET, VOID.triples) == void.value(DATASET, VOID.triples)
    assert (DATASET, DCTERMS.license, None) in described


@pytest.mark.parametrize(("suffix", "rdflib_format"), [("ttl", "turtle"), ("nt", "nt"), ("jsonld", "json-ld"), ("rdf", "xml")])
def test_the_dataset_iri_with_a_suffix_is_the_same_description_in_that_form(app_base, void, suffix, rdflib_format):
    reply = fetch(f"{app_base}/dataset.{suffix}")
    assert reply.status == 200, reply.text
    assert len(Graph().parse(data=reply.body, format=rdflib_format)) == len(void)


def test_rdf_clients_of_the_dump_listing_get_the_dcat(app_base):
    reply = fetch(f"{app_base}/dumps", headers={"Accept": "text/turtle"})

    described = Graph().parse(data=reply.body, format="turtle")
    graphs = len(set(described.objects(DATASET, VOID.subset)))
    assert len(set(described.subjects(RDF.type, DCAT.Distribution))) == 2 + 2 * graphs  # whole dataset + each graph


def test_people_get_a_page_of_the_dumps(app_base):
    reply = fetch(f"{app_base}/dumps", headers={"Accept": "text/html"})

    assert reply.status == 200 and reply.headers["content-type"].startswith("text/html")
    assert "ldn-kg-v" in reply.body.decode() and "SHA-256" in reply.body.decode()


def test_a_current_copy_is_revalidated_with_304(app_base):
    first = fetch(f"{app_base}/.well-known/void")

    again = fetch(f"{app_base}/.well-known/void", headers={"If-None-Match": first.headers["etag"]})

    assert again.status == 304
    assert again.headers["x-dataset-version"] == first.headers["x-dataset-version"]


def test_literal_counts_are_integers(void):
    assert void.value(DATASET, VOID.triples).datatype == XSD.integer
    assert isinstance(void.value(DATASET, VOID.triples), Literal)


@pytest.mark.parametrize("path", ["/.well-known/void", "/dataset", "/dataset.jsonld", "/dumps?format=nt"])
def test_the_description_is_the_same_bytes_on_every_request_of_a_version(app_base, path):
    """A mirror that compares bytes, or HEAD's Content-Length with GET's, sees one document per version."""
    first, second = fetch(f"{app_base}{path}"), fetch(f"{app_base}{path}")
    head = fetch(f"{app_base}{path}", method="HEAD")

    assert first.status == second.status == head.status == 200
    assert first.headers["etag"] == second.headers["etag"] == head.headers["etag"]
    assert first.body == second.body
    assert head.headers["content-length"] == first.headers["content-length"] == str(len(first.body))


@pytest.mark.parametrize("accept", ["text/html", "image/png", "text/html,application/xhtml+xml;q=0.9"])
def test_a_client_that_accepts_no_rdf_form_gets_406_listing_them(app_base, accept):
    reply = fetch(f"{app_base}/dataset", headers={"Accept": accept})
    well_known = fetch(f"{app_base}/.well-known/void", headers={"Accept": accept})

    assert reply.status == well_known.status == 406
    assert all(media_type in reply.text for media_type in RDF_FORMATS)


def test_a_browser_gets_turtle_by_its_wildcard_and_format_still_chooses(app_base):
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

    plain = fetch(f"{app_base}/dataset", headers={"Accept": browser})
    chosen = fetch(f"{app_base}/dataset?format=jsonld", headers={"Accept": "text/html"})

    assert plain.status == 200 and plain.content_type == "text/turtle"
    assert chosen.status == 200 and chosen.content_type == "application/ld+json"


def test_the_description_comes_gzip_compressed_when_the_client_accepts_it(app_base):
    plain = fetch(f"{app_base}/.well-known/void")

    compressed = fetch(f"{app_base}/.well-known/void", headers={"Accept-Encoding": "gzip"})
    head = fetch(f"{app_base}/.well-known/void", method="HEAD", headers={"Accept-Encoding": "gzip"})

    assert compressed.headers["content-encoding"] == "gzip"
    assert gzip.decompress(compressed.body) == plain.body
    assert "Accept-Encoding" in compressed.header_values("vary") and "Accept-Encoding" in plain.header_values("vary")
    assert head.headers["content-length"] == str(len(compressed.body))
    assert compressed.headers["etag"] == plain.headers["etag"]
