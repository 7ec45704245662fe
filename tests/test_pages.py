"""The pages people read, as a browser fetches them: a claim, a condition, a source, the ontology, the shapes, home.

A real `kgserver serve` answers on the built store. What each page lists is compared with what
a SPARQL query over the same store answers (or with the Turtle sources themselves), so a page
shows the data, all of it and nothing else. A second server holds labels and quotes written to
break out of HTML; its pages must show them as text.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rdflib import OWL, RDF, SH, SKOS, Graph, URIRef
from rdflib.collection import Collection
from serving import Reply, Server, fetch, in_process, serving

from kgserver import changes
from kgserver import store as kgstore
from kgserver.config import Settings

BASE = "https://w3id.org/ldn-kg/"
LDN = f"{BASE}ontology#"
SHP = f"{BASE}shapes#"
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
IMG_TTL = IMG.replace('"', '\\"')  # the same inside a Turtle string


# --------------------------------------------------------------------------------------------
# Reading pages
# --------------------------------------------------------------------------------------------
@dataclass
class Element:
    """An HTML element with its attributes, children and text, enough to look things up in a page."""

    tag: str
    attrs: dict[str, str]
    children: list[Element] = field(default_factory=list)
    parts: list[str | Element] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The element's text with its descendants', whitespace collapsed, as a reader sees it."""
        pieces = [part if isinstance(part, str) else part.text for part in self.parts]
        return " ".join("".join(pieces).split())

    def iter(self) -> Iterator[Element]:
        """This element and every descendant, in document order."""
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        """Descendants with the tag and attributes; `class_` matches one of the element's classes."""
        wanted_class = attrs.pop("class_", None)
        return [
            element
            for element in self.iter()
            if (tag is None or element.tag == tag)
            and all(element.attrs.get(name.replace("_", "-")) == value for name, value in attrs.items())
            and (wanted_class is None or wanted_class in element.attrs.get("class", "").split())
        ]

    def find(self, tag: str | None = None, **attrs: str) -> Element:
        """The first such descendant; fails the test when there is none."""
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag or '*'} {attrs}> in the page"
        return found[0]


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        self.stack[-1].parts.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        self.stack[-1].parts.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].parts.append(data)


def parse_html(source: str) -> Element:
    """A page's element tree, parsed with the standard library's HTML parser."""
    builder = _TreeBuilder()
    builder.feed(source)
    builder.close()
    return builder.root


def browse(url: str, headers: dict[str, str] | None = None) -> Reply:
    """GET as a browser does: Accept: text/html unless `headers` says otherwise."""
    return fetch(url, headers={"Accept": "text/html", **(headers or {})}, timeout=30)


def path_of(iri: str) -> str:
    """Where the server publishes an IRI under the base."""
    assert iri.startswith(BASE)
    return "/" + iri[len(BASE):]


def href_of(iri: str) -> str:
    """The link a page gives for an IRI: a path for the dataset's own IRIs, the IRI itself for others."""
    return path_of(iri) if iri.startswith(BASE) else iri


def page(server: str, iri: str) -> Element:
    """The HTML page of an IRI, which must be there."""
    reply = browse(server + path_of(iri))
    assert reply.status == 200, reply.text
    assert reply.headers["content-type"].startswith("text/html")
    return parse_html(reply.text)


def claims_listed(document: Element) -> set[str]:
    """The claims a page's claims table lists."""
    return {row.attrs["data-claim"] for row in document.find_all("tr", class_="claim-row")}


# --------------------------------------------------------------------------------------------
# A claim
# --------------------------------------------------------------------------------------------
def test_a_claim_page_shows_its_stance_quote_and_links_to_its_sources(app_base, built_store, run_query):
    claim = run_query(
        built_store,
        """SELECT ?claim ?stance ?level ?text ?source ?title ?doi ?pmid WHERE {
             ?claim a ldn:EvidenceClaim ; ldn:stance/rdfs:label ?stance ; ldn:evidenceLevel/rdfs:label ?level ;
                    ldn:articleText ?text ; ldn:evidenceSource ?source .
             ?source rdfs:label ?title ; ldn:doi ?doi ; ldn:pmid ?pmid
           } ORDER BY ?claim LIMIT 1""",
    )[0]

    document = page(app_base, claim["claim"])

    assert document.find(class_="stance").text == claim["stance"]
    assert document.find(class_="evidence-level").text == claim["level"]
    assert document.find("blockquote", class_="article-text").text == " ".join(claim["text"].split())
    source = document.find("ul", class_="sources")
    assert source.find("a", class_="doi").attrs["href"] == f"https://doi.org/{claim['doi']}"
    assert source.find("a", class_="pubmed").attrs["href"] == f"https://pubmed.ncbi.nlm.nih.gov/{claim['pmid']}/"
    local = source.find("a", class_="source-page")
    assert local.attrs["href"] == path_of(claim["source"])
    assert local.text == claim["title"]


def test_a_claim_page_names_what_the_claim_is_about_and_who_claims_it(app_base, built_store, run_query):
    claim = "https://w3id.org/ldn-kg/id/claim/off-label-use-parker"
    conditions = {row["c"] for row in run_query(built_store, f"SELECT ?c WHERE {{ <{claim}> ldn:aboutCondition ?c }}")}
    claimants = {row["a"] for row in run_query(built_store, f"SELECT ?a WHERE {{ <{claim}> ldn:claimedBy ?a }}")}

    document = page(app_base, claim)

    subjects = {a.attrs["href"] for dd in document.find_all("dd", class_="subject") for a in dd.find_all("a")}
    assert {path_of(iri) for iri in conditions} <= subjects
    assert {a.attrs["href"] for a in document.find_all("a", class_="claimant")} == {path_of(iri) for iri in claimants}
    assert document.find("a", class_="sourcing").text == "sourced"


def test_an_unsourced_claim_page_says_it_has_no_reference(app_base):
    document = page(app_base, "https://w3id.org/ldn-kg/id/claim/strong-opioid-antagonist")

    assert "gives no reference" in document.find("ul", class_="sources").text
    assert document.find("a", class_="sourcing").text == "unsourced"


# --------------------------------------------------------------------------------------------
# Conditions and sources
# --------------------------------------------------------------------------------------------
def test_each_condition_page_lists_exactly_the_claims_about_it(app_base, built_store, run_query):
    conditions = [row["c"] for row in run_query(built_store, "SELECT ?c WHERE { ?c a ldn:Condition }")]
    assert conditions

    for condition in conditions:
        expected = {
            row["claim"] for row in run_query(built_store, f"SELECT ?claim WHERE {{ ?claim ldn:aboutCondition <{condition}> }}")
        }
        document = page(app_base, condition)
        assert claims_listed(document) == expected, condition
        assert {a.attrs["href"] for a in document.find_all("a", class_="claim-link")} == {path_of(iri) for iri in expected}


def test_a_condition_page_gives_each_claims_stance_and_evidence_level(app_base, built_store, run_query):
    condition = "https://w3id.org/ldn-kg/id/fibromyalgia"
    expected = {
        (row["claim"], row["stance"], row["level"])
        for row in run_query(
            built_store,
            f"""SELECT ?claim ?stance ?level WHERE {{ ?claim ldn:aboutCondition <{condition}> ;
                  ldn:stance/rdfs:label ?stance ; ldn:evidenceLevel/rdfs:label ?level }}""",
        )
    }

    rows = page(app_base, condition).find_all("tr", class_="claim-row")

    assert {(row.attrs["data-claim"], row.find_all("td")[0].text, row.find_all("td")[1].text) for row in rows} == expected


def test_each_source_page_lists_the_claims_citing_it_apart_from_those_stated_in_it(app_base, built_store, run_query):
    """As CQ6 keeps them apart: the article a claim is stated in is not the source it cites."""
    sources = run_query(
        built_store,
        "SELECT ?s ?title ?doi WHERE { ?s a/rdfs:subClassOf* ldn:Source ; rdfs:label ?title OPTIONAL { ?s ldn:doi ?doi } }",
    )
    assert len(sources) > 1

    def claims(source: str, relation: str) -> set[str]:
        return {row["claim"] for row in run_query(built_store, f"SELECT ?claim WHERE {{ ?claim {relation} <{source}> }}")}

    for source in sources:
        citing, stated_in = claims(source["s"], "ldn:evidenceSource"), claims(source["s"], "ldn:statedIn")
        document = page(app_base, source["s"])
        assert claims_listed(document) == citing | stated_in, source["s"]
        if citing or not stated_in:
            assert claims_listed(document.find("section", id="claims")) == citing, source["s"]
            assert document.find("h2", id="claims-heading").text == f"Claims citing this source ({len(citing)})"
        else:
            assert not document.find_all("section", id="claims"), source["s"]
        if stated_in:
            assert claims_listed(document.find("section", id="stated-in")) == stated_in, source["s"]
            assert document.find("h2", id="stated-in-heading").text == f"Claims stated in this work ({len(stated_in)})"
        else:
            assert not document.find_all("section", id="stated-in"), source["s"]
        assert document.find("dd", class_="source-title").find("span", class_="title").text == source["title"]
        if "doi" in source:
            assert document.find("p", class_="read-it").find("a", class_="doi").attrs["href"] == f"https://doi.org/{source['doi']}"


def test_a_source_page_links_to_pubmed_and_pubmed_central(app_base, built_store, run_query):
    source = run_query(built_store, "SELECT ?s ?pmid ?pmcid WHERE { ?s ldn:pmid ?pmid ; ldn:pmcid ?pmcid } ORDER BY ?s LIMIT 1")[0]

    links = page(app_base, source["s"]).find("p", class_="read-it")

    assert links.find("a", class_="pubmed").attrs["href"] == f"https://pubmed.ncbi.nlm.nih.gov/{source['pmid']}/"
    assert links.find("a", class_="pmc").attrs["href"] == f"https://www.ncbi.nlm.nih.gov/pmc/articles/{source['pmcid']}/"


def test_the_wikipedia_articles_page_says_its_claims_are_stated_in_it_and_that_none_cites_it(app_base, built_store, run_query):
    article = f"{BASE}id/source/wikipedia-low-dose-naltrexone"
    stated = run_query(built_store, f"SELECT (COUNT(?claim) AS ?n) WHERE {{ ?claim ldn:statedIn <{article}> }}")[0]["n"]
    assert int(stated) > 1 and not run_query(built_store, f"SELECT ?claim WHERE {{ ?claim ldn:evidenceSource <{article}> }}")

    document = page(app_base, article)

    headings = [heading.text for heading in document.find_all("h2")]
    assert f"Claims stated in this work ({stated})" in headings
    assert not any(heading.startswith("Claims citing") for heading in headings)
    assert "none cites this work" in document.find("section", id="stated-in").text


# --------------------------------------------------------------------------------------------
# A submission
# --------------------------------------------------------------------------------------------
@pytest.mark.slow  # a curator's submission is checked by HermiT
def test_a_submissions_page_holds_its_reports_anchor_and_names_rdf_type_prefixed(built_store, sources_root, tmp_path,
                                                                                  add_curator):
    store = tmp_path / "store"
    shutil.copytree(built_store, store)
    token = add_curator("ada", "--store", store)
    with in_process(store, sources_root, env={"LDNKG_WARM_REASONER": "0"}) as app:
        addition = (Path(__file__).parent / "fixtures" / "valid" / "claim-with-new-source.ttl").read_bytes()
        answer = fetch(f"{app.base}/submissions", "POST", {"Content-Type": "text/turtle", "Accept": "application/json",
                                                          "Authorization": f"Bearer {token}"}, 300, addition)
        assert answer.status == 201, answer.text
        document = page(app.base, answer.json()["submission"])

    report_links = [link for link in document.find_all("a") if link.attrs.get("href", "").endswith("#report")]
    assert report_links  # prov:generated names the check's report, ID#report
    assert [element.tag for element in document.iter() if element.attrs.get("id") == "report"] == ["dt"]
    properties = {row.find_all("td")[1].text for row in document.find("table", class_="added-triples").find_all("tr")[1:]}
    assert "rdf:type" in properties and "label" in properties
    assert not any(name.startswith("http") for name in properties)


# --------------------------------------------------------------------------------------------
# The ontology and the shapes
# --------------------------------------------------------------------------------------------
def test_the_ontology_page_documents_every_class_and_property_of_the_ontology(app_base, sources_root):
    ontology = Graph().parse(sources_root / "ontology" / "ldn.ttl")
    kinds = (OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty, OWL.AnnotationProperty)  # ldn:textOrigin too
    terms = {subject for kind in kinds for subject in ontology.subjects(RDF.type, kind) if str(subject).startswith(LDN)}
    assert len(terms) > 50

    document = page(app_base, f"{BASE}ontology")

    for term in terms:
        name = str(term)[len(LDN):]
        entry = document.find(id=name)  # ldn:Drug lands on /ontology#Drug
        assert entry.attrs["data-iri"] == str(term)
        definition = ontology.value(term, SKOS.definition)
        if definition is not None:
            assert entry.find("p", class_="definition").text == " ".join(str(definition).split())
    assert document.find("a", class_="turtle").attrs["href"] == "/ontology.ttl"


def test_the_ontology_page_shows_superclasses_alignments_domains_and_ranges(app_base):
    document = page(app_base, f"{BASE}ontology")

    drug = document.find(id="Drug")
    hrefs = {a.attrs["href"] for a in drug.find_all("a")}
    assert "/ontology#ChemicalEntity" in hrefs  # its superclass in the ontology
    assert "http://schema.org/Drug" in hrefs  # its alignment to schema.org
    stance = document.find(id="stance")
    assert "/ontology#EvidenceClaim" in {a.attrs["href"] for a in stance.find_all("a")}  # domain
    assert "/ontology#Stance" in {a.attrs["href"] for a in stance.find_all("a")}  # range
    assert "functional" in stance.text
    evidence_source = document.find(id="evidenceSource")
    assert "http://purl.org/spar/cito/citesAsEvidence" in {a.attrs["href"] for a in evidence_source.find_all("a")}


def test_the_ontology_page_groups_the_controlled_vocabularies_by_class(app_base, sources_root):
    ontology = Graph().parse(sources_root / "ontology" / "ldn.ttl")
    stances = {str(s) for s in ontology.subjects(RDF.type, URIRef(f"{LDN}Stance"))}

    group = page(app_base, f"{BASE}ontology").find("section", id="vocabulary-Stance")

    assert {row.attrs["data-iri"] for row in group.find_all("tr", class_="individual")} == stances
    assert "SEPIO_0000403" in group.find(id="Supports").text  # its alignment


def test_the_shapes_page_documents_every_node_shape_with_its_messages(app_base, sources_root):
    shapes = Graph().parse(sources_root / "shapes" / "ldn-shapes.ttl")
    node_shapes = set(shapes.subjects(RDF.type, SH.NodeShape))
    assert node_shapes

    document = page(app_base, f"{BASE}shapes")

    for shape in node_shapes:
        entry = document.find("article", id=str(shape)[len(SHP):])
        for target in shapes.objects(shape, SH.targetClass):
            assert href_of(str(target)) in {a.attrs["href"] for a in entry.find_all("a")}
        messages = {" ".join(str(m).split()) for node in [shape, *shapes.objects(shape, SH.property), *shapes.objects(shape, SH.sparql)] for m in shapes.objects(node, SH.message)}
        for message in messages:
            assert message in entry.text, (shape, message)
    for group in shapes.subjects(RDF.type, SH.PropertyGroup):  # a property's sh:group links land on an entry
        assert document.find(id=str(group)[len(SHP):]).attrs["data-iri"] == str(group)


def test_the_shapes_page_reads_out_the_alternatives_a_property_may_take(app_base, sources_root):
    """`sh:or ( [ sh:class ldn:Receptor ] [ sh:class ldn:ReceptorFamily ] )` reads "one of: ldn:Receptor or ...", linked."""
    shapes = Graph().parse(sources_root / "shapes" / "ldn-shapes.ttl")
    alternatives = [
        (shape, shapes.value(prop, SH.path), [shapes.value(option, SH["class"]) or shapes.value(option, SH.datatype)
                                                for option in Collection(shapes, choice)])
        for shape in shapes.subjects(RDF.type, SH.NodeShape)
        for prop in shapes.objects(shape, SH.property)
        for choice in shapes.objects(prop, SH["or"])
    ]
    assert alternatives  # the bundled shapes say what a claim's intervention, and a receptor interaction's receptor, may be

    document = page(app_base, f"{BASE}shapes")

    for shape, path, options in alternatives:
        entry = document.find("article", id=str(shape)[len(SHP):])
        path_name = shapes.namespace_manager.normalizeUri(path)
        cells = [row.find_all("td")[1] for row in entry.find_all("tr") if row.find_all("td") and row.find_all("td")[0].text == path_name]
        cell = next((cell for cell in cells if "sh:or" in cell.text), None)
        assert cell is not None, (shape, path)
        names = [shapes.namespace_manager.normalizeUri(option) for option in options]
        assert f"sh:or one of: {' or '.join(names)}" in cell.text
        assert [a.attrs["href"] for a in cell.find("div", class_="choice").find_all("a")] == [href_of(str(option)) for option in options]


# --------------------------------------------------------------------------------------------
# Home
# --------------------------------------------------------------------------------------------
def _count(run_query, store: Path, sparql: str) -> int:
    return int(run_query(store, sparql)[0]["n"])


def test_the_home_page_counts_what_the_graph_holds(app_base, built_store, run_query):
    expected = {
        "count-claims": _count(run_query, built_store, "SELECT (COUNT(DISTINCT ?c) AS ?n) WHERE { ?c a ldn:EvidenceClaim }"),
        "count-sources": _count(
            run_query, built_store, "SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a ?t . ?t rdfs:subClassOf* ldn:Source }"
        ),
        "count-conditions": _count(run_query, built_store, "SELECT (COUNT(DISTINCT ?c) AS ?n) WHERE { ?c a ldn:Condition }"),
        "count-triples": _count(run_query, built_store, "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"),
    }
    health = browse(f"{app_base}/health", {"Accept": "application/json"})

    document = parse_html(browse(f"{app_base}/").text)

    assert {name: int(document.find("dd", id=name).text) for name in expected} == expected
    assert expected["count-triples"] == int(json.loads(health.text)["triples"])


def test_the_home_page_says_where_the_data_comes_from_and_links_to_every_service(app_base, built_store, run_query):
    article = run_query(
        built_store, "SELECT ?url ?revision ?licence WHERE { ?a a ldn:EncyclopediaArticle ; <http://schema.org/url> ?url ; ldn:revisionId ?revision ; ldn:contentLicense ?licence }"
    )[0]

    document = parse_html(browse(f"{app_base}/").text)

    hrefs = {a.attrs.get("href") for a in document.find("main").find_all("a")}
    assert {article["url"], article["licence"], "/query", "/.well-known/void", "/dumps", "/changes", "/ontology", "/ontology.ttl"} <= hrefs
    assert document.find("a", class_="revision").text == article["revision"]
    assert "CC BY-SA 4.0" in document.find("main").text


def test_the_evidence_map_has_a_mark_group_for_each_condition_and_level_with_claims(app_base, built_store, run_query):
    cells = {
        (row["condition"], row["level"], int(row["n"]))
        for row in run_query(
            built_store,
            """SELECT ?condition ?level (COUNT(DISTINCT ?claim) AS ?n) WHERE {
                 ?claim a ldn:EvidenceClaim ; ldn:aboutCondition ?condition ; ldn:evidenceLevel ?level
               } GROUP BY ?condition ?level""",
        )
    }
    by_stance = {
        (row["condition"], row["level"], row["stance"], int(row["n"]))
        for row in run_query(
            built_store,
            """SELECT ?condition ?level ?stance (COUNT(DISTINCT ?claim) AS ?n) WHERE {
                 ?claim a ldn:EvidenceClaim ; ldn:aboutCondition ?condition ; ldn:evidenceLevel ?level ; ldn:stance ?stance
               } GROUP BY ?condition ?level ?stance""",
        )
    }

    svg = parse_html(browse(f"{app_base}/").text).find("svg", class_="evidence-map")
    groups = svg.find_all("g", class_="cell")

    assert svg.attrs["role"] == "img" and svg.attrs["aria-labelledby"]
    assert svg.find("title").text.startswith("Evidence map")
    assert {(g.attrs["data-condition"], g.attrs["data-level"], int(g.attrs["data-count"])) for g in groups} == cells
    marks = {
        (g.attrs["data-condition"], g.attrs["data-level"], mark.attrs["data-stance"], int(mark.attrs["data-count"]))
        for g in groups
        for mark in g.find_all("a", class_="mark")
    }
    assert marks == by_stance
    for g in groups:
        for mark in g.find_all("a", class_="mark"):
            assert mark.find("circle") and mark.find("title").text  # a tooltip names the claims
            assert mark.attrs["href"].startswith(("/id/claim/", path_of(g.attrs["data-condition"])))


def test_the_evidence_map_has_a_legend_and_a_table_for_readers_without_the_picture(app_base, built_store, run_query):
    stances = {row["label"] for row in run_query(built_store, "SELECT ?label WHERE { ?s a ldn:Stance ; rdfs:label ?label }")}
    conditions = {
        row["label"] for row in run_query(built_store, "SELECT DISTINCT ?label WHERE { ?c ^ldn:aboutCondition/ldn:evidenceLevel ?l ; rdfs:label ?label }")
    }

    document = parse_html(browse(f"{app_base}/").text)

    assert {text.text for text in document.find("g", class_="legend").find_all("text")} == stances
    table = document.find("details", class_="evidence-map-table").find("table")
    assert {th.text for th in table.find("tbody").find_all("th")} == conditions


def test_the_evidence_maps_levels_go_from_the_strongest(app_base, built_store, run_query):
    ranked = run_query(built_store, """SELECT DISTINCT ?label ?rank WHERE {
        ?claim ldn:aboutCondition ?condition ; ldn:evidenceLevel ?level . ?level rdfs:label ?label ; ldn:rank ?rank }""")
    strongest_first = [row["label"] for row in sorted(ranked, key=lambda row: int(row["rank"]))]

    table = parse_html(browse(f"{app_base}/").text).find("details", class_="evidence-map-table").find("table")

    assert [th.text for th in table.find("thead").find_all("th")] == ["Condition", *strongest_first]


@pytest.mark.parametrize("path", ["/", "/shapes", "/query"])
def test_every_page_names_its_icon_and_the_browsers_own_request_for_one_finds_it(app_base, path):
    reply = browse(app_base + path)
    icon = parse_html(reply.text).find("link", rel="icon")
    assert icon.attrs["type"] == "image/svg+xml"
    policy = dict((directive.split(" ", 1) + [""])[:2] for directive in reply.headers["content-security-policy"].split("; "))
    assert "'self'" in policy.get("img-src", policy["default-src"]).split()  # the icon is this server's own

    served = browse(app_base + icon.attrs["href"], {"Accept": "image/avif,image/webp,image/svg+xml,image/*,*/*;q=0.8"})
    assert served.status == 200 and served.content_type == "image/svg+xml"
    assert parse_html(served.text).find("svg").attrs["viewbox"]

    asked = browse(app_base + "/favicon.ico", {"Accept": "image/avif,image/webp,image/svg+xml,image/*,*/*;q=0.8"})
    assert asked.status in (301, 308) and asked.headers["location"] == icon.attrs["href"]
    cache = {part.strip().split("=")[0]: part.strip().split("=")[-1] for part in asked.headers["cache-control"].split(",")}
    assert "public" in cache and int(cache["max-age"]) >= 86400  # asked for on every visit: kept, not asked again


def test_the_home_page_is_revalidated_by_its_etag(app_base):
    first = browse(f"{app_base}/")
    assert first.headers["etag"].startswith('W/"') and "last-modified" in first.headers

    again = browse(f"{app_base}/", {"If-None-Match": first.headers["etag"]})

    assert again.status == 304
    assert again.headers["etag"] == first.headers["etag"]


# --------------------------------------------------------------------------------------------
# Whose words: every page marks each literal by its property's ldn:textOrigin (in-process)
# --------------------------------------------------------------------------------------------
def marks_by_property(document: Element) -> dict[str, set[str]]:
    """For each row of the page's properties table, the marks beside its values."""
    table = document.find("table", class_="properties")
    return {
        row.find("th").text: {span.text for span in row.find_all("span", class_="text-origin")}
        for row in table.find_all("tr")
    }


def test_a_condition_page_says_its_definition_and_labels_are_the_curators_text(app_base):
    document = page(app_base, f"{BASE}id/multiple-sclerosis")

    definition = document.find("p", class_="definition")
    assert definition.text == "A demyelinating disease of the central nervous system. (curators' text)"
    assert definition.find("span", class_="text-origin").text == "(curators' text)"
    marks = marks_by_property(document)
    assert marks["definition"] == marks["label"] == marks["alternative label"] == {"(curators' text)"}
    assert marks["skos:exactMatch"] == set()  # links are not words


def test_a_source_page_says_its_title_is_the_sources_words_and_its_identifiers_bibliographic(app_base):
    document = page(app_base, f"{BASE}id/source/kim-2020")

    title = document.find("dd", class_="source-title")
    assert title.find("span", class_="title").text == "Low-Dose Naltrexone for Chronic Pain: Update and Systemic Review"
    assert title.find("span", class_="text-origin").text == "(a source's words)"
    facts = [child for child in document.find("dl", class_="facts").children if child.tag in ("dt", "dd")]
    marked = {term.text: value.find("span", class_="text-origin").text
              for term, value in zip(facts[::2], facts[1::2], strict=True) if value.find_all("span", class_="text-origin")}
    assert marked["DOI"] == marked["publication year"] == marked["author list"] == "(bibliographic data)"
    assert "authored by" not in marked  # a link to the authors, not words
    marks = marks_by_property(document)
    assert marks["title"] == {"(a source's words)"}
    assert marks["label"] == marks["definition"] == {"(curators' text)"}
    assert document.find("p", class_="definition").find("span", class_="text-origin").text == "(curators' text)"


def test_any_other_page_marks_whose_words_and_encodings_its_values_are(app_base):
    document = page(app_base, f"{BASE}id/finding/norway-2014-all-doctors")  # no page of its own kind

    marks = marks_by_property(document)
    assert marks["population"] == {"(curators' text)"}
    assert marks["measure"] == {"(the article's words)"}
    assert marks["proportion"] == marks["reference year"] == {"(curators' encoding)"}
    reading = marks_by_property(page(app_base, f"{BASE}id/reading/toljan-2018"))
    assert reading["interpretation of"] == {"(the article's words)"}


# --------------------------------------------------------------------------------------------
# Data that tries to be markup
# --------------------------------------------------------------------------------------------
HOSTILE_TTL = f"""
@prefix ldn:    <{LDN}> .
@prefix kg:     <{BASE}id/> .
@prefix src:    <{BASE}id/source/> .
@prefix claim:  <{BASE}id/claim/> .
@prefix owl:    <http://www.w3.org/2002/07/owl#> .
@prefix rdfs:   <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos:   <http://www.w3.org/2004/02/skos/core#> .

kg:hostile-condition a ldn:Condition , owl:NamedIndividual ;
    rdfs:label "{SCRIPT} syndrome"@en ;
    skos:definition "{IMG_TTL} a condition named to break pages"@en .

src:hostile-article a ldn:EncyclopediaArticle , owl:NamedIndividual ;
    rdfs:label "An article whose words are HTML"@en ;
    ldn:articleBody "{IMG_TTL} said the article, then {SCRIPT}" .

src:hostile-source a ldn:WebDocument , owl:NamedIndividual ;
    rdfs:label "{IMG_TTL} title"@en ;
    ldn:publicationYear 2020 ;
    ldn:doi "10.1234/{SCRIPT}" .

claim:hostile a ldn:EvidenceClaim , owl:NamedIndividual ;
    rdfs:label "{SCRIPT} claim"@en ;
    ldn:articleText "{IMG_TTL} said the article, then {SCRIPT}" ;
    ldn:quotation "{SCRIPT}" ;
    ldn:stance ldn:Supports ; ldn:evidenceLevel ldn:OrganisationStatement ; ldn:claimYear 2020 ;
    ldn:aboutCondition kg:hostile-condition ;
    ldn:claimedBy kg:wikipedia-contributors ;
    ldn:evidenceSource src:hostile-source ; ldn:sourcingStatus ldn:Sourced ;
    ldn:statedIn src:hostile-article ;
    ldn:evidenceCode ldn:CuratorInferenceFromWikipedia .
"""
HOSTILE_PAGES = ("/id/claim/hostile", "/id/hostile-condition", "/id/source/hostile-source", "/")


@pytest.fixture(scope="module")
def hostile_server(built_store: Path, sources_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`kgserver serve` on the project's graph plus a claim, condition and source whose words are HTML.

    The shapes would refuse these (the claim's words are not the article's, and only the curated
    article has a text of its own), so they are written into the built store's copy as a graph
    of their own, as a store holding them would serve them.
    """
    store = tmp_path_factory.mktemp("hostile") / "store"
    shutil.copytree(built_store, store)
    opened = kgstore.open_store(store)
    changes.commit(opened, Settings(root=sources_root), {f"{BASE}graph/hostile": Graph().parse(data=HOSTILE_TTL, format="turtle")})
    del opened
    with serving(store, sources_root, store.parent / "serve.log", "--workers", "1", "--threads", "4") as running:
        yield running


@pytest.mark.parametrize("path", HOSTILE_PAGES)
@pytest.mark.slow
def test_words_that_look_like_html_are_shown_as_text(hostile_server, path):
    reply = browse(hostile_server.base + path)
    assert reply.status == 200
    document = parse_html(reply.text)

    inline = [script for script in document.find_all("script")  # only the server's own files: the search box
              if not script.attrs.get("src", "").startswith("/static/") or script.text.strip()]
    assert inline == []
    assert document.find_all("img") == []
    assert not [
        (element.tag, name) for element in document.iter() for name in element.attrs if name.lower().startswith("on")
    ]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in reply.text
    assert SCRIPT in document.text  # the reader sees the words themselves


def test_a_claim_page_tells_the_articles_words_from_the_curators_text(app_base):
    document = page(app_base, "https://w3id.org/ldn-kg/id/claim/fibromyalgia-review-limitations")
    facts = [child for child in document.find("dl", class_="facts").children if child.tag in ("dt", "dd")]
    marked = {term.text: value.find("span", class_="text-origin").text
              for term, value in zip(facts[::2], facts[1::2], strict=True) if value.find_all("span", class_="text-origin")}
    assert marked == {"caveat": "(the article's words)", "claim year": "(curators' encoding)"}
    assert "the curators' text" in document.find("p", class_="text-origin-note").text
    headings = [element.text for element in document.iter() if element.tag in ("h2", "blockquote")]
    assert headings[headings.index("In the article's words") + 1] == document.find("blockquote", class_="article-text").text


@pytest.mark.slow
def test_a_hostile_claim_page_keeps_its_quote_and_link_intact(hostile_server):
    document = parse_html(browse(hostile_server.base + "/id/claim/hostile").text)

    assert document.find("blockquote", class_="article-text").text == f"{IMG} said the article, then {SCRIPT}"
    assert document.find("blockquote", class_="quotation").text == SCRIPT
    assert document.find("a", class_="doi").attrs["href"] == f"https://doi.org/10.1234/{SCRIPT}"
    assert document.find("a", class_="source-page").text == f"{IMG} title"
