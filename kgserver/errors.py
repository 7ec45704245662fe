"""The project's error type: a failure explained in one line for the person who caused it."""

from __future__ import annotations


class KgError(Exception):
    """A failure the user can act on; the CLI prints it as one line, the web app as a response."""

    exit_code: int = 2
    http_status: int = 500

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class InputError(KgError):
    """The user's input (an RDF file, a query, an option) cannot be used as given."""

    http_status = 400


class UpdateRefusedError(InputError):
    """A SPARQL Update where only queries are answered: refused in one place, with one message, however it came."""

    def __init__(self) -> None:
        super().__init__("SPARQL Update is not accepted: this endpoint answers queries only")


class NotConformingError(KgError):
    """The data breaks the shapes or the ontology; `detail` holds the full report."""

    exit_code = 1
    http_status = 422


class NotAcceptableError(KgError):
    """No format the client accepts can carry the result; the message lists those offered."""

    http_status = 406


class PayloadTooLargeError(KgError):
    """The request is bigger than the server's configured limit."""

    http_status = 413


class UnsupportedMediaTypeError(KgError):
    """A POST body in a media type the endpoint does not read."""

    http_status = 415


class EngineError(KgError):
    """The SPARQL engine behind a frontend failed or cut its answer: the frontend is a gateway, so 502."""

    http_status = 502


class UnavailableError(KgError):
    """The server cannot answer now (a query over its time limit, every query process busy); retry later."""

    http_status = 503

    def __init__(self, message: str, detail: str = "", retry_after: int = 5) -> None:
        super().__init__(message, detail)
        self.retry_after = retry_after  # seconds, sent as Retry-After


class TooManyRequestsError(UnavailableError):
    """The client has reached one of its own limits (heavy queries at once, heavy time per minute)."""

    http_status = 429
