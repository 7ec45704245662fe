"""SPARQL 1.1 Protocol request parsing: from a Flask request to a query and its dataset (sparql/ knows no HTTP).

A query arrives in one of three ways: GET `?query=`, POST form-encoded `query=`, or POST
with an `application/sparql-query` body. Each way may add `default-graph-uri` and
`named-graph-uri` (repeatable), and this endpoint also reads `timeout=` (seconds, may
only lower the server's limit) and `format=` (overrides Accept).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Request

from kgserver.config import ServerSettings
from kgserver.errors import (
    InputError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    UpdateRefusedError,
)
from kgserver.web.http import require_utf8_escapes

QUERY_MEDIA_TYPE = "application/sparql-query"
UPDATE_MEDIA_TYPE = "application/sparql-update"
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class QueryRequest:
    """A protocol request reduced to what the endpoint needs to run and answer it."""

    text: str
    default_graphs: tuple[str, ...] | None
    named_graphs: tuple[str, ...] | None
    timeout: float
    format_name: str | None


def wants_description(request: Request) -> bool:
    """A GET (or HEAD) without a `query` (or `update`) parameter asks for the service description."""
    return request.method in ("GET", "HEAD") and "query" not in request.args and "update" not in request.args


def parse(request: Request, limits: ServerSettings) -> QueryRequest:
    """The query and its parameters, or a 4xx error that says what is wrong with the request."""
    if len(request.query_string) > limits.max_request_bytes:
        raise PayloadTooLargeError(f"the request is larger than this server's limit of {limits.max_request_bytes} bytes")
    params = request.args
    if request.method == "POST":
        if request.mimetype == UPDATE_MEDIA_TYPE:
            raise UpdateRefusedError()
        if request.mimetype == QUERY_MEDIA_TYPE:
            if "query" in params:
                raise InputError("the query is in the request body; do not also send a 'query' parameter")
            texts = [_utf8_body(request)]
        elif request.mimetype == FORM_MEDIA_TYPE:
            _require_utf8_charset(request)
            require_utf8_escapes(request.get_data(), "the form")  # cached: the form is parsed from it after
            if "update" in request.form:
                raise UpdateRefusedError()
            texts = params.getlist("query") + request.form.getlist("query")
            params = request.values
        else:
            raise UnsupportedMediaTypeError(
                f"POST a query as {FORM_MEDIA_TYPE} (a 'query' field) or as {QUERY_MEDIA_TYPE}, "
                f"not as {request.mimetype or 'a body without Content-Type'}"
            )
    else:
        if "update" in params:
            raise UpdateRefusedError()
        texts = params.getlist("query")
    if len(texts) > 1:
        raise InputError("more than one 'query' parameter: send exactly one query")
    if not texts or not texts[0].strip():
        raise InputError(
            "no query: send it as ?query=, as a 'query' form field, or as an application/sparql-query body"
        )
    default_graphs = tuple(params.getlist("default-graph-uri"))
    named_graphs = tuple(params.getlist("named-graph-uri"))
    dataset_given = bool(default_graphs or named_graphs)
    return QueryRequest(
        text=texts[0],
        default_graphs=default_graphs if dataset_given else None,
        named_graphs=named_graphs if dataset_given else None,
        timeout=_timeout(params.get("timeout"), limits.query_timeout),
        format_name=params.get("format") or None,
    )


def _require_utf8_charset(request: Request) -> None:
    """The protocol's bodies are UTF-8; a declared charset other than UTF-8 is refused with 415."""
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise UnsupportedMediaTypeError(f"the request body must be UTF-8, not {charset}")


def _utf8_body(request: Request) -> str:
    """A direct POST body as text, refusing bytes that are not UTF-8 instead of guessing."""
    _require_utf8_charset(request)
    try:
        return request.get_data().decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"the request body is not valid UTF-8 (byte {error.start})") from None


def _timeout(requested: str | None, limit: float) -> float:
    """The client's `timeout=` in seconds, which may lower but never raise the server's limit."""
    if requested is None or requested == "":
        return limit
    try:
        seconds = float(requested)
    except ValueError:
        raise InputError(f"timeout={requested} is not a number of seconds") from None
    if not seconds > 0:
        raise InputError("timeout must be a positive number of seconds")
    return min(seconds, limit)
