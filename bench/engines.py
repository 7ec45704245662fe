"""The SPARQL engines the query bench puts kgserver in front of: Virtuoso and Oxigraph's server, on loopback.

Each is started from the registry packages (Debian's virtuoso-opensource: `virtuoso-t`,
`isql-vt`; the `oxigraph` wheel's server), loaded with an N-Quads file (each quad keeps its
graph), and stopped with its whole process group at the end. The tests have their own copy of
these few lines (tests/engines.py): a bench does not import from the tests.

    with virtuoso(Path("/tmp/v"), Path("data.nq")) as engine:
        engine.query   # http://127.0.0.1:PORT/sparql
        engine.base    # what `kgserver serve --engine virtuoso --engine-url` is given

Virtuoso's default graph is the union of its graphs, its system graphs included; Oxigraph's
server is started with --union-default-graph, so one query text reads the same data on both.
A query to Virtuoso goes as GET (a raw `application/sparql-query` POST body hangs).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

VIRTUOSO = "virtuoso-t"
ISQL = "isql-vt"
DBA = ("dba", "dba")  # a fresh database's administrator; it listens on loopback only
STARTUP_SECONDS = 120


@dataclass(frozen=True)
class Engine:
    """A running engine: its name, base URL, query endpoint, process and the seconds its load took."""

    name: str
    base: str
    query: str
    process: subprocess.Popen[bytes]
    load_seconds: float


def free_port(avoid: int | None = None) -> int:
    """A free loopback port, other than `avoid` (two probes may be handed the same one)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port != avoid:
            return port


# --- Virtuoso -----------------------------------------------------------------------------------


def virtuoso_ini(directory: Path, sql_port: int, http_port: int) -> str:
    """A private Virtuoso: files in `directory`, loopback ports, buffers for a few million triples.

    About 1.3 GB of buffers (Virtuoso's own advice for 2 GB of memory), so that the 1M-triple
    graph is held in memory as Oxigraph's is in the page cache. HTTP threads and connections
    above what a bench client and kgserver's query processes (each with kept-alive
    connections) open at once. No result cap below the mix's largest answer, ORDER BY with
    OFFSET 50000 allowed (MaxSortedTopRows; by default Virtuoso refuses to sort more than
    10000 rows for a page: SR353), and no refusal on a query's estimated cost.
    """
    return f"""\
[Database]
DatabaseFile       = {directory}/virtuoso.db
ErrorLogFile       = {directory}/virtuoso.log
LockFile           = {directory}/virtuoso.lck
TransactionFile    = {directory}/virtuoso.trx
xa_persistent_file = {directory}/virtuoso.pxa
ErrorLogLevel      = 7
FileExtend         = 200
Striping           = 0
TempStorage        = TempDatabase

[TempDatabase]
DatabaseFile    = {directory}/virtuoso-temp.db
TransactionFile = {directory}/virtuoso-temp.trx

[Parameters]
ServerPort           = 127.0.0.1:{sql_port}
DisableUnixSocket    = 1
CheckpointInterval   = 0
DirsAllowed          = {directory}
NumberOfBuffers      = 170000
MaxDirtyBuffers      = 130000
ThreadsPerQuery      = 2
MaxSortedTopRows     = 100000
ServerThreads        = 64
MaxClientConnections = 64

[HTTPServer]
ServerPort           = 127.0.0.1:{http_port}
ServerRoot           = /var/lib/virtuoso-opensource-7/vsp
ServerThreads        = 48
MaxClientConnections = 48
EnabledGzipContent   = 0

[SPARQL]
ResultSetMaxRows           = 1000000
MaxQueryExecutionTime      = 300
MaxQueryCostEstimationTime = 0
"""


def isql(sql_port: int, statements: str, timeout: float = 1800) -> str:
    """Run SQL statements through isql-vt as the administrator; its output, or an error naming what failed."""
    result = subprocess.run(
        [ISQL, f"127.0.0.1:{sql_port}", *DBA, "VERBOSE=OFF", "BANNER=OFF", "PROMPT=OFF", "ECHO=OFF", "ERRORS=STDOUT"],
        check=False, input=statements, capture_output=True, text=True, timeout=timeout,
    )
    if result.returncode != 0 or "*** Error" in result.stdout:
        raise RuntimeError(f"isql-vt failed on:\n{statements}\n{result.stdout}{result.stderr}")
    return result.stdout


@contextlib.contextmanager
def virtuoso(directory: Path, quads: Path) -> Iterator[Engine]:
    """Virtuoso (`virtuoso-t -f`) in `directory`, `quads` bulk-loaded (ld_dir, rdf_loader_run, checkpoint)."""
    directory.mkdir(parents=True, exist_ok=True)
    sql_port = free_port()
    http_port = free_port(avoid=sql_port)
    ini = directory / "virtuoso.ini"
    ini.write_text(virtuoso_ini(directory, sql_port, http_port))
    base = f"http://127.0.0.1:{http_port}"
    with _process_group([VIRTUOSO, "-f", "-c", str(ini)], directory) as process:
        _wait_until_answering(f"{base}/sparql", process, directory)
        folder = directory / "load"
        folder.mkdir()
        try:
            os.link(quads, folder / quads.name)
        except OSError:  # another file system
            shutil.copy(quads, folder / quads.name)
        started = time.perf_counter()
        isql(sql_port, f"ld_dir('{folder}', '*.nq', 'urn:unused');\nrdf_loader_run();\ncheckpoint;\n")
        load = time.perf_counter() - started
        failed = isql(sql_port, "SELECT ll_file, ll_error FROM DB.DBA.load_list WHERE ll_error IS NOT NULL;\n")
        if failed.strip():
            raise RuntimeError(f"Virtuoso's loader refused {quads}:\n{failed}")
        yield Engine("virtuoso", base, f"{base}/sparql", process, load)


# --- Oxigraph's server --------------------------------------------------------------------------


@contextlib.contextmanager
def oxigraph(directory: Path, quads: Path) -> Iterator[Engine]:
    """`oxigraph serve-read-only --union-default-graph` over a store in `directory` loaded with `quads`."""
    command = str(Path(sys.executable).parent / "oxigraph")
    directory.mkdir(parents=True, exist_ok=True)
    location = directory / "oxigraph"
    started = time.perf_counter()
    subprocess.run([command, "load", "--location", str(location), "--file", str(quads)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    load = time.perf_counter() - started
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve = [command, "serve-read-only", "--location", str(location), "--bind", f"127.0.0.1:{port}",
             "--union-default-graph"]
    with _process_group(serve, directory) as process:
        _wait_until_answering(f"{base}/query", process, directory)
        yield Engine("oxigraph", base, f"{base}/query", process, load)


# --- processes ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _process_group(command: list[str], directory: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` in its own process group, its output to a log in `directory`; stop the group after."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "engine-output.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=directory, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # Virtuoso shuts down on it
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_until_answering(query_url: str, process: subprocess.Popen[bytes], directory: Path) -> None:
    """Block until the engine answers `ASK {}`; fail with its log if it exits or takes too long."""
    url = f"{query_url}?{urllib.parse.urlencode({'query': 'ASK {}'})}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(directory.glob("*.log")))
            raise RuntimeError(f"{process.args[0]} did not start (exit {process.poll()}):\n{logs}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
