"""Pages for particular kinds of resource (claims, conditions, sources, the ontology), beside the generic one.

The resource route asks `special_view` first; None means the generic resource page. Each
special template extends resource.html and fills its blocks with what `pages` read.
"""

from __future__ import annotations

from kgserver.pages import evidence as evidence_pages
from kgserver.pages import vocabulary as vocabulary_docs
from kgserver.dataset import LiveDataset

View = tuple[str, dict[str, object]]


def special_view(dataset: LiveDataset, iri: str, types: frozenset[str]) -> View | None:
    """The template and extra context for `iri` if its kind has a page of its own, else None."""
    settings = dataset.settings
    store = dataset.store
    ldn = settings.prefixes["ldn"]
    if iri == settings.base + "ontology":
        return "ontology.html", {"doc": vocabulary_docs.ontology_doc(store, settings)}
    if iri == settings.base + "shapes":
        return "shapes.html", {"doc": vocabulary_docs.shapes_doc(store, settings)}
    if f"{ldn}EvidenceClaim" in types:
        claim = evidence_pages.claim_detail(store, settings, iri)
        return ("claim.html", {"claim": claim}) if claim else None
    if f"{ldn}Condition" in types:
        return "condition.html", {"claims": evidence_pages.claims_about_condition(store, settings, iri)}
    if evidence_pages.is_source(store, settings, types):
        return "source.html", {"source": evidence_pages.source_detail(store, settings, iri)}
    return None
