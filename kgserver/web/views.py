"""Pages for particular kinds of resource (claims, conditions, sources, the ontology), beside the generic one.

The resource route asks `special_view` first, with the description and summary it has already
made; None means the generic resource page. Each special template extends resource.html and
fills its blocks with what `pages` read, reusing the summary rather than asking the store again.
"""

from __future__ import annotations

from kgserver.dataset import LiveDataset
from kgserver.linkeddata.describe import Description, Summary
from kgserver.pages import evidence, submissions, vocabulary

View = tuple[str, dict[str, object]]


def special_view(dataset: LiveDataset, description: Description, summary: Summary) -> View | None:
    """The template and extra context for the described IRI if its kind has a page of its own, else None."""
    settings = dataset.settings
    store = dataset.store
    ldn = settings.prefixes["ldn"]
    iri, types = description.iri, description.types
    if iri == settings.base + "ontology":
        return "ontology.html", {"doc": vocabulary.ontology_doc(store, settings)}
    if iri == settings.base + "shapes":
        return "shapes.html", {"doc": vocabulary.shapes_doc(store, settings)}
    if f"{ldn}Submission" in types:
        return "submission.html", {"submission": submissions.detail(store, settings, iri)}
    if f"{ldn}EvidenceClaim" in types:
        return "claim.html", {"claim": evidence.claim_detail(store, settings, summary)}
    if f"{ldn}Condition" in types:
        return "condition.html", {"claims": evidence.claims_about_condition(store, settings, iri)}
    if evidence.is_source(store, settings, types):
        return "source.html", {"source": evidence.source_detail(store, settings, iri)}
    return None
