"""Writes sent to a frontend that does not commit go to the one that does, as they came, and its answer comes back.

Several `serve --engine` frontends share one engine and one writer (dataset.py). A curator may
use any frontend: on one that is not the writer, a submission or a retraction is forwarded to
the writer's URL (`LDNKG_ENGINE_WRITER_URL`) with its body, media type, Accept and
Authorization, and the writer's status, body and headers are sent back. The writer checks the
token, so a revocation holds on every frontend at once. When the writer cannot be reached
nothing was sent and the answer is 503; when it stops answering after the request went out,
the 503 says the submission may have been committed, since only the writer knows.
"""

from __future__ import annotations

import logging

import httpx
from flask import Request, Response

from kgserver.errors import UnavailableError

_SENT = ("authorization", "content-type", "accept")  # what the writer needs of the curator's request
_RETURNED = ("content-type", "location", "retry-after", "www-authenticate")
_CONNECT_SECONDS = 5.0

log = logging.getLogger("kgserver.forwarding")


class Forwarder:
    """The writer's address and one pool of connections to it."""

    def __init__(self, writer_url: str, read_seconds: float) -> None:
        self.writer_url = writer_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.writer_url, timeout=httpx.Timeout(read_seconds, connect=_CONNECT_SECONDS),
            follow_redirects=False,
        )

    def forward(self, request: Request) -> Response:
        """Send the request on to the writer and return its answer as this frontend's."""
        headers = {name: value for name, value in request.headers.items() if name.lower() in _SENT}
        try:
            reply = self._client.request(
                request.method, request.full_path.rstrip("?"), content=request.get_data(), headers=headers
            )
        except httpx.ConnectError as error:  # the client is told what happened; the log, where the writer is
            log.warning("the writer at %s cannot be reached: %s", self.writer_url, error)
            raise UnavailableError("the writer cannot be reached; nothing was committed", retry_after=5) from None
        except httpx.TransportError as error:
            log.warning("the writer at %s stopped answering: %s", self.writer_url, type(error).__name__)
            raise UnavailableError("the writer stopped answering; the submission may have been committed: look for it "
                                   "in /changes before sending it again", retry_after=5) from None
        response = Response(reply.content, status=reply.status_code)
        for name, value in reply.headers.items():
            if name.lower() in _RETURNED:
                response.headers[name] = value
        return response

    def close(self) -> None:
        self._client.close()
