"""A reviewer checks that the graph says what the article says, no more: every quoted
text is the article's, every reference is there once, every external identifier was
checked, and every term of the ontology is explained."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rdflib import Graph, Namespace, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SKOS

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
ARTICLE = SHARED / "seed" / "low-dose-naltrexone.wikipedia.txt"
MODELLING = SHARED / "MODELLING.md"
LDN = Namespace("https://w3id.org/ldn-kg/ontology#")
KG = "https://w3id.org/ldn-kg/"

needs_shared = pytest.mark.skipif(not ARTICLE.exists(), reason="shared/ is not beside the checkout")


@pytest.fixture(scope="module")
def data() -> Graph:
    g = Graph()
    for f in sorted((ROOT / "graph").glob("*.ttl")):
        g.parse(f)
    return g


@pytest.fixture(scope="module")
def ontology() -> Graph:
    return Graph().parse(ROOT / "ontology" / "ldn.ttl")


def squash(text: str) -> str:
    """Drop all whitespace: the article's text extraction glued some words together."""
    return re.sub(r"\s+", "", text)


@needs_shared
def test_every_article_text_and_quotation_is_in_the_article(data: Graph) -> None:
    article = squash(ARTICLE.read_text(encoding="utf-8"))
    quoted = [(s, o) for p in (LDN.articleText, LDN.quotation) for s, o in data.subject_objects(p)]
    assert len(quoted) >= 39
    missing = [(str(s), str(o)) for s, o in quoted if squash(str(o)) not in article]
    assert missing == []


@needs_shared
def test_the_article_body_in_the_graph_is_the_articles_text(data: Graph) -> None:
    seed = ARTICLE.read_text(encoding="utf-8")
    start = seed.index("From\u00a0Wikipedia,\u00a0the\u00a0free\u00a0encyclopedia")  # the tagline its type is read from
    end = seed.rindex("\n", 0, seed.index("oldid=1227531363"))  # the reference list ends before "Retrieved from"
    [body] = data.objects(None, LDN.articleBody)
    assert str(body) == re.sub(r"[^\S\n]", " ", seed[start:end].rstrip())  # non-breaking spaces as plain ones


@needs_shared
def test_every_sentence_of_the_article_body_is_covered_by_a_claim(data: Graph) -> None:
    text = ARTICLE.read_text(encoding="utf-8")
    body = text[text.index("Low-dose naltrexone (LDN) is"):text.index("References[edit]")]
    body = re.sub(r"^.*\[edit\]\s*$", "", body, flags=re.MULTILINE)  # section headings
    body = re.sub(r"\[(\d+|citation needed)\]", "", body)
    texts = sorted((squash(str(o)).rstrip(".") for o in data.objects(None, LDN.articleText)), key=len, reverse=True)
    uncovered = []
    for sentence in re.split(r"(?<=[.])\s+|\n", body):
        rest = squash(sentence)
        for t in texts:
            rest = rest.replace(t, "")
        if len(re.sub(r"\W", "", rest)) > 25:  # more than joining words is left over
            uncovered.append(rest)
    assert uncovered == []


def test_all_fourteen_references_once_with_4_and_7_merged(data: Graph) -> None:
    numbers = sorted(int(n) for n in data.objects(None, LDN.referenceNumber))
    assert numbers == list(range(1, 15))
    younger = URIRef(KG + "id/source/younger-2014")
    assert sorted(int(n) for n in data.objects(younger, LDN.referenceNumber)) == [4, 7]
    dois = [str(d).lower() for d in data.objects(None, LDN.doi)]
    assert len(dois) == len(set(dois)) == 10  # references 1, 5 and 10 give no DOI


def test_the_citation_needed_statement_is_marked_and_unsourced(data: Graph) -> None:
    flagged = list(data.subjects(LDN.sourcingStatus, LDN.CitationNeeded))
    assert len(flagged) == 1
    assert "not licensed or approved in the UK, EU and USA" in str(data.value(flagged[0], LDN.articleText))
    assert data.value(flagged[0], LDN.evidenceSource) is None


def test_the_article_itself_is_a_source_with_its_permanent_link(data: Graph) -> None:
    article = URIRef(KG + "id/source/wikipedia-low-dose-naltrexone")
    assert (article, RDF.type, LDN.EncyclopediaArticle) in data
    assert str(data.value(article, LDN.revisionId)) == "1227531363"
    claims = set(data.subjects(RDF.type, LDN.EvidenceClaim))
    assert claims == set(data.subjects(LDN.statedIn, article))


@needs_shared
def test_external_identifiers_are_only_those_checked(data: Graph, ontology: Graph) -> None:
    checked = MODELLING.read_text(encoding="utf-8")
    if "`UO:0000022`-`25`" in checked:  # the notes give the four mass units as a range
        checked += " UO:0000023 UO:0000024 UO:0000025"
    patterns = [
        (r"obo/([A-Za-z]+)_(\d+)$", "{0}:{1}"),
        (r"uniprot/(\w+)$", "{0}"),
        (r"mesh/(D\d+)$", "{0}"),
        (r"wikidata\.org/entity/(Q\d+)$", "{0}"),
        (r"drugbank\.com/drugs/(DB\d+)$", "{0}"),
        (r"pubchem/compound/CID(\d+)$", "{0}"),
        (r"hgnc:(\d+)$", "{0}"),
    ]
    match_props = (SKOS.exactMatch, SKOS.closeMatch, SKOS.broadMatch, SKOS.narrowMatch, SKOS.relatedMatch)
    unchecked = []
    for g in (data, ontology):
        for p in match_props:
            for target in g.objects(None, p):
                iri = str(target)
                if iri.startswith("https://w3id.org/biolink/"):
                    continue  # Biolink predicates are vocabulary names, not identifiers
                ident = next((fmt.format(*m.groups()) for pat, fmt in patterns if (m := re.search(pat, iri))), None)
                if ident is None or ident not in checked:
                    unchecked.append(iri)
    assert unchecked == []


def test_every_class_and_property_has_a_label_and_definition(ontology: Graph) -> None:
    kinds = (OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty)
    terms = {s for k in kinds for s in ontology.subjects(RDF.type, k) if str(s).startswith(str(LDN))}
    assert len(terms) > 80
    undocumented = [str(t) for t in terms
                    if ontology.value(t, RDFS.label) is None or ontology.value(t, SKOS.definition) is None]
    assert undocumented == []


def test_ontology_has_version_licence_and_description(ontology: Graph) -> None:
    onto = URIRef("https://w3id.org/ldn-kg/ontology")
    assert ontology.value(onto, OWL.versionIRI) is not None
    assert str(ontology.value(onto, URIRef("http://purl.org/dc/terms/license"))).startswith("https://creativecommons.org/")
    assert ontology.value(onto, URIRef("http://purl.org/dc/terms/description")) is not None
