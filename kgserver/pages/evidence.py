"""Claims, conditions and sources as their pages show them: a claim with its stance, words and sources,
every claim about a condition, every claim citing a source.

    >>> claim = claim_detail(store, settings, "https://w3id.org/ldn-kg/id/claim/off-label-use-parker")
    >>> claim.summary.stance.label, claim.summary.sources[0].doi_url
    ('reports', 'https://doi.org/10.1002/14651858.CD010410.pub3')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pyoxigraph import BlankNode, Literal, NamedNode, Store

from kgserver.config import Settings
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
    """A source's bibliographic record and the claims that cite it; `title` is its ldn:title (a source's
    words) where it has one, else its label (the curators' name for it), marked with whose words it is."""

    reference: SourceRef
    kinds: tuple[Link, ...]
    fields: tuple[Field, ...]
    claims: tuple[ClaimSummary, ...]
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
    sources: dict[str, dict[str, SourceRef]] = {}
    for row in select(store, settings, _CLAIM_SOURCES % selector):
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


def _link(settings: Settings, row: Row, name: str) -> Link | None:
    """The resource bound to `name` with the label bound to `name`Label."""
    iri = text(row, name)
    return Link(iri, display_name(settings, iri, text(row, f"{name}Label"))) if iri else None


_CLAIM_LINKS = """
SELECT ?property ?propertyLabel ?originLabel ?value ?valueLabel WHERE {
  VALUES ?property { ldn:aboutIntervention ldn:aboutCondition ldn:aboutTarget ldn:aboutInteraction ldn:aboutEffect
                     ldn:aboutStudy ldn:aboutRegulatoryStatus ldn:aboutFinding ldn:claimedBy ldn:sourcingStatus
                     ldn:statedIn ldn:claimYear ldn:validAsOfYear ldn:outcome ldn:caveat ldn:flaggedSince }
  %s ?property ?value .
  OPTIONAL { ?property rdfs:label ?propertyLabel }
  OPTIONAL { ?property ldn:textOrigin/rdfs:label ?originLabel }
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
    rows = select(store, settings, _CLAIM_LINKS % iri_term(iri))
    by_property = _values_by_property(settings, rows)
    origins = {row["property"].value: text(row, "originLabel") for row in rows if text(row, "originLabel")}
    status = by_property.get(f"{ldn}sourcingStatus", ("", ()))[1]
    return ClaimDetail(
        summary=summaries[0],
        subjects=_fields(by_property, (f"{ldn}{name}" for name in _SUBJECT_PROPERTIES)),
        claimants=tuple(Link(value.href, value.text) for value in by_property.get(f"{ldn}claimedBy", ("", ()))[1] if value.href),
        sourcing=Link(status[0].href, status[0].text) if status and status[0].href else None,
        stated_in=tuple(Link(value.href, value.text) for value in by_property.get(f"{ldn}statedIn", ("", ()))[1] if value.href),
        notes=_fields(by_property, (f"{ldn}{name}" for name in _NOTE_PROPERTIES), origins),
    )


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


def _fields(
    by_property: dict[str, tuple[str, tuple[Value, ...]]], properties: Iterable[str], origins: dict[str, str] | None = None
) -> tuple[Field, ...]:
    """The given properties that have values, in the given order, as named fields, with whose words they hold."""
    return tuple(Field(*by_property[prop], (origins or {}).get(prop)) for prop in properties if prop in by_property)


def claims_about_condition(store: Store, settings: Settings, iri: str) -> tuple[ClaimSummary, ...]:
    """Every claim whose ldn:aboutCondition is the condition."""
    return claim_summaries(store, settings, f"?claim ldn:aboutCondition {iri_term(iri)} .")


def claims_citing(store: Store, settings: Settings, iri: str) -> tuple[ClaimSummary, ...]:
    """Every claim that cites the source as evidence: as its reference or as the work it is stated in."""
    return claim_summaries(
        store,
        settings,
        f"{{ ?citing rdfs:subPropertyOf* <http://purl.org/spar/cito/citesAsEvidence> . ?claim ?citing {iri_term(iri)} . }}"
        f" UNION {{ ?claim ldn:statedIn {iri_term(iri)} . }}",
    )


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


def source_detail(store: Store, settings: Settings, iri: str) -> SourceDetail:
    """The source page's content: its bibliographic record with links out, and the claims that cite it."""
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
        reference, kinds, tuple(field_ for field_ in fields if field_ is not None), claims_citing(store, settings, iri), title
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


def is_source(store: Store, settings: Settings, types: Iterable[str]) -> bool:
    """Whether one of the types is ldn:Source or a subclass of it, stated or inferred."""
    values = " ".join(iri_term(kind) for kind in types)
    if not values:
        return False
    rows = select(store, settings, f"SELECT ?t WHERE {{ VALUES ?t {{ {values} }} ?t rdfs:subClassOf* ldn:Source }} LIMIT 1")
    return bool(rows)
