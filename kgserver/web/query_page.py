"""The query page (/query) and the example catalogue it offers (/.well-known/sparql-examples).

The catalogue is read from queries/ on every request, so a curator's new or edited query
file shows without a restart, and a broken header is reported (naming the file) rather
than stopping the server.

    curl -H 'Accept: text/turtle' http://127.0.0.1:8000/.well-known/sparql-examples
    curl 'http://127.0.0.1:8000/.well-known/sparql-examples?format=jsonld'
    open 'http://127.0.0.1:8000/query?example=cq04-efficacy-lacking'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from flask import Blueprint, Response, render_template, request
from werkzeug.datastructures import MIMEAccept

from kgserver.config import Settings
from kgserver.examples import Example, example_graph, load_examples
from kgserver.formats import BY_NAME
from kgserver.negotiate import negotiate

EXAMPLES_PATH = "/.well-known/sparql-examples"


@dataclass(frozen=True)
class CatalogueFormat:
    """A way to send the catalogue: its `format=` name, media type and rdflib serialiser (None for HTML)."""

    name: str
    media_type: str
    serializer: str | None


# In order of preference: Turtle is what RDF clients get for */* or no Accept at all.
CATALOGUE_FORMATS: tuple[CatalogueFormat, ...] = (
    CatalogueFormat("ttl", BY_NAME["turtle"].media_type, "turtle"),
    CatalogueFormat("jsonld", BY_NAME["jsonld"].media_type, "json-ld"),
    CatalogueFormat("nt", BY_NAME["ntriples"].media_type, "nt"),
    CatalogueFormat("rdf", BY_NAME["rdfxml"].media_type, "xml"),
    CatalogueFormat("html", "text/html", None),
)
_FORMAT_ALIASES = {
    "turtle": "ttl", "json-ld": "jsonld", "ntriples": "nt", "n-triples": "nt", "rdfxml": "rdf", "xml": "rdf",
}


def query_page_blueprint(settings: Settings) -> Blueprint:
    """The /query page and the /.well-known/sparql-examples catalogue for one dataset."""
    blueprint = Blueprint("query_page", __name__)

    @blueprint.get(EXAMPLES_PATH)
    def sparql_examples() -> Response:
        """The example catalogue as RDF (SHACL executables, as SIB and UniProt publish theirs) or as a page."""
        fmt = choose_catalogue_format(request.accept_mimetypes, request.args.get("format"))
        examples = load_examples(settings)
        if fmt.serializer is None:
            response = Response(render_template("examples.html", examples=examples), mimetype="text/html")
        else:
            body = example_graph(settings, examples).serialize(format=fmt.serializer, encoding="utf-8")
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
        examples = load_examples(settings)
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


def choose_catalogue_format(accept: MIMEAccept, format_name: str | None = None) -> CatalogueFormat:
    """`format=` if given, else the best match for Accept; no Accept or */* gives Turtle, nothing acceptable a 406."""
    return negotiate(CATALOGUE_FORMATS, accept, format_name, "the example catalogue", _FORMAT_ALIASES)


def _alternates() -> str:
    """A Link header listing every format of the catalogue, so clients can find the others."""
    return ", ".join(
        f'<{EXAMPLES_PATH}?format={fmt.name}>; rel="alternate"; type="{fmt.media_type}"' for fmt in CATALOGUE_FORMATS
    )


def _example_named(examples: list[Example], stem: str | None) -> Example | None:
    """The example whose file stem is `stem`, e.g. 'cq04-efficacy-lacking', if there is one."""
    return next((example for example in examples if example.stem == stem), None) if stem else None
