"""The query page (/query) and the example catalogue it offers (/.well-known/sparql-examples).

The catalogue is the store's examples graph, which `kgserver build` writes from queries/*.rq
(a broken header stops the build, naming the file): the server offers what was built, read
once per dataset version, and an edited query file shows after the next build.

    curl -H 'Accept: text/turtle' http://127.0.0.1:8000/.well-known/sparql-examples
    curl 'http://127.0.0.1:8000/.well-known/sparql-examples?format=jsonld'
    open 'http://127.0.0.1:8000/query?example=cq04-efficacy-lacking'
"""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, Response, render_template, request

from kgserver import representations
from kgserver import store as kgstore
from kgserver.config import Settings
from kgserver.dataset import LiveDataset, PerVersion
from kgserver.examples import Example, example_graph, stored_examples

EXAMPLES_PATH = "/.well-known/sparql-examples"


def query_page_blueprint(settings: Settings, dataset: LiveDataset) -> Blueprint:
    """The /query page and the /.well-known/sparql-examples catalogue for one dataset."""
    blueprint = Blueprint("query_page", __name__)
    catalogue: PerVersion[list[Example]] = PerVersion(
        lambda _: stored_examples(kgstore.read_graph(dataset.store, settings.examples_graph), settings)
    )

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
        )

    return blueprint


def _alternates() -> str:
    """A Link header listing every format of the catalogue, so clients can find the others."""
    return ", ".join(
        f'<{EXAMPLES_PATH}?format={form.suffix}>; rel="alternate"; type="{form.media_type}"'
        for form in representations.offered("catalogue")
    )


def _example_named(examples: list[Example], stem: str | None) -> Example | None:
    """The example whose file stem is `stem`, e.g. 'cq04-efficacy-lacking', if there is one."""
    return next((example for example in examples if example.stem == stem), None) if stem else None
