"""What the pages for people show, as data read from the store: claims, conditions, sources, the home page's
summary, the ontology's and the shapes' documentation.

Every value comes from a SPARQL query over the store (through `kgserver.store.query`); nothing
shown is written here. Templates render these dataclasses; they never query.

    >>> claim = claim_detail(store, settings, "https://w3id.org/ldn-kg/id/claim/off-label-use-parker")
    >>> claim.summary.stance.label, claim.summary.sources[0].doi_url
    ('reports', 'https://doi.org/10.1002/14651858.CD010410.pub3')
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from pyoxigraph import BlankNode, Literal, NamedNode, QuerySolutions, Store

from kgserver import store as kgstore
from kgserver.config import Settings
from kgserver.formats import compact_iri

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


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------
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


@dataclass(frozen=True)
class SourceRef:
    """A source as a claim cites it: title, year and the identifiers that lead to the work itself."""

    iri: str
    title: str
    year: str | None = None
    doi: str | None = None
    pmid: str | None = None
    pmcid: str | None = None

    @property
    def doi_url(self) -> str | None:
        """The DOI resolver's address, the one link that always leads to the publisher."""
        return f"https://doi.org/{self.doi}" if self.doi else None

    @property
    def pubmed_url(self) -> str | None:
        """PubMed's page for the PMID."""
        return f"https://pubmed.ncbi.nlm.nih.gov/{self.pmid}/" if self.pmid else None

    @property
    def pmc_url(self) -> str | None:
        """PubMed Central's free full text for the PMCID."""
        return f"https://www.ncbi.nlm.nih.gov/pmc/articles/{self.pmcid}/" if self.pmcid else None


@dataclass(frozen=True)
class ClaimSummary:
    """A claim as a table row shows it: what it says, with which stance, on what evidence, citing what."""

    iri: str
    label: str
    stance: Link | None
    level: Link | None
    text: str
    quotation: str | None
    sources: tuple[SourceRef, ...]

    @property
    def excerpt(self) -> str:
        """The article's words cut to a table cell's length at a word boundary."""
        if len(self.text) <= EXCERPT_CHARS:
            return self.text
        return self.text[:EXCERPT_CHARS].rsplit(" ", 1)[0] + " …"


@dataclass(frozen=True)
class ClaimDetail:
    """Everything the claim page shows beyond the generic description."""

    summary: ClaimSummary
    subjects: tuple[Field, ...]
    claimants: tuple[Link, ...]
    sourcing: Link | None
    stated_in: tuple[Link, ...]
    notes: tuple[Field, ...]


@dataclass(frozen=True)
class SourceDetail:
    """A source's bibliographic record and the claims that cite it."""

    reference: SourceRef
    kinds: tuple[Link, ...]
    fields: tuple[Field, ...]
    claims: tuple[ClaimSummary, ...]


# --------------------------------------------------------------------------------------------
# Running queries
# --------------------------------------------------------------------------------------------
Row = dict[str, NamedNode | BlankNode | Literal]
Facts = list[tuple[str, NamedNode | BlankNode | Literal]]  # (property, value) pairs of one resource
Namer = Callable[[str], "Link"]  # an IRI to a labelled link


def select(store: Store, settings: Settings, sparql: str) -> list[Row]:
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


def _first_by_key(rows: Iterable[Row], key: str) -> dict[str, Row]:
    """The first row for each value of `key`, in query order; extra labels or languages repeat rows."""
    chosen: dict[str, Row] = {}
    for row in rows:
        chosen.setdefault(row[key].value, row)
    return chosen


def _name(settings: Settings, iri: str, label: str | None) -> str:
    """A resource's label, or its compact IRI when the graph gives none."""
    return label or compact_iri(iri, settings.prefixes).strip("<>")


# --------------------------------------------------------------------------------------------
# Claims, conditions, sources
# --------------------------------------------------------------------------------------------
_CLAIMS = """
SELECT ?claim ?label ?stance ?stanceLabel ?level ?levelLabel ?text ?quotation WHERE {
  %s
  ?claim a ldn:EvidenceClaim .
  OPTIONAL { ?claim rdfs:label ?label }
  OPTIONAL { ?claim ldn:stance ?stance OPTIONAL { ?stance rdfs:label ?stanceLabel } }
  OPTIONAL { ?claim ldn:evidenceLevel ?level OPTIONAL { ?level rdfs:label ?levelLabel } }
  OPTIONAL { ?claim ldn:articleText ?text }
  OPTIONAL { ?claim ldn:quotation ?quotation }
} ORDER BY LCASE(STR(?label)) ?claim
"""

_CLAIM_SOURCES = """
SELECT ?claim ?source ?title ?year ?doi ?pmid ?pmcid WHERE {
  %s
  ?claim a ldn:EvidenceClaim ; ldn:evidenceSource ?source .
  OPTIONAL { ?source rdfs:label ?title }
  OPTIONAL { ?source ldn:publicationYear ?year }
  OPTIONAL { ?source ldn:doi ?doi }
  OPTIONAL { ?source ldn:pmid ?pmid }
  OPTIONAL { ?source ldn:pmcid ?pmcid }
} ORDER BY ?year ?title ?source
"""


def claim_summaries(store: Store, settings: Settings, selector: str) -> tuple[ClaimSummary, ...]:
    """The claims that the SPARQL pattern `selector` binds to ?claim, with their sources, ordered by label."""
    sources: dict[str, dict[str, SourceRef]] = {}
    for row in select(store, settings, _CLAIM_SOURCES % selector):
        source = row["source"].value
        sources.setdefault(row["claim"].value, {}).setdefault(
            source,
            SourceRef(
                source,
                _name(settings, source, text(row, "title")),
                text(row, "year"),
                text(row, "doi"),
                text(row, "pmid"),
                text(row, "pmcid"),
            ),
        )
    rows = _first_by_key(select(store, settings, _CLAIMS % selector), "claim")
    return tuple(
        ClaimSummary(
            iri,
            _name(settings, iri, text(row, "label")),
            _link(settings, row, "stance"),
            _link(settings, row, "level"),
            text(row, "text") or "",
            text(row, "quotation"),
            tuple(sources.get(iri, {}).values()),
        )
        for iri, row in rows.items()
    )


def _link(settings: Settings, row: Row, name: str) -> Link | None:
    """The resource bound to `name` with the label bound to `name`Label."""
    iri = text(row, name)
    return Link(iri, _name(settings, iri, text(row, f"{name}Label"))) if iri else None


_CLAIM_LINKS = """
SELECT ?property ?propertyLabel ?value ?valueLabel WHERE {
  VALUES ?property { ldn:aboutIntervention ldn:aboutCondition ldn:aboutTarget ldn:aboutInteraction ldn:aboutEffect
                     ldn:aboutStudy ldn:aboutRegulatoryStatus ldn:aboutFinding ldn:claimedBy ldn:sourcingStatus
                     ldn:statedIn ldn:claimYear ldn:validAsOfYear ldn:outcome ldn:caveat ldn:flaggedSince }
  %s ?property ?value .
  OPTIONAL { ?property rdfs:label ?propertyLabel }
  OPTIONAL { ?value rdfs:label ?valueLabel }
} ORDER BY LCASE(STR(?valueLabel)) STR(?value)
"""
_SUBJECT_PROPERTIES = (
    "aboutIntervention",
    "aboutCondition",
    "aboutTarget",
    "aboutInteraction",
    "aboutEffect",
    "aboutStudy",
    "aboutRegulatoryStatus",
    "aboutFinding",
)
_NOTE_PROPERTIES = ("claimYear", "validAsOfYear", "outcome", "caveat", "flaggedSince")


def claim_detail(store: Store, settings: Settings, iri: str) -> ClaimDetail | None:
    """The claim page's content: the claim, what it is about, who claims it, how it is sourced."""
    summaries = claim_summaries(store, settings, f"VALUES ?claim {{ {iri_term(iri)} }}")
    if not summaries:
        return None
    ldn = settings.prefixes["ldn"]
    by_property = _values_by_property(settings, select(store, settings, _CLAIM_LINKS % iri_term(iri)))
    status = by_property.get(f"{ldn}sourcingStatus", ("", ()))[1]
    return ClaimDetail(
        summary=summaries[0],
        subjects=_fields(by_property, (f"{ldn}{name}" for name in _SUBJECT_PROPERTIES)),
        claimants=tuple(Link(value.href, value.text) for value in by_property.get(f"{ldn}claimedBy", ("", ()))[1] if value.href),
        sourcing=Link(status[0].href, status[0].text) if status and status[0].href else None,
        stated_in=tuple(Link(value.href, value.text) for value in by_property.get(f"{ldn}statedIn", ("", ()))[1] if value.href),
        notes=_fields(by_property, (f"{ldn}{name}" for name in _NOTE_PROPERTIES)),
    )


def _values_by_property(settings: Settings, rows: list[Row]) -> dict[str, tuple[str, tuple[Value, ...]]]:
    """Rows of ?property ?propertyLabel ?value ?valueLabel as {property: (its label, its distinct values)}."""
    grouped: dict[str, tuple[str, dict[str, Value]]] = {}
    for row in rows:
        prop = row["property"].value
        _, values = grouped.setdefault(prop, (_name(settings, prop, text(row, "propertyLabel")), {}))
        values.setdefault(row["value"].value, _value(settings, row["value"], text(row, "valueLabel")))
    return {prop: (name, tuple(values.values())) for prop, (name, values) in grouped.items()}


def _value(settings: Settings, term: NamedNode | BlankNode | Literal, label: str | None) -> Value:
    """A term as a page value: a resource links to its page, a literal is its text."""
    if isinstance(term, NamedNode):
        return Value(_name(settings, term.value, label), term.value, local=True)
    return Value(term.value)


def _fields(by_property: dict[str, tuple[str, tuple[Value, ...]]], properties: Iterable[str]) -> tuple[Field, ...]:
    """The given properties that have values, in the given order, as named fields."""
    return tuple(Field(*by_property[prop]) for prop in properties if prop in by_property)


def claims_about_condition(store: Store, settings: Settings, iri: str) -> tuple[ClaimSummary, ...]:
    """Every claim whose ldn:aboutCondition is the condition."""
    return claim_summaries(store, settings, f"?claim ldn:aboutCondition {iri_term(iri)} .")


def claims_citing(store: Store, settings: Settings, iri: str) -> tuple[ClaimSummary, ...]:
    """Every claim that cites the source as evidence: as its reference or as the work it is stated in."""
    return claim_summaries(
        store,
        settings,
        f"?citing rdfs:subPropertyOf* <http://purl.org/spar/cito/citesAsEvidence> . ?claim ?citing {iri_term(iri)} .",
    )


_SOURCE_FIELDS = """
SELECT ?property ?propertyLabel ?value ?valueLabel WHERE {
  %s ?property ?value .
  OPTIONAL { ?property rdfs:label ?propertyLabel }
  OPTIONAL { ?value rdfs:label ?valueLabel }
} ORDER BY ?value
"""
_BIBLIOGRAPHIC_FIELDS = (
    "ldn:authorList",
    "ldn:authoredBy",
    "ldn:publicationYear",
    "schema:datePublished",
    "ldn:publishedIn",
    "ldn:publishedBy",
    "schema:volumeNumber",
    "schema:issueNumber",
    "schema:pagination",
    "ldn:articleNumber",
    "ldn:doi",
    "ldn:pmid",
    "ldn:pmcid",
    "ldn:s2cid",
    "schema:url",
    "ldn:revisionId",
    "ldn:lastEdited",
    "ldn:contentLicense",
    "ldn:referenceNumber",
    "ldn:retrievedOn",
    "ldn:archivedOn",
    "ldn:citationNote",
    "ldn:reportsStudy",
)


def source_detail(store: Store, settings: Settings, iri: str) -> SourceDetail:
    """The source page's content: its bibliographic record with links out, and the claims that cite it."""
    prefixes = {**settings.prefixes, "schema": SCHEMA}
    by_property = _values_by_property(settings, select(store, settings, _SOURCE_FIELDS % iri_term(iri)))
    expanded = [prefixes[prefix] + local for prefix, local in (name.split(":") for name in _BIBLIOGRAPHIC_FIELDS)]
    fields = tuple(_with_identifier_links(field_, prop, settings) for field_, prop in zip(_fields_keeping(by_property, expanded), expanded, strict=False))
    reference = _source_reference(settings, iri, by_property)
    kinds = tuple(
        Link(value.href, value.text)
        for value in by_property.get(RDF_TYPE, ("", ()))[1]
        if value.href and value.href.startswith(settings.prefixes["ldn"])
    )
    return SourceDetail(reference, kinds, tuple(field_ for field_ in fields if field_ is not None), claims_citing(store, settings, iri))


def _fields_keeping(by_property: dict[str, tuple[str, tuple[Value, ...]]], properties: list[str]) -> list[Field | None]:
    """Named fields for the properties in order, None where the resource has no value."""
    return [Field(*by_property[prop]) if prop in by_property else None for prop in properties]


def _with_identifier_links(field_: Field | None, prop: str, settings: Settings) -> Field | None:
    """Identifiers (DOI, PMID, PMCID) and URLs link to where the work can be read."""
    if field_ is None:
        return None
    ldn = settings.prefixes["ldn"]
    make = {
        f"{ldn}doi": lambda value: SourceRef("", "", doi=value).doi_url,
        f"{ldn}pmid": lambda value: SourceRef("", "", pmid=value).pubmed_url,
        f"{ldn}pmcid": lambda value: SourceRef("", "", pmcid=value).pmc_url,
        f"{SCHEMA}url": lambda value: value if value.startswith(("https://", "http://")) else None,
        f"{ldn}contentLicense": lambda value: value if value.startswith(("https://", "http://")) else None,
    }.get(prop)
    if make is None:
        return field_
    return Field(field_.name, tuple(Value(value.text, make(value.text)) for value in field_.values))


def _source_reference(settings: Settings, iri: str, by_property: dict[str, tuple[str, tuple[Value, ...]]]) -> SourceRef:
    """The source's title, year and identifiers, picked from its fields."""
    ldn = settings.prefixes["ldn"]

    def first(prop: str) -> str | None:
        values = by_property.get(prop, ("", ()))[1]
        return values[0].text if values else None

    return SourceRef(
        iri,
        first(f"{RDFS}label") or _name(settings, iri, None),
        first(f"{ldn}publicationYear"),
        first(f"{ldn}doi"),
        first(f"{ldn}pmid"),
        first(f"{ldn}pmcid"),
    )


def is_source(store: Store, settings: Settings, types: Iterable[str]) -> bool:
    """Whether one of the types is ldn:Source or a subclass of it, stated or inferred."""
    values = " ".join(iri_term(kind) for kind in types)
    if not values:
        return False
    rows = select(store, settings, f"SELECT ?t WHERE {{ VALUES ?t {{ {values} }} ?t rdfs:subClassOf* ldn:Source }} LIMIT 1")
    return bool(rows)


# --------------------------------------------------------------------------------------------
# The home page
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Article:
    """The encyclopedia article the graph is curated from, at its revision."""

    iri: str
    title: str
    revision: str | None
    url: str | None
    licence: str | None
    last_edited: str | None


@dataclass(frozen=True)
class HomeSummary:
    """What the graph holds (counted) and where it comes from."""

    claims: int
    sources: int
    conditions: int
    triples: int
    graphs: int
    articles: tuple[Article, ...]


COUNT_CLAIMS = "SELECT (COUNT(DISTINCT ?claim) AS ?n) WHERE { ?claim a ldn:EvidenceClaim }"
COUNT_SOURCES = "SELECT (COUNT(DISTINCT ?source) AS ?n) WHERE { ?source a/rdfs:subClassOf* ldn:Source }"
COUNT_CONDITIONS = "SELECT (COUNT(DISTINCT ?condition) AS ?n) WHERE { ?condition a ldn:Condition }"
COUNT_TRIPLES = "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"
COUNT_GRAPHS = "SELECT (COUNT(DISTINCT ?g) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"
_ARTICLES = """
SELECT ?article ?title ?revision ?url ?licence ?edited WHERE {
  ?article a ldn:EncyclopediaArticle .
  OPTIONAL { ?article rdfs:label ?title }
  OPTIONAL { ?article ldn:revisionId ?revision }
  OPTIONAL { ?article <http://schema.org/url> ?url }
  OPTIONAL { ?article ldn:contentLicense ?licence }
  OPTIONAL { ?article ldn:lastEdited ?edited }
} ORDER BY ?article
"""


def count(store: Store, settings: Settings, sparql: str) -> int:
    """The ?n of a counting query."""
    rows = select(store, settings, sparql)
    return int(rows[0]["n"].value) if rows and "n" in rows[0] else 0


def home_summary(store: Store, settings: Settings) -> HomeSummary:
    """The home page's counts and the article the graph comes from."""
    articles = tuple(
        Article(
            iri,
            _name(settings, iri, text(row, "title")),
            text(row, "revision"),
            text(row, "url"),
            text(row, "licence"),
            text(row, "edited"),
        )
        for iri, row in _first_by_key(select(store, settings, _ARTICLES), "article").items()
    )
    return HomeSummary(
        claims=count(store, settings, COUNT_CLAIMS),
        sources=count(store, settings, COUNT_SOURCES),
        conditions=count(store, settings, COUNT_CONDITIONS),
        triples=count(store, settings, COUNT_TRIPLES),
        graphs=count(store, settings, COUNT_GRAPHS),
        articles=articles,
    )


@dataclass(frozen=True)
class EvidenceFact:
    """One claim about one condition: the unit the evidence map counts."""

    condition: Link
    level: Link
    stance: Link
    claim: Link


_EVIDENCE_FACTS = """
SELECT ?condition ?conditionLabel ?level ?levelLabel ?stance ?stanceLabel ?claim ?claimLabel WHERE {
  ?claim a ldn:EvidenceClaim ; ldn:aboutCondition ?condition ; ldn:evidenceLevel ?level ; ldn:stance ?stance .
  OPTIONAL { ?condition rdfs:label ?conditionLabel }
  OPTIONAL { ?level rdfs:label ?levelLabel }
  OPTIONAL { ?stance rdfs:label ?stanceLabel }
  OPTIONAL { ?claim rdfs:label ?claimLabel }
}
"""


def evidence_facts(store: Store, settings: Settings) -> list[EvidenceFact]:
    """Every (condition, evidence level, stance, claim) of the graph, once each."""
    facts: dict[tuple[str, str, str, str], EvidenceFact] = {}
    for row in select(store, settings, _EVIDENCE_FACTS):
        key = (row["condition"].value, row["level"].value, row["stance"].value, row["claim"].value)
        facts.setdefault(
            key,
            EvidenceFact(*(Link(iri, _name(settings, iri, text(row, f"{name}Label"))) for iri, name in zip(key, ("condition", "level", "stance", "claim"), strict=True))),
        )
    return list(facts.values())


def stances(store: Store, settings: Settings) -> list[Link]:
    """Every stance the ontology defines, so each keeps its colour whether or not a claim uses it."""
    rows = _first_by_key(select(store, settings, "SELECT ?stance ?label WHERE { ?stance a ldn:Stance OPTIONAL { ?stance rdfs:label ?label } }"), "stance")
    return [Link(iri, _name(settings, iri, text(row, "label"))) for iri, row in rows.items()]


# --------------------------------------------------------------------------------------------
# Ontology documentation
# --------------------------------------------------------------------------------------------
@dataclass
class Term:
    """One class, property or individual of the ontology as its documentation shows it."""

    iri: str
    anchor: str | None
    label: str
    definition: str | None = None
    comments: list[str] = field(default_factory=list)
    superclasses: list[Link] = field(default_factory=list)
    restrictions: list[tuple[Link, str, Link | str]] = field(default_factory=list)
    alignments: list[tuple[str, Link]] = field(default_factory=list)
    characteristics: list[str] = field(default_factory=list)
    domain: list[Link] = field(default_factory=list)
    range: list[Link] = field(default_factory=list)
    super_properties: list[Link] = field(default_factory=list)
    inverse_of: list[Link] = field(default_factory=list)
    rank: str | None = None


@dataclass(frozen=True)
class VocabularyGroup:
    """The individuals of one class, such as every ldn:Stance."""

    kind: Link
    anchor: str | None
    members: tuple[Term, ...]


@dataclass(frozen=True)
class OntologyDoc:
    """The ontology's header and its terms grouped as the documentation lists them."""

    iri: str
    title: str
    fields: tuple[Field, ...]
    classes: tuple[Term, ...]
    object_properties: tuple[Term, ...]
    datatype_properties: tuple[Term, ...]
    annotation_properties: tuple[Term, ...]
    vocabularies: tuple[VocabularyGroup, ...]


_ABOUT_TERMS = """
SELECT ?term ?p ?o WHERE {
  GRAPH %s { ?term ?p ?o }
  FILTER (isIRI(?term))
}
"""
_LABELS = "SELECT ?x ?label WHERE { GRAPH %s { ?x rdfs:label ?label } FILTER (isIRI(?x)) }"
_RESTRICTIONS = """
SELECT ?class ?property ?kind ?filler WHERE {
  GRAPH %s { ?class rdfs:subClassOf ?r . ?r owl:onProperty ?property ; ?kind ?filler }
  FILTER (isBlank(?r) && ?kind IN (owl:someValuesFrom, owl:allValuesFrom, owl:hasValue, owl:minCardinality,
                                   owl:maxCardinality, owl:cardinality, owl:qualifiedCardinality))
} ORDER BY ?class ?property
"""


def anchor(settings: Settings, iri: str) -> str | None:
    """The fragment of an ontology or shapes term (`Drug` for ldn:Drug), so hash IRIs land on its entry."""
    for namespace in (settings.prefixes["ldn"], settings.prefixes["shp"]):
        if iri.startswith(namespace) and len(iri) > len(namespace):
            return iri[len(namespace):]
    return None


def ontology_doc(store: Store, settings: Settings) -> OntologyDoc:
    """The ontology graph as documentation: classes, properties and controlled vocabularies."""
    graph = iri_term(settings.ontology_graph)
    labels = {row["x"].value: row["label"].value for row in select(store, settings, _LABELS % graph)}
    statements: dict[str, Facts] = {}
    for row in select(store, settings, _ABOUT_TERMS % graph):
        statements.setdefault(row["term"].value, []).append((row["p"].value, row["o"]))

    def link(iri: str) -> Link:
        return Link(iri, labels.get(iri) or compact_iri(iri, settings.prefixes).strip("<>"))

    ldn = settings.prefixes["ldn"]
    terms = {iri: _term(settings, iri, facts, link) for iri, facts in statements.items()}
    for row in select(store, settings, _RESTRICTIONS % graph):
        if row["class"].value in terms:
            filler = row["filler"]
            shown: Link | str = link(filler.value) if isinstance(filler, NamedNode) else filler.value
            terms[row["class"].value].restrictions.append((link(row["property"].value), _local(row["kind"].value), shown))

    def typed(kind: str, only_ldn: bool = True) -> tuple[Term, ...]:
        chosen = [terms[iri] for iri, facts in statements.items() if (RDF_TYPE, NamedNode(kind)) in facts and (iri.startswith(ldn) or not only_ldn)]
        return tuple(sorted(chosen, key=lambda term: term.label.lower()))

    ontology_iri = settings.base + "ontology"
    header = statements.get(ontology_iri, [])
    return OntologyDoc(
        iri=ontology_iri,
        title=next((o.value for p, o in header if p == f"{DCT}title"), labels.get(ontology_iri, "Ontology")),
        fields=_header_fields(header, link, {f"{DCT}title"}),
        classes=typed(f"{OWL}Class"),
        object_properties=typed(f"{OWL}ObjectProperty"),
        datatype_properties=typed(f"{OWL}DatatypeProperty"),
        annotation_properties=typed(f"{OWL}AnnotationProperty", only_ldn=False),
        vocabularies=_vocabularies(settings, statements, terms, link),
    )


def _local(iri: str) -> str:
    """The name after the namespace, such as `someValuesFrom`."""
    return iri.rsplit("#", 1)[-1].rsplit("/", 1)[-1]


def _term(settings: Settings, iri: str, facts: Facts, link: Namer) -> Term:
    """A term's documentation from its statements in the ontology graph."""
    ldn = settings.prefixes["ldn"]
    term = Term(iri, anchor(settings, iri), link(iri).label)
    for prop, value in facts:
        if isinstance(value, Literal):
            if prop == f"{SKOS}definition" and term.definition is None:
                term.definition = value.value
            elif prop in (f"{RDFS}comment", f"{SKOS}scopeNote", f"{SKOS}note"):
                term.comments.append(value.value)
            elif prop == f"{ldn}rank":
                term.rank = value.value
            continue
        if not isinstance(value, NamedNode):
            continue
        target = value.value
        if prop == f"{RDFS}subClassOf":
            (term.superclasses if target.startswith(ldn) else term.alignments).append(
                link(target) if target.startswith(ldn) else ("rdfs:subClassOf", link(target))
            )
        elif prop in ALIGNMENT_PROPERTIES:
            term.alignments.append((compact_iri(prop, settings.prefixes).strip("<>"), link(target)))
        elif prop == RDF_TYPE and target in PROPERTY_CHARACTERISTICS:
            term.characteristics.append(_local(target).removesuffix("Property").lower())
        elif prop == f"{RDFS}domain":
            term.domain.append(link(target))
        elif prop == f"{RDFS}range":
            term.range.append(link(target))
        elif prop == f"{RDFS}subPropertyOf":
            term.super_properties.append(link(target))
        elif prop == f"{OWL}inverseOf":
            term.inverse_of.append(link(target))
    return term


def _header_fields(header: Facts, link: Namer, skip: set[str]) -> tuple[Field, ...]:
    """The ontology's own annotations (version, description, licence...) as fields."""
    grouped: dict[str, list[Value]] = {}
    for prop, value in header:
        if prop in skip or prop == RDF_TYPE:
            continue
        if isinstance(value, NamedNode):
            shown = Value(link(value.value).label, value.value, local=True)
        else:
            shown = Value(value.value)
        grouped.setdefault(prop, []).append(shown)
    return tuple(Field(link(prop).label if link(prop).label != prop else _local(prop), tuple(values)) for prop, values in grouped.items())


def _vocabularies(settings: Settings, statements: dict[str, Facts], terms: dict[str, Term], link: Namer) -> tuple[VocabularyGroup, ...]:
    """The named individuals of the ontology, grouped by their class, classes in label order."""
    groups: dict[str, list[Term]] = {}
    for iri, facts in statements.items():
        kinds = [o.value for p, o in facts if p == RDF_TYPE and isinstance(o, NamedNode)]
        if f"{OWL}NamedIndividual" not in kinds:
            continue
        for kind in kinds:
            if kind != f"{OWL}NamedIndividual":
                groups.setdefault(kind, []).append(terms[iri])
    ordered = sorted(groups.items(), key=lambda item: link(item[0]).label.lower())
    return tuple(
        VocabularyGroup(
            link(kind),
            f"vocabulary-{anchor(settings, kind) or _local(kind)}",
            tuple(sorted(members, key=lambda term: (int(term.rank) if term.rank and term.rank.isdigit() else 0, term.label.lower()))),
        )
        for kind, members in ordered
    )


# --------------------------------------------------------------------------------------------
# Shapes documentation
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Constraint:
    """One property shape (or one alternative of sh:or): its path, its parameters, severity and message."""

    path: str
    parameters: tuple[tuple[str, tuple[Value, ...]], ...]
    severity: str | None
    message: str | None


@dataclass(frozen=True)
class SparqlCheck:
    """A SPARQL-based constraint: what it tells the curator and the query that finds the problem."""

    message: str | None
    severity: str | None
    select: str


@dataclass(frozen=True)
class NodeShape:
    """A node shape as the shapes documentation shows it."""

    iri: str
    anchor: str | None
    label: str
    targets: tuple[tuple[str, Value], ...]
    severity: str | None
    message: str | None
    properties: tuple[Constraint, ...]
    alternatives: tuple[Constraint, ...]
    sparql: tuple[SparqlCheck, ...]


@dataclass(frozen=True)
class ShapesDoc:
    """The shapes graph's header and every node shape."""

    iri: str
    title: str
    description: str | None
    shapes: tuple[NodeShape, ...]


_SHAPES = """
SELECT ?shape ?p ?o WHERE { GRAPH %s { ?shape a sh:NodeShape ; ?p ?o } } ORDER BY ?shape
"""
_SHAPE_PARTS = """
SELECT ?shape ?link ?part ?p ?o WHERE {
  GRAPH %s { ?shape a sh:NodeShape ; ?link ?part . ?part ?p ?o }
  FILTER (isBlank(?part) && ?link IN (sh:property, sh:sparql))
}
"""
_SHAPE_ALTERNATIVES = """
SELECT ?shape ?alternative ?p ?o WHERE {
  GRAPH %s { ?shape a sh:NodeShape ; sh:or/rdf:rest*/rdf:first ?alternative . ?alternative ?p ?o }
}
"""
_TARGETS = ("targetClass", "targetNode", "targetSubjectsOf", "targetObjectsOf")
_NOT_PARAMETERS = {f"{SH}path", f"{SH}message", f"{SH}severity", RDF_TYPE}


def shapes_doc(store: Store, settings: Settings) -> ShapesDoc:
    """The shapes graph as documentation: each node shape, its targets, constraints and messages."""
    graph = iri_term(settings.shapes_graph)
    labels = {row["x"].value: row["label"].value for row in select(store, settings, _LABELS % iri_term(settings.ontology_graph))}

    def show(term: NamedNode | BlankNode | Literal) -> tuple[Value, ...]:
        if isinstance(term, NamedNode):
            return (Value(compact_iri(term.value, settings.prefixes).strip("<>"), term.value, local=True),)
        if isinstance(term, BlankNode):
            return tuple(value for member in _rdf_list(store, term, settings.shapes_graph) for value in show(member))
        return (Value(term.value),)

    shapes: dict[str, Facts] = {}
    for row in select(store, settings, _SHAPES % graph):
        shapes.setdefault(row["shape"].value, []).append((row["p"].value, row["o"]))
    parts: dict[str, dict[str, tuple[str, Facts]]] = {}
    for row in select(store, settings, _SHAPE_PARTS % graph):
        parts.setdefault(row["shape"].value, {}).setdefault(str(row["part"]), (row["link"].value, []))[1].append((row["p"].value, row["o"]))
    alternatives: dict[str, dict[str, Facts]] = {}
    for row in select(store, settings, _SHAPE_ALTERNATIVES % graph):
        alternatives.setdefault(row["shape"].value, {}).setdefault(str(row["alternative"]), []).append((row["p"].value, row["o"]))

    def constraint(facts: Facts) -> Constraint:
        lookup = _facts(facts)
        parameters: dict[str, list[Value]] = {}
        for prop, value in facts:
            if prop not in _NOT_PARAMETERS:
                parameters.setdefault(compact_iri(prop, settings.prefixes).strip("<>"), []).extend(show(value))
        path = lookup.get(f"{SH}path")
        return Constraint(
            path=" / ".join(value.text for value in show(path)) if path is not None else "(this node)",
            parameters=tuple((name, tuple(values)) for name, values in sorted(parameters.items())),
            severity=_local(lookup[f"{SH}severity"].value) if f"{SH}severity" in lookup else None,
            message=lookup[f"{SH}message"].value if f"{SH}message" in lookup else None,
        )

    documented = []
    for iri, facts in shapes.items():
        lookup = _facts(facts)
        shape_parts = parts.get(iri, {}).values()
        documented.append(
            NodeShape(
                iri=iri,
                anchor=anchor(settings, iri),
                label=lookup[f"{RDFS}label"].value if f"{RDFS}label" in lookup else compact_iri(iri, settings.prefixes).strip("<>"),
                targets=tuple(
                    (name, Value(labels.get(value.value) or compact_iri(value.value, settings.prefixes).strip("<>"), value.value, local=True))
                    for name in _TARGETS
                    for prop, value in facts
                    if prop == f"{SH}{name}" and isinstance(value, NamedNode)
                ),
                severity=_local(lookup[f"{SH}severity"].value) if f"{SH}severity" in lookup else None,
                message=lookup[f"{SH}message"].value if f"{SH}message" in lookup else None,
                properties=tuple(
                    sorted((constraint(part) for link_, part in shape_parts if link_ == f"{SH}property"), key=lambda c: c.path)
                ),
                alternatives=tuple(constraint(part) for part in alternatives.get(iri, {}).values()),
                sparql=tuple(_sparql_check(part) for link_, part in shape_parts if link_ == f"{SH}sparql"),
            )
        )
    header = _facts(select_pairs(store, settings, settings.base + "shapes", graph))
    return ShapesDoc(
        iri=settings.base + "shapes",
        title=header[f"{DCT}title"].value if f"{DCT}title" in header else "Shapes",
        description=header[f"{DCT}description"].value if f"{DCT}description" in header else None,
        shapes=tuple(sorted(documented, key=lambda shape: shape.label.lower())),
    )


def select_pairs(store: Store, settings: Settings, iri: str, graph: str) -> Facts:
    """The (property, value) pairs of one resource in one graph."""
    return [(row["p"].value, row["o"]) for row in select(store, settings, f"SELECT ?p ?o WHERE {{ GRAPH {graph} {{ {iri_term(iri)} ?p ?o }} }}")]


def _facts(facts: Facts) -> dict[str, NamedNode | BlankNode | Literal]:
    """The first value of each property, for properties that have one."""
    lookup: dict[str, NamedNode | BlankNode | Literal] = {}
    for prop, value in facts:
        lookup.setdefault(prop, value)
    return lookup


def _sparql_check(facts: Facts) -> SparqlCheck:
    """A sh:sparql constraint's message, severity and query."""
    lookup = _facts(facts)
    return SparqlCheck(
        message=lookup[f"{SH}message"].value if f"{SH}message" in lookup else None,
        severity=_local(lookup[f"{SH}severity"].value) if f"{SH}severity" in lookup else None,
        select=_dedent(lookup[f"{SH}select"].value) if f"{SH}select" in lookup else "",
    )


def _dedent(query: str) -> str:
    """A query from a Turtle long string without the indentation of the file around it."""
    return textwrap.dedent(query).strip()


def _rdf_list(store: Store, head: BlankNode | NamedNode, graph: str) -> Iterator[NamedNode | BlankNode | Literal]:
    """The members of an RDF collection in order (sh:in values, sh:path sequences)."""
    seen: set[str] = set()
    node: NamedNode | BlankNode = head
    context = NamedNode(graph)
    while not (isinstance(node, NamedNode) and node.value == RDF_NIL) and str(node) not in seen:
        seen.add(str(node))
        firsts = list(store.quads_for_pattern(node, NamedNode(RDF_FIRST), None, context))
        rests = list(store.quads_for_pattern(node, NamedNode(RDF_REST), None, context))
        if not firsts or not rests:
            return
        yield firsts[0].object
        node = rests[0].object
