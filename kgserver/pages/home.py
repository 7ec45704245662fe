"""The home page's facts: the article the graph is curated from, counts, and the claims behind the evidence map."""

from __future__ import annotations

from dataclasses import dataclass

from kgserver.config import Settings
from kgserver.pages.values import (
    Link,
    display_name,
    first_by_key,
    select,
    text,
)
from kgserver.store import GraphStore


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


def count(store: GraphStore, settings: Settings, sparql: str) -> int:
    """The ?n of a counting query."""
    rows = select(store, settings, sparql)
    return int(rows[0]["n"].value) if rows and "n" in rows[0] else 0


def home_summary(store: GraphStore, settings: Settings) -> HomeSummary:
    """The home page's counts and the article the graph comes from."""
    articles = tuple(
        Article(
            iri,
            display_name(settings, iri, text(row, "title")),
            text(row, "revision"),
            text(row, "url"),
            text(row, "licence"),
            text(row, "edited"),
        )
        for iri, row in first_by_key(select(store, settings, _ARTICLES), "article").items()
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
    level_rank: int | None = None  # the level's ldn:rank, 1 the strongest: the map's columns follow it


_EVIDENCE_FACTS = """
SELECT ?condition ?conditionLabel ?level ?levelLabel ?levelRank ?stance ?stanceLabel ?claim ?claimLabel WHERE {
  ?claim a ldn:EvidenceClaim ; ldn:aboutCondition ?condition ; ldn:evidenceLevel ?level ; ldn:stance ?stance .
  OPTIONAL { ?condition rdfs:label ?conditionLabel }
  OPTIONAL { ?level rdfs:label ?levelLabel }
  OPTIONAL { ?level ldn:rank ?levelRank }
  OPTIONAL { ?stance rdfs:label ?stanceLabel }
  OPTIONAL { ?claim rdfs:label ?claimLabel }
}
"""


def _rank(value: str | None) -> int | None:
    """A level's rank as a number, or None when it has none (or not a whole number)."""
    return int(value) if value is not None and value.isdigit() else None


def evidence_facts(store: GraphStore, settings: Settings) -> list[EvidenceFact]:
    """Every (condition, evidence level, stance, claim) of the graph, once each."""
    facts: dict[tuple[str, str, str, str], EvidenceFact] = {}
    for row in select(store, settings, _EVIDENCE_FACTS):
        key = (row["condition"].value, row["level"].value, row["stance"].value, row["claim"].value)
        facts.setdefault(
            key,
            EvidenceFact(
                *(Link(iri, display_name(settings, iri, text(row, f"{name}Label"))) for iri, name in zip(key, ("condition", "level", "stance", "claim"), strict=True)),
                level_rank=_rank(text(row, "levelRank")),
            ),
        )
    return list(facts.values())


def stances(store: GraphStore, settings: Settings) -> list[Link]:
    """Every stance the ontology defines, so each keeps its colour whether or not a claim uses it."""
    rows = first_by_key(select(store, settings, "SELECT ?stance ?label WHERE { ?stance a ldn:Stance OPTIONAL { ?stance rdfs:label ?label } }"), "stance")
    return [Link(iri, display_name(settings, iri, text(row, "label"))) for iri, row in rows.items()]
