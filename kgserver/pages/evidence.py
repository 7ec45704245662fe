"""Claims, conditions and sources as their pages show them: a claim with its stance, words and sources,
every claim about a condition, every claim citing a source and every claim stated in it.

A claim page is built from the summary its resource page already holds (the claim's triples,
read once by `describe`); only its sources' records are asked of the store.

    >>> from kgserver.linkeddata import describe
    >>> description = describe.describe(store, settings, "https://w3id.org/ldn-kg/id/claim/off-label-use-parker")
    >>> claim = claim_detail(store, settings, describe.summarise(store, description, describe.text_origin(settings)))
    >>> claim.summary.stance.label, claim.summary.sources[0].doi_url
    ('reports', 'https://doi.org/10.1002/14651858.CD010410.pub3')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pyoxigraph import BlankNode, Literal, NamedNode

from kgserver.config import Settings
from kgserver.linkeddata.describe import Property, Summary, Term
from kgserver.pages.values import (
    EXCERPT_CHARS,
    RDF_TYPE,
    RDFS,
    SCHEMA,
    Field,
    Link,
    Row,
    Value,
    display_name,
    first_by_key,
    iri_term,
    select,
    text,
)
from kgserver.store import GraphStore


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
    """A source's bibliographic record, the claims that cite it as evidence and those stated in it (apart, as CQ6
    keeps them: the article the claims are stated in is not their evidence); `title` is its ldn:title (a source's
    words) where it has one, else its label (the curators' name for it), marked with whose words it is."""

    reference: SourceRef
    kinds: tuple[Link, ...]
    fields: tuple[Field, ...]
    citing: tuple[ClaimSummary, ...]
    stated_in: tuple[ClaimSummary, ...] = ()
    title: Field | None = None


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

_SOURCE_REFS = """
SELECT ?claim ?source ?title ?year ?doi ?pmid ?pmcid WHERE {
  %s
  OPTIONAL { ?source rdfs:label ?title }
  OPTIONAL { ?source ldn:publicationYear ?year }
  OPTIONAL { ?source ldn:doi ?doi }
  OPTIONAL { ?source ldn:pmid ?pmid }
  OPTIONAL { ?source ldn:pmcid ?pmcid }
} ORDER BY ?year ?title ?source
"""


def claim_summaries(store: GraphStore, settings: Settings, selector: str) -> tuple[ClaimSummary, ...]:
    """The claims that the SPARQL pattern `selector` binds to ?claim, with their sources, ordered by label.

    The claims are found first and then named in VALUES: joined with `?claim a ldn:EvidenceClaim`
    in one query, a selector with a property path was evaluated after the type (a source page
    took 0.7 s at 1M triples instead of a few milliseconds).
    """
    claims = [row.get("claim") for row in select(store, settings, f"SELECT DISTINCT ?claim WHERE {{ {selector} }}")]
    if not claims:
        return ()
    if all(isinstance(claim, NamedNode) for claim in claims):  # a blank node cannot be named: keep the pattern
        selector = "VALUES ?claim { " + " ".join(str(claim) for claim in claims) + " }"
    sources = _source_refs(store, settings, f"{selector}\n  ?claim a ldn:EvidenceClaim ; ldn:evidenceSource ?source .")
    rows = first_by_key(select(store, settings, _CLAIMS % selector), "claim")
    return tuple(
        ClaimSummary(
            iri,
            display_name(settings, iri, text(row, "label")),
            _link(settings, row, "stance"),
            _link(settings, row, "level"),
            text(row, "text") or "",
            text(row, "quotation"),
            tuple(sources.get(iri, {}).values()),
        )
        for iri, row in rows.items()
    )


def _source_refs(store: GraphStore, settings: Settings, pattern: str) -> dict[str, dict[str, SourceRef]]:
    """{claim: {source: its reference}} for the pairs `pattern` binds to ?claim ?source, by year and title."""
    sources: dict[str, dict[str, SourceRef]] = {}
    for row in select(store, settings, _SOURCE_REFS % pattern):
        source = row["source"].value
        sources.setdefault(row["claim"].value, {}).setdefault(
            source,
            SourceRef(
                source,
                display_name(settings, source, text(row, "title")),
                text(row, "year"),
                text(row, "doi"),
                text(row, "pmid"),
                text(row, "pmcid"),
            ),
        )
    return sources


def _link(settings: Settings, row: Row, name: str) -> Link | None:
    """The resource bound to `name` with the label bound to `name`Label."""
    iri = text(row, name)
    return Link(iri, display_name(settings, iri, text(row, f"{name}Label"))) if iri else None


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


def claim_detail(store: GraphStore, settings: Settings, summary: Summary) -> ClaimDetail:
    """The claim page's content: the claim, what it is about, who claims it, how it is sourced.

    `summary` is the claim's resource page (`describe.summarise`): its properties, with their
    names, whose words they are and the labels of their values, are the claim's; the store is
    asked only for the records of the sources it cites.
    """
    ldn = settings.prefixes["ldn"]
    fields = {prop.iri: _field(settings, prop) for prop in summary.properties}

    def first(name: str) -> Value | None:
        found = fields.get(f"{ldn}{name}")
        return found.values[0] if found is not None and found.values else None

    def link(name: str) -> Link | None:
        value = first(name)
        return Link(value.href, value.text) if value is not None and value.href else None

    def links(name: str) -> tuple[Link, ...]:
        found = fields.get(f"{ldn}{name}")
        return tuple(Link(value.href, value.text) for value in found.values if value.href) if found is not None else ()

    pairs = " ".join(f"({iri_term(summary.iri)} {iri_term(source.iri)})" for source in links("evidenceSource"))
    sources = _source_refs(store, settings, f"VALUES (?claim ?source) {{ {pairs} }}").get(summary.iri, {}) if pairs else {}
    text_value, quotation = first("articleText"), first("quotation")
    return ClaimDetail(
        summary=ClaimSummary(
            summary.iri,
            display_name(settings, summary.iri, summary.label),
            link("stance"),
            link("evidenceLevel"),
            text_value.text if text_value is not None else "",
            quotation.text if quotation is not None else None,
            tuple(sources.values()),
        ),
        subjects=tuple(Field(fields[prop].name, fields[prop].values) for prop in _named(ldn, _SUBJECT_PROPERTIES, fields)),
        claimants=links("claimedBy"),
        sourcing=link("sourcingStatus"),
        stated_in=links("statedIn"),
        notes=tuple(fields[prop] for prop in _named(ldn, _NOTE_PROPERTIES, fields)),
    )


def _named(namespace: str, names: Iterable[str], present: dict[str, Field]) -> list[str]:
    """The properties `namespace`+name that the resource has, in the given order."""
    return [namespace + name for name in names if namespace + name in present]


def _field(settings: Settings, prop: Property) -> Field:
    """A property of a summary as a field: its name, its distinct values (unlabelled first, then by label, case
    aside, then by value) and whose words they are."""
    distinct: dict[str, Term] = {}
    for term in sorted(prop.values, key=lambda term: (term.label is not None, (term.label or "").lower(), term.value)):
        distinct.setdefault(term.value, term)
    values = tuple(
        Value(display_name(settings, term.value, term.label), term.value, local=True) if term.kind == "iri" else Value(term.value)
        for term in distinct.values()
    )
    return Field(display_name(settings, prop.iri, prop.label), values, prop.origin)


def _values_by_property(settings: Settings, rows: list[Row]) -> dict[str, tuple[str, tuple[Value, ...]]]:
    """Rows of ?property ?propertyLabel ?value ?valueLabel as {property: (its label, its distinct values)}."""
    grouped: dict[str, tuple[str, dict[str, Value]]] = {}
    for row in rows:
        prop = row["property"].value
        _, values = grouped.setdefault(prop, (display_name(settings, prop, text(row, "propertyLabel")), {}))
        values.setdefault(row["value"].value, _value(settings, row["value"], text(row, "valueLabel")))
    return {prop: (name, tuple(values.values())) for prop, (name, values) in grouped.items()}


def _value(settings: Settings, term: NamedNode | BlankNode | Literal, label: str | None) -> Value:
    """A term as a page value: a resource links to its page, a literal is its text."""
    if isinstance(term, NamedNode):
        return Value(display_name(settings, term.value, label), term.value, local=True)
    return Value(term.value)


def claims_about_condition(store: GraphStore, settings: Settings, iri: str) -> tuple[ClaimSummary, ...]:
    """Every claim whose ldn:aboutCondition is the condition."""
    return claim_summaries(store, settings, f"?claim ldn:aboutCondition {iri_term(iri)} .")


def claims_citing(store: GraphStore, settings: Settings, iri: str) -> tuple[ClaimSummary, ...]:
    """Every claim that cites the source as evidence (ldn:evidenceSource or another cito:citesAsEvidence)."""
    return claim_summaries(
        store,
        settings,
        f"?citing rdfs:subPropertyOf* <http://purl.org/spar/cito/citesAsEvidence> . ?claim ?citing {iri_term(iri)} .",
    )


def claims_stated_in(store: GraphStore, settings: Settings, iri: str) -> tuple[ClaimSummary, ...]:
    """Every claim stated in the work (ldn:statedIn): its words are quoted from it, which is not citing it."""
    return claim_summaries(store, settings, f"?claim ldn:statedIn {iri_term(iri)} .")


_SOURCE_FIELDS = """
SELECT ?property ?propertyLabel ?originLabel ?value ?valueLabel WHERE {
  %s ?property ?value .
  OPTIONAL { ?property rdfs:label ?propertyLabel }
  OPTIONAL { ?property ldn:textOrigin/rdfs:label ?originLabel }
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


def source_detail(store: GraphStore, settings: Settings, iri: str) -> SourceDetail:
    """The source page's content: its bibliographic record with links out, the claims citing it and those stated in it."""
    prefixes = {**settings.prefixes, "schema": SCHEMA}
    rows = select(store, settings, _SOURCE_FIELDS % iri_term(iri))
    by_property = _values_by_property(settings, rows)
    origins = {row["property"].value: text(row, "originLabel") or "" for row in rows if text(row, "originLabel")}
    expanded = [prefixes[prefix] + local for prefix, local in (name.split(":") for name in _BIBLIOGRAPHIC_FIELDS)]
    fields = tuple(
        _with_identifier_links(field_, prop, settings)
        for field_, prop in zip(_fields_keeping(by_property, expanded, origins), expanded, strict=False)
    )
    reference = _source_reference(settings, iri, by_property)
    kinds = tuple(
        Link(value.href, value.text)
        for value in by_property.get(RDF_TYPE, ("", ()))[1]
        if value.href and value.href.startswith(settings.prefixes["ldn"])
    )
    [title] = _fields_keeping(by_property, [f"{settings.prefixes['ldn']}title"], origins)
    if title is None:
        [title] = _fields_keeping(by_property, [f"{RDFS}label"], origins)
    return SourceDetail(
        reference, kinds, tuple(field_ for field_ in fields if field_ is not None),
        claims_citing(store, settings, iri), claims_stated_in(store, settings, iri), title,
    )


def _fields_keeping(
    by_property: dict[str, tuple[str, tuple[Value, ...]]], properties: list[str], origins: dict[str, str]
) -> list[Field | None]:
    """Named fields for the properties in order, with whose words they hold, None where the resource has no value."""
    return [Field(*by_property[prop], origins.get(prop)) if prop in by_property else None for prop in properties]


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
    return Field(field_.name, tuple(Value(value.text, make(value.text)) for value in field_.values), field_.origin)


def _source_reference(settings: Settings, iri: str, by_property: dict[str, tuple[str, tuple[Value, ...]]]) -> SourceRef:
    """The source's title, year and identifiers, picked from its fields."""
    ldn = settings.prefixes["ldn"]

    def first(prop: str) -> str | None:
        values = by_property.get(prop, ("", ()))[1]
        return values[0].text if values else None

    return SourceRef(
        iri,
        first(f"{RDFS}label") or display_name(settings, iri, None),
        first(f"{ldn}publicationYear"),
        first(f"{ldn}doi"),
        first(f"{ldn}pmid"),
        first(f"{ldn}pmcid"),
    )


def is_source(store: GraphStore, settings: Settings, types: Iterable[str]) -> bool:
    """Whether one of the types is ldn:Source or a subclass of it, stated or inferred."""
    values = " ".join(iri_term(kind) for kind in types)
    if not values:
        return False
    rows = select(store, settings, f"SELECT ?t WHERE {{ VALUES ?t {{ {values} }} ?t rdfs:subClassOf* ldn:Source }} LIMIT 1")
    return bool(rows)
