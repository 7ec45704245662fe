"""The app as the HTTP tests call it: `kgserver serve` on a loopback port, or the same app in-process.

`serving` starts the server as a user does, for the stories that need real processes and
sockets (time limits, faults, concurrency, third-party clients, the browser). `in_process`
builds the same Flask app on a store and answers `fetch` calls to its base URL through the
app's WSGI interface, with no server: for negotiation, pages, protocol errors and reports.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Server:
    """A running server: its base URL, process id and the file its stderr goes to."""

    base: str
    pid: int
    log: Path

    @property
    def sparql(self) -> str:
        return f"{self.base}/sparql"

    def query_lines(self) -> list[str]:
        """The SPARQL endpoint's log lines so far, one per query answered."""
        return [line for line in self.log.read_text().splitlines() if "kgserver.sparql sparql" in line]

    def query_line(self, pattern: str, since: int = 0, wait: float = 5.0) -> str:
        """The first query log line after the first `since` that matches `pattern`, waited for: a query's line is
        written once its answer is sent, so it can come after the client has read the answer, and after the line of
        the request that followed it. "" when none came within `wait` seconds."""
        deadline = time.monotonic() + wait
        while True:
            found = next((line for line in self.query_lines()[since:] if re.search(pattern, line)), "")
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.02)


@dataclass(frozen=True)
class Reply:
    """An HTTP answer as the tests look at it: status, headers (lower-case names, repeats joined by ", ") and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)

    def header_values(self, name: str) -> list[str]:
        """A comma-separated header (Vary, Link) as a list, whether it was sent once or repeated."""
        return [value.strip() for value in self.headers.get(name.lower(), "").split(",") if value.strip()]


Fields = Mapping[str, str | Sequence[str]]  # URL-encoded fields: a sequence of values repeats the name


def fetch(
    url: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    timeout: float = 120,
    body: bytes | None = None,
    *,
    params: Fields | None = None,
    form: Fields | None = None,
) -> Reply:
    """One HTTP request; error statuses are replies too, never exceptions. An in-process app's URL is called in-process.

    `params` are added to the URL's query string and `form` is sent as the body, both URL-encoded
    as a browser encodes a form (the body's Content-Type is a form's unless `headers` names one).
    """
    if params:
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params, doseq=True)
    if form is not None:
        body = urllib.parse.urlencode(form, doseq=True).encode()
    for base, client in _IN_PROCESS.items():
        if url == base or url.startswith(base + "/") or url.startswith(base + "?"):
            sent = dict(headers or {})
            if body is not None and not any(name.lower() == "content-type" for name in sent):
                sent["Content-Type"] = "application/x-www-form-urlencoded"  # as urllib sends a body
            answer = client.open(url.removeprefix(base) or "/", method=method, headers=sent, data=body, base_url=base)
            with contextlib.closing(answer):
                return Reply(answer.status_code, _joined(answer.headers.items()), answer.get_data())
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, _joined(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, _joined(error.headers.items()), error.read())


def _joined(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header names lower-cased, and a header sent more than once joined with ", " as HTTP allows."""
    joined: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        joined[key] = f"{joined[key]}, {value}" if key in joined else value
    return joined


_IN_PROCESS: dict[str, Any] = {}  # base URL -> the Flask test client of an app built in this process


@contextlib.contextmanager
def in_process(store: Path, root: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    """The app `kgserver serve` runs, built here on `store` (query processes included); `fetch` calls it in-process."""
    from kgserver.config import ServerSettings, Settings
    from kgserver.web.app import create_app

    settings = Settings(root=root)
    app = create_app(settings, store, ServerSettings.from_env({**os.environ, **(env or {})}))
    base = f"http://in-process-{len(_IN_PROCESS) + 1}.test"
    _IN_PROCESS[base] = app.test_client()
    try:
        yield Server(base, os.getpid(), Path(os.devnull))
    finally:
        del _IN_PROCESS[base]
        app.extensions["kgserver.close"]()


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(store: Path | None, root: Path, log: Path, *flags: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """`kgserver serve` on a free port until the block ends, healthy before it is yielded (no store: `flags` name an engine)."""
    port = free_port()
    kgserver = Path(sys.executable).parent / "kgserver"
    with log.open("w") as errors:
        process = subprocess.Popen(
            [str(kgserver), "serve", *(["--store", str(store)] if store is not None else []), "--host", "127.0.0.1",
             "--port", str(port), *flags],
            # HermiT's JVM starts on a story's first check rather than with every server: most never check one
            env={"LDNKG_WARM_REASONER": "0", **os.environ, "LDNKG_ROOT": str(root), **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"kgserver serve exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"kgserver serve did not become healthy within 60 s: {log.read_text()}"
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2):
                    break
            except OSError:  # not listening yet, 503, or slower than 2 s on a busy machine: ask again
                time.sleep(0.05)
        yield Server(base, process.pid, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def serving_engine(engine: Any, root: Path, folder: Path, *flags: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """`kgserver serve --engine` in front of `engine` (tests/engines.py), its log and dump files in `folder`."""
    frontend = ("--engine", engine.name, "--engine-url", engine.base, *flags)
    dumps = {"LDNKG_DUMP_DIR": str(folder / "dumps"), **(env or {})}
    with serving(None, root, folder / "serve.log", *frontend, env=dumps) as server:
        yield server
