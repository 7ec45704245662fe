"""Run the app under waitress, the production server, from the kgserver command.

Waitress reads each request whole (headers and body, buffered) in its I/O loop before a
worker thread sees it, and buffers answers for slow readers, so clients that send or read
slowly hold no thread: they cannot starve the others as they do a thread-per-connection
server. One process serves: it is the store's one writer (see kgserver/dataset.py).
"""

from __future__ import annotations

import ctypes
import logging
import platform
import signal
import sys
from types import FrameType

from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import WSGITask

from kgserver.config import ServerSettings, Settings
from kgserver.errors import KgError
from kgserver.store.location import StoreLocation
from kgserver.web.app import create_app

# How long a connection may sit idle (no bytes either way) before it is closed.
_CHANNEL_TIMEOUT_SECONDS = 60
# Most connections held open at once; beyond it, new ones wait in the listen backlog.
_CONNECTION_LIMIT = 1000
_SWITCH_INTERVAL_SECONDS = 0.001  # Python's default is 0.005
_M_ARENA_MAX = -8  # glibc's mallopt parameter: the most malloc arenas a process makes
_MALLOC_ARENAS = 2


def serve(
    settings: Settings, location: StoreLocation, limits: ServerSettings, host: str, port: int, workers: int,
    threads: int,
) -> None:
    """Serve until SIGTERM or SIGINT; requests are handled by `threads` threads, queries by query processes."""
    if workers != 1:
        raise ValueError("one server process: it is the store's only writer")
    _log_to_stderr()
    # Waitress's I/O loop shares the GIL with the request threads; a shorter switch interval
    # lets it take turns sooner while a thread runs pure Python (a SHACL check, a page).
    sys.setswitchinterval(_SWITCH_INTERVAL_SECONDS)
    _fewer_malloc_arenas()
    app = create_app(settings, location, limits)
    signal.signal(signal.SIGTERM, _stop)
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address is written in brackets in a URL
    logging.getLogger("kgserver").info("serving %s on http://%s:%d", location, shown, port)
    listeners: dict[int, object] = {}
    try:
        server = create_server(
            app,
            map=listeners,
            host=host,
            port=port,
            threads=threads,
            ident="kgserver",
            channel_timeout=_CHANNEL_TIMEOUT_SECONDS,
            connection_limit=_CONNECTION_LIMIT,
            max_request_body_size=limits.max_request_bytes,
            clear_untrusted_proxy_headers=True,
            **_proxy(limits.trusted_proxy),
        )
        for listener in listeners.values():  # one per address the host resolves to
            listener.channel_class = _Channel  # type: ignore[attr-defined]
        server.run()
    except KeyboardInterrupt:
        pass


class _KeepAliveTask(WSGITask):
    """Waitress's task, but a 304 or 204 keeps an HTTP/1.1 connection open.

    Waitress 3.0.2 closes the connection after any answer without a Content-Length, and a
    304 or 204 must not carry one (RFC 9110, 8.6), so every revalidation by a harvester, and
    every CORS preflight, cost a new connection. Such an answer has no body to delimit: the
    connection can stay open, as in nginx or Fuseki's Jetty.
    """

    _bodiless = False

    def build_response_header(self) -> bytes:
        """The head, built by waitress, while a bodiless answer's only reason to close is set aside."""
        connection = self.request.headers.get("CONNECTION", "").lower()
        self._bodiless = (not self.has_body and self.version == "1.1" and connection != "close"
                          and not self.close_on_finish)
        try:
            return super().build_response_header()
        finally:
            self._bodiless = False

    def set_close_on_finish(self) -> None:
        """Close after this answer, unless it is the bodiless answer above that waitress would close for nothing."""
        if not self._bodiless:
            super().set_close_on_finish()


class _Channel(HTTPChannel):
    """Waitress's connection, with the task above."""

    task_class = _KeepAliveTask


def _proxy(address: str) -> dict[str, str | int]:
    """Waitress's settings to take the client's address from the last X-Forwarded-For entry of a trusted proxy.

    Behind nginx every peer is nginx; the client, as nginx saw it, is the entry nginx added
    (`$proxy_add_x_forwarded_for`). Only a request from `address` is read so: anyone else's
    X-Forwarded-For is dropped, so a client cannot choose its own address.
    """
    if not address:
        return {}
    return {"trusted_proxy": address, "trusted_proxy_count": 1, "trusted_proxy_headers": "x-forwarded-for"}


def _fewer_malloc_arenas() -> None:
    """Cap glibc's malloc arenas (one per thread by default) at two, so memory one thread frees serves the next.

    A frontend runs each query on a thread of its own (sparql/threads.py); at 1M triples behind
    Oxigraph's server, its peak PSS over the bench's queries was 131 MB with glibc's default
    and 95 MB with two arenas (the value Heroku and others set with MALLOC_ARENA_MAX). A C
    library other than glibc is left alone.
    """
    if platform.libc_ver()[0] != "glibc":
        return
    try:
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, _MALLOC_ARENAS)
    except (OSError, AttributeError):
        pass


def _stop(_signum: int, _frame: FrameType | None) -> None:
    """SIGTERM ends the server like Ctrl-C, so its query processes are stopped on the way out."""
    raise KeyboardInterrupt


def _log_to_stderr() -> None:
    """Send the server's log (one line per request and per query, logger kgserver) to stderr.

    No line names its source file, function or thread, so logging is told not to look them up
    for each record (the optimisations of Python's logging HOWTO): two lines per query.
    """
    logging._srcfile = None  # type: ignore[attr-defined]  # no caller's frame walk per record
    logging.logThreads = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s [%(process)d] %(name)s %(message)s"))
    logger = logging.getLogger("kgserver")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    waitress = logging.getLogger("waitress")
    waitress.addHandler(handler)
    waitress.addFilter(_one_line_for_a_cut_answer)


def _one_line_for_a_cut_answer(record: logging.LogRecord) -> bool:
    """Waitress's traceback for an answer cut after its head had gone (the time limit passed while a slow client
    read, the engine went away) becomes one line saying so: the cut is kgserver's own, not a fault to debug.

    Waitress then closes the connection before the body's end, which is how the client learns
    that the answer is not whole. Any other exception keeps its traceback.
    """
    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, KgError):
        path = record.getMessage().removeprefix("Exception while serving ")
        record.msg, record.args = "%s cut short after its head, the connection closed: %s", (path, error.message)
        record.exc_info = record.exc_text = None
    return True
