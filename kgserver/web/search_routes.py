"""Search by name: /search (a results page, or JSON) and /search/suggest (typeahead), answered from the search index.

    curl 'http://127.0.0.1:8000/search?q=fibromyalgia' -H 'Accept: application/json'
    curl 'http://127.0.0.1:8000/search?q=naltrexone&type=ldn:EvidenceClaim&page=2'
    curl 'http://127.0.0.1:8000/search/suggest?q=fibro'
    curl 'http://127.0.0.1:8000/opensearch.xml'          # lets a browser add the graph as a search engine
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from flask import Blueprint, Response, json, jsonify, render_template, request
from pyoxigraph import NamedNode
from werkzeug.exceptions import NotFound

from kgserver import representations
from kgserver.config import Settings
from kgserver.errors import InputError
from kgserver.search import queries
from kgserver.search.live import LiveSearch
from kgserver.web.templating import local_href

PAGE_SIZE = 20
SUGGESTIONS = 8
OPENSEARCH = """<?xml version="1.0" encoding="UTF-8"?>
<OpenSearchDescription xmlns="http://a9.com/-/spec/opensearch/1.1/">
  <ShortName>LDN-KG</ShortName>
  <Description>Search the knowledge graph about low-dose naltrexone by name</Description>
  <InputEncoding>UTF-8</InputEncoding>
  <Url type="text/html" method="get" template={page}/>
  <Url type="application/json" method="get" template={json}/>
  <Url type="application/x-suggestions+json" method="get" template={suggest}/>
</OpenSearchDescription>
"""


def search_blueprint(settings: Settings, search: LiveSearch) -> Blueprint:
    """The search page, its JSON, and typeahead, over one server's index."""
    blueprint = Blueprint("search", __name__)

    def type_filter() -> tuple[str, ...]:
        """The classes named by `type=` (IRIs or prefixed names), expanded to IRIs."""
        return tuple(_expand(value.strip(), settings) for value in request.args.getlist("type") if value.strip())

    @blueprint.app_context_processor
    def search_box() -> dict[str, int]:
        """Every page's search box takes no more text than the server searches: `maxlength` from the same limit."""
        return {"search_max_characters": queries.MAX_QUERY_CHARACTERS}

    @blueprint.get("/search")
    def search_page() -> Response | str:
        """Hits for `q=`, best first, a page at a time, filtered to `type=`; HTML or JSON by Accept or `format=`."""
        form = representations.choose("search", request.headers.get("Accept"), request.args.get("format"))
        text = queries.clean(request.args.get("q"))
        limit, offset = _paging()
        types = type_filter()
        results = queries.search(search.searcher(), text, limit=limit, offset=offset, types=types) if text else None
        past = results is not None and offset and offset >= results.total
        if past and form.name != "html":
            raise NotFound(_past_the_last(text, results.total, limit, offset))
        if form.name == "html":  # past the last page, a reader gets the page saying so, with a way back to the first
            page = render_template("search.html", text=text, results=results, types=types, limit=limit,
                                   page=offset // limit + 1, href=lambda iri: local_href(iri, settings),
                                   filter_args=lambda iri: {"q": text, "type": iri},
                                   past_the_last=_past_the_last(text, results.total, limit, offset) if past else None)
            return Response(page, status=404 if past else 200, mimetype="text/html")
        body = {
            "query": text,
            "total": results.total if results else 0,
            "offset": offset,
            "limit": limit,
            "version": search.version,
            "types": [{"type": iri, "label": kind, "count": count} for iri, kind, count in (results.kinds if results else ())],
            "hits": [dict(hit.as_json(), href=local_href(hit.iri, settings)) for hit in (results.hits if results else ())],
        }
        return jsonify(body)

    @blueprint.get("/search/suggest")
    def suggest() -> Response:
        """A few labels that begin (or nearly match) what has been typed, with their IRIs: for a search box."""
        text = queries.clean(request.args.get("q"))
        limit = _number("limit", SUGGESTIONS)
        queries.check_limit(limit)
        results = queries.search(search.searcher(), text, limit=limit, typeahead=True) if text else None
        hits = results.hits if results else ()
        if request.args.get("format") == "opensearch":  # OpenSearch Suggestions: [text, labels, kinds, links]
            body = [text, [hit.label for hit in hits], [hit.kind for hit in hits],
                    [request.host_url.rstrip("/") + local_href(hit.iri, settings) for hit in hits]]
            return Response(json.dumps(body), content_type="application/x-suggestions+json")
        return jsonify(query=text, suggestions=[
            {"iri": hit.iri, "label": hit.label, "type": hit.type, "kind": hit.kind, "href": local_href(hit.iri, settings)}
            for hit in hits
        ])

    @blueprint.get("/opensearch.xml")
    def opensearch() -> Response:
        """An OpenSearch description, so a browser can add the graph as a search engine (with suggestions)."""
        root = request.host_url
        body = OPENSEARCH.format(
            page=quoteattr(f"{root}search?q={{searchTerms}}"),
            json=quoteattr(f"{root}search?q={{searchTerms}}&format=json"),
            suggest=quoteattr(f"{root}search/suggest?q={{searchTerms}}&format=opensearch"),
        )
        return Response(body, content_type="application/opensearchdescription+xml")

    @blueprint.after_request
    def vary(response: Response) -> Response:
        """The search page's answers differ by Accept; caches must know."""
        if request.path == "/search":
            response.vary.add("Accept")
        return response

    return blueprint


def _paging() -> tuple[int, int]:
    """The page's size and its first hit (from `page=` or `offset=`), each checked before another is counted from it."""
    limit = _number("limit", PAGE_SIZE)
    queries.check_limit(limit)
    if request.args.get("offset") and request.args.get("page"):
        raise InputError("give page= or offset=, not both")
    if request.args.get("offset"):
        offset = _number("offset", 0)
        queries.check_offset(offset)
        return limit, offset
    page = _number("page", 1)
    queries.check_page(page, limit)
    return limit, (page - 1) * limit


def _past_the_last(text: str, total: int, limit: int, offset: int) -> str:
    """Why a page past the last has no hits, and how many pages there are."""
    pages = -(-total // limit)
    there = "there are no hits" if not total else (
        f"{total} hit{'' if total == 1 else 's'} make{'s' if total == 1 else ''} "
        f"{pages} page{'' if pages == 1 else 's'} of {limit}")
    return f"there is no page {offset // limit + 1} of the hits for {text!r}: {there}"


def _number(name: str, default: int) -> int:
    """An integer query parameter; InputError naming it when it is not one."""
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{name} must be a whole number, not {value[:40]!r}") from None


def _expand(value: str, settings: Settings) -> str:
    """A class named by IRI or prefixed name (ldn:Condition), as an IRI; InputError for an unknown prefix or no IRI."""
    prefix, colon, local = value.partition(":")
    if value.startswith(("http://", "https://", "urn:")):
        iri = value
    elif colon and prefix in settings.prefixes and local:
        iri = settings.prefixes[prefix] + local
    elif not colon:
        iri = settings.prefixes["ldn"] + value
    elif prefix in settings.prefixes:
        raise InputError(f"type={value[:80]!r} names no class: give its name after the colon, such as ldn:Condition")
    else:
        raise InputError(f"type={value[:80]!r}: unknown prefix {prefix!r}; give the class's IRI or a prefixed name such as ldn:Condition")
    try:
        NamedNode(iri)
    except ValueError:
        raise InputError(f"type={value[:80]!r} is not a class's IRI or prefixed name (such as ldn:Condition)") from None
    return iri
