"""Pages for particular kinds of resource (claims, conditions, sources, the ontology), beside the generic one.

The resource route asks `special_view` first; None means the generic resource page. Each
special template extends resource.html and fills its blocks with what `pages` read.
"""

from __future__ import annotations

from kgserver.dataset import LiveDataset
from kgserver.pages import evidence, vocabulary

View = tuple[str, dict[str, object]]


def special_view(dataset: LiveDataset, iri: str, types: frozenset[str]) -> View | None:
    """The template and extra context for `iri` if its kind has a page of its own, else None."""
    settings = dataset.settings
    store = dataset.store
    ldn = settings.prefixes["ldn"]
    if iri == settings.base + "ontology":
        return "ontology.html", {"doc": vocabulary.ontology_doc(store, settings)}
    if iri == settings.base + "shapes":
        return "shapes.html", {"doc": vocabulary.shapes_doc(store, settings)}
    if f"{ldn}EvidenceClaim" in types:
        claim = evidence.claim_detail(store, settings, iri)
        return ("claim.html", {"claim": claim}) if claim else None
    if f"{ldn}Condition" in types:
        return "condition.html", {"claims": evidence.claims_about_condition(store, settings, iri)}
    if evidence.is_source(store, settings, types):
        return "source.html", {"source": evidence.source_detail(store, settings, iri)}
    return None
