"""The curators' pages: /curate (sign in, a claim form generated from the stored shapes, check, submit) and the submissions list.

The form is `<shacl-form>` (vendored @ulb-darmstadt/shacl-form) over the shapes graph the
gate itself checks against (/curate/shapes), so the form cannot drift from what /validate
and /submissions accept; fields that point to existing things are filled from
/curate/instances. A second form, for a source new to the store, is drawn from the
shapes' `shp:NewSourceForm` (a shape that targets nothing: it says what the form asks;
the new source is checked like every source). One thing is added to the stored shapes for the form, and two taken
away: the labels of the values an `sh:in` list offers (from the store) are added; every
`sh:targetClass` but the claim shape's goes, because shacl-form 1.4.6 draws a field whose
`sh:class` some shape targets as a nested form for a new node rather than a choice among
the existing ones; and the SPARQL constraints go, which the browser's validator
(rdf-validate-shacl) cannot run: "Check" asks the server, whose report is the one that counts.
The page's script (static/curate.js) keeps the curator's token in sessionStorage and sends
it as `Authorization: Bearer` with fetch: no cookie, so no cross-site request can carry it,
and it is forgotten when the tab closes or on "Sign out". /curate/submissions lists every
submission, newest first; each one's own page is a resource page (views.py, pages/submissions.py).

    open http://127.0.0.1:8000/curate
    curl 'http://127.0.0.1:8000/curate/instances?class=https://w3id.org/ldn-kg/ontology%23Condition'
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Blueprint, Response, render_template, request
from pyoxigraph import Literal, NamedNode, RdfFormat, Triple, serialize
from rdflib import RDFS, SH
from rdflib import Literal as RdfLiteral
from rdflib.collection import Collection
from werkzeug.exceptions import NotFound

from kgserver import store as kgstore
from kgserver.config import Settings
from kgserver.dataset import LiveDataset, PerVersion
from kgserver.errors import InputError
from kgserver.pages import submissions
from kgserver.pages.values import iri_term, select

_RDFS_LABEL = NamedNode("http://www.w3.org/2000/01/rdf-schema#label")
_RDF_TYPE = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
INSTANCES_LIMIT = 2000  # the most individuals one field offers (the first found: a large graph needs a search)
# A label chosen and the things ordered by it in `_instances_turtle`, not here: Virtuoso 7.2 refuses an ORDER BY on
# an aggregate's name (SP031), orders LCASE(STR(?label)) otherwise than by those strings, and SAMPLE picks its own.
_INSTANCES = """
SELECT ?thing ?name WHERE {
    { SELECT DISTINCT ?thing WHERE { ?thing a/rdfs:subClassOf* ?class FILTER (isIRI(?thing)) } LIMIT %d }
    OPTIONAL { ?thing rdfs:label ?name FILTER (LANG(?name) IN ("en", "")) }
}
"""


def curate_page_blueprint(settings: Settings, dataset: LiveDataset) -> Blueprint:
    """/curate and the individuals its form offers, for one dataset."""
    blueprint = Blueprint("curate_page", __name__)
    forms: PerVersion[_Form] = PerVersion(lambda _: _form(dataset, settings, root_shape(settings)))

    @blueprint.get("/curate")
    def curate() -> str:
        """The claim form, generated in the browser from the stored shapes."""
        return render_template(
            "curate.html",
            shapes_url="/curate/shapes",
            root_shape=root_shape(settings),
            namespace=f"{settings.base}id/claim/",
            source_shape=f"{settings.base}shapes#NewSourceForm",
            source_namespace=f"{settings.base}id/source/",
            base=settings.base,
        )

    @blueprint.get("/curate/submissions")
    def submission_list() -> str:
        """Every submission, newest first, a page of them at a time (?page=N)."""
        page = request.args.get("page", "1")
        if not page.isdigit() or int(page) < 1:
            raise InputError("?page= must be a page number: 1, 2, ...")
        rows, total = submissions.listed(dataset.store, settings, int(page))
        pages = max(1, -(-total // submissions.PAGE_SIZE))
        if int(page) > pages:
            raise NotFound(f"there is no page {page} of the submissions: there {'is' if pages == 1 else 'are'} {pages}")
        return render_template("submissions.html", rows=rows, total=total, page=int(page), pages=pages)

    @blueprint.get("/curate/shapes")
    def form_shapes() -> Response:
        """The stored shapes as the claim form reads them (see the module's docstring), as Turtle."""
        return Response(forms.get(dataset.version).shapes, mimetype="text/turtle")

    @blueprint.get("/curate/instances")
    def class_instances() -> Response:
        """The individuals of a class (its subclasses' included) with their labels, as Turtle for the form's fields."""
        iri = request.args.get("class", "")
        form = forms.get(dataset.version)
        if iri not in form.classes:  # only an IRI a field asks for: the work and the memory kept stay bounded
            raise InputError(f"give ?class= as the full IRI of a class some field of the form offers, not {iri!r}")
        if iri not in form.instances:
            form.instances[iri] = _instances_turtle(dataset, iri)
        return Response(form.instances[iri], mimetype="text/turtle")

    return blueprint


def root_shape(settings: Settings) -> str:
    """The node shape the claim form is generated from."""
    return f"{settings.base}shapes#EvidenceClaimShape"


@dataclass
class _Form:
    """What the form reads for one dataset version: its shapes, the classes its fields offer, their individuals."""

    shapes: bytes
    classes: frozenset[str]
    instances: dict[str, bytes] = field(default_factory=dict)  # class IRI -> Turtle, filled as fields ask


def _form(dataset: LiveDataset, settings: Settings, root: str) -> _Form:
    """The stored shapes graph, the targets of all but `root` and the SPARQL constraints left out, `sh:in` values labelled."""
    shapes = kgstore.read_graph(dataset.store, settings.shapes_graph)
    classes = frozenset(str(named) for named in shapes.objects(None, SH["class"]))
    for shape, _, target in list(shapes.triples((None, SH.targetClass, None))):
        if str(shape) != root:
            shapes.remove((shape, SH.targetClass, target))
    for shape, _, constraint in list(shapes.triples((None, SH.sparql, None))):
        shapes.remove((shape, SH.sparql, constraint))
    offered = {member for listed in shapes.objects(None, SH["in"]) for member in Collection(shapes, listed)}
    for member in offered:
        for quad in dataset.store.quads_for_pattern(NamedNode(str(member)), _RDFS_LABEL, None, None):
            shapes.add((member, RDFS.label, RdfLiteral(quad.object.value, lang=quad.object.language)))
    return _Form(shapes.serialize(format="turtle", encoding="utf-8"), classes)


def _instances_turtle(dataset: LiveDataset, iri: str) -> bytes:
    """`thing a class ; rdfs:label label` for each individual, ordered by label (the least of several, the IRI for
    none), labels HTML-escaped (the form writes them as HTML): the same list from every store."""
    text = _INSTANCES.replace("?class", iri_term(iri)) % INSTANCES_LIMIT
    shown: dict[NamedNode, str] = {}
    for row in select(dataset.store, dataset.settings, text):
        thing, name = row["thing"], row.get("name")
        assert isinstance(thing, NamedNode)  # the query keeps IRIs only
        label = name.value if isinstance(name, Literal) else thing.value
        shown[thing] = min(shown.get(thing, label), label)
    triples = []
    for thing, label in sorted(shown.items(), key=lambda item: (item[1].lower(), item[0].value)):
        triples.append(Triple(thing, _RDF_TYPE, NamedNode(iri)))
        # shacl-form 1.4.6 sets an option's text with innerHTML: escaped, a label is shown as the text it is
        triples.append(Triple(thing, _RDFS_LABEL, Literal(_escape(label))))
    return serialize(triples, format=RdfFormat.TURTLE) or b""


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
