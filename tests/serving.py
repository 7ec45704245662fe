"""Starting `kgserver serve` as a user does, on a free loopback port, for the HTTP tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
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


@dataclass(frozen=True)
class Reply:
    """An HTTP answer as the tests look at it: status, headers (lower-case names) and body."""

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


def fetch(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, timeout: float = 120, body: bytes | None = None
) -> Reply:
    """One HTTP request; error statuses are replies too, never exceptions."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(store: Path, root: Path, log: Path, *flags: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """`kgserver serve` on a free port until the block ends, healthy before it is yielded."""
    port = free_port()
    kgserver = Path(sys.executable).parent / "kgserver"
    with log.open("w") as errors:
        process = subprocess.Popen(
            [str(kgserver), "serve", "--store", str(store), "--host", "127.0.0.1", "--port", str(port), *flags],
            env={**os.environ, "LDNKG_ROOT": str(root), **(env or {})},
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
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        yield Server(base, process.pid, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
