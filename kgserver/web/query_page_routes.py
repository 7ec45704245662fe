"""The query page (/query) and the example catalogue it offers (/.well-known/sparql-examples).

The page is YASGUI (vendored in static/vendor/yasgui, set up by static/query-page.js) on this
server's /sparql. The catalogue is the store's examples graph, which `kgserver build` writes
from queries/*.rq (a broken header stops the build, naming the file): the server offers what
was built, read once per dataset version, and an edited query file shows after the next build.
The editor completes classes and properties from /query/terms (the ontology's terms and those
the data uses, also once per version) instead of the outside services YASGUI asks by default.

    curl -H 'Accept: text/turtle' http://127.0.0.1:8000/.well-known/sparql-examples
    curl 'http://127.0.0.1:8000/.well-known/sparql-examples?format=jsonld'
    curl http://127.0.0.1:8000/query/terms
    open 'http://127.0.0.1:8000/query?example=cq04-efficacy-lacking'
"""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, Response, jsonify, render_template, request

from kgserver import representations
from kgserver import store as kgstore
from kgserver.config import Settings
from kgserver.dataset import LiveDataset, PerVersion
from kgserver.examples import Example, example_graph, stored_examples
from kgserver.pages.values import iri_term, select

EXAMPLES_PATH = "/.well-known/sparql-examples"
TERMS_PATH = "/query/terms"

# What the editor completes after `a` (classes) and in a predicate's place (properties): the
# ontology's declared terms, and the types and predicates the dataset uses (computed once per version).
_DECLARED_TERMS = """
SELECT DISTINCT ?term ?kind WHERE {
  GRAPH %s { ?term a ?kind }
  VALUES ?kind { owl:Class rdfs:Class owl:ObjectProperty owl:DatatypeProperty owl:AnnotationProperty rdf:Property }
  FILTER (isIRI(?term))
}
"""
_USED_CLASSES = "SELECT DISTINCT ?term WHERE { ?thing a ?term FILTER (isIRI(?term)) }"
_USED_PROPERTIES = "SELECT DISTINCT ?term WHERE { ?thing ?term ?value }"
_CLASS_KINDS = {"http://www.w3.org/2002/07/owl#Class", "http://www.w3.org/2000/01/rdf-schema#Class"}


def query_page_blueprint(settings: Settings, dataset: LiveDataset) -> Blueprint:
    """The /query page and the /.well-known/sparql-examples catalogue for one dataset."""
    blueprint = Blueprint("query_page", __name__)
    catalogue: PerVersion[list[Example]] = PerVersion(
        lambda _: stored_examples(kgstore.read_graph(dataset.store, settings.examples_graph), settings)
    )

    terms: PerVersion[dict[str, list[str]]] = PerVersion(lambda _: vocabulary_terms(dataset, settings))

    def load_examples() -> list[Example]:
        return catalogue.get(dataset.state.version)

    @blueprint.get(EXAMPLES_PATH)
    def sparql_examples() -> Response:
        """The example catalogue as RDF (SHACL executables, as SIB and UniProt publish theirs) or as a page."""
        fmt = representations.choose("catalogue", request.headers.get("Accept"), request.args.get("format"))
        examples = load_examples()
        if fmt.rdflib is None:
            response = Response(render_template("examples.html", examples=examples), mimetype="text/html")
        else:
            body = example_graph(settings, examples).serialize(format=fmt.rdflib, encoding="utf-8")
            response = Response(body, mimetype=fmt.media_type)
        response.headers["Link"] = _alternates()
        return response

    @blueprint.after_request
    def vary(response: Response) -> Response:
        """The catalogue's answers, 406 included, differ by Accept; caches must know."""
        if request.path == EXAMPLES_PATH:
            response.vary.add("Accept")
        return response

    @blueprint.get("/query")
    def query_page() -> str:
        """The SPARQL editor, preloaded from ?query= text or the ?example= named in the catalogue."""
        examples = load_examples()
        chosen = _example_named(examples, request.args.get("example"))
        text = request.args.get("query") or (chosen.text if chosen else "")
        return render_template(
            "query.html",
            examples=examples,
            catalogue=[asdict(example) for example in examples],
            chosen=chosen,
            text=text,
            unknown_example=request.args.get("example") if request.args.get("example") and not chosen else None,
            base=settings.base,
            prefixes=settings.prefixes,
            terms_url=TERMS_PATH,
        )

    @blueprint.get(TERMS_PATH)
    def query_terms() -> Response:
        """The classes and properties the editor offers as completions, as full IRIs: {"classes": [...], "properties": [...]}."""
        return jsonify(terms.get(dataset.state.version))

    return blueprint


def vocabulary_terms(dataset: LiveDataset, settings: Settings) -> dict[str, list[str]]:
    """The ontology's classes and properties, with the types and predicates the data uses, each list sorted."""
    classes: set[str] = set()
    properties: set[str] = set()
    for row in select(dataset.store, settings, _DECLARED_TERMS % iri_term(settings.ontology_graph)):
        (classes if row["kind"].value in _CLASS_KINDS else properties).add(row["term"].value)
    classes.update(row["term"].value for row in select(dataset.store, settings, _USED_CLASSES))
    properties.update(row["term"].value for row in select(dataset.store, settings, _USED_PROPERTIES))
    return {"classes": sorted(classes), "properties": sorted(properties)}


def _alternates() -> str:
    """A Link header listing every format of the catalogue, so clients can find the others."""
    return ", ".join(
        f'<{EXAMPLES_PATH}?format={form.suffix}>; rel="alternate"; type="{form.media_type}"'
        for form in representations.offered("catalogue")
    )


def _example_named(examples: list[Example], stem: str | None) -> Example | None:
    """The example whose file stem is `stem`, e.g. 'cq04-efficacy-lacking', if there is one."""
    return next((example for example in examples if example.stem == stem), None) if stem else None
