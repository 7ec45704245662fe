"""Real SPARQL engines for the tests: Virtuoso and Oxigraph's server, started on loopback from the registry packages.

`make engines` installs Debian's virtuoso-opensource (virtuoso-t, isql-vt); the `oxigraph` wheel
in the test extras ships Oxigraph's server. Each context manager starts its engine on free
loopback ports with its files in a temporary directory, loads RDF files into it, yields the
engine's endpoints and stops its process group at the end. We never use Virtuoso's system
service: the package's own daemon stays disabled.

    with virtuoso(tmp_path, {"https://w3id.org/ldn-kg/graph/data": [Path("graph/claims.ttl")]}) as engine:
        fetch(engine.query, params={"query": "ASK { ?s ?p ?o }"})

Facts measured with these fixtures (Virtuoso 7.2.5.1, Oxigraph 0.5) that a client must know:
SPARQL Update on Virtuoso needs /sparql-auth with digest authentication (anonymously: 500
SR186); a query sent to Virtuoso as a raw `application/sparql-query` POST body hangs (send it
in the URL or as a form); Virtuoso given `timeout=` (milliseconds) answers 200 with a cut
result and `X-SQL-State: S1TAT`. Past its own limit Oxigraph answers 200 with "The SPARQL
operation has been cancelled" in the body (measured for the issue, not by these tests).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from serving import free_port

VIRTUOSO = "virtuoso-t"
ISQL = "isql-vt"
DBA = ("dba", "dba")  # a fresh Virtuoso database's administrator; it listens on loopback only
STARTUP_SECONDS = 90
RDF_SUFFIXES = (".ttl", ".nt", ".nq", ".trig", ".rdf", ".owl")

Graphs = Mapping[str, Sequence[Path]]  # graph IRI -> the files loaded into it (an .nq file keeps its own graphs)


@dataclass(frozen=True)
class Engine:
    """A running engine as a client sees it: where to query, update and read graphs, and who may write."""

    name: str
    query: str  # SPARQL 1.1 Protocol query endpoint (GET or form POST)
    update: str  # SPARQL 1.1 Update endpoint (Virtuoso: digest authentication with `credentials`)
    store: str  # Graph Store Protocol endpoint (`?graph=IRI`)
    pid: int
    directory: Path
    credentials: tuple[str, str] | None = None

    @property
    def base(self) -> str:
        """The engine's base URL, as `kgserver --engine-url` takes it."""
        return self.query.rsplit("/", 1)[0]

    def cpu_seconds(self) -> float:
        """The CPU time the engine's process has used so far (user and system, from /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log(self) -> str:
        """The engine's own log, for an assertion message when something fails."""
        logs = sorted(self.directory.glob("*.log"))
        return "\n".join(path.read_text(errors="replace")[-4000:] for path in logs)


def engines_installed() -> str | None:
    """Why the engine tests cannot run here (a missing program), or None when they can."""
    missing = [name for name in (VIRTUOSO, ISQL) if shutil.which(name) is None]
    if oxigraph_command() is None:
        missing.append("oxigraph")
    return f"not installed: {', '.join(missing)} (run `make engines`, `pip install -e '.[test]'`)" if missing else None


def oxigraph_command() -> str | None:
    """Oxigraph's server program: the one beside this Python (the wheel's), else on PATH."""
    beside = Path(sys.executable).parent / "oxigraph"
    return str(beside) if beside.exists() else shutil.which("oxigraph")


# --- Virtuoso -----------------------------------------------------------------------------------


def virtuoso_ini(directory: Path, sql_port: int, http_port: int) -> str:
    """An INI for a small private Virtuoso: files in `directory`, loopback ports, small buffers.

    DirsAllowed admits `directory` so that `ld_dir` may load from it (and, for the tests that
    show it, so that `bif:file_to_string` may read there: nothing outside it). The cost
    estimate's limit is off (0): a costly query runs until its `timeout=` rather than being
    refused on its estimate, as a runaway-query test needs.
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
NumberOfBuffers      = 10000
MaxDirtyBuffers      = 6000
ThreadsPerQuery      = 2
MaxClientConnections = 10

[HTTPServer]
ServerPort           = 127.0.0.1:{http_port}
ServerRoot           = /var/lib/virtuoso-opensource-7/vsp
ServerThreads        = 10
MaxClientConnections = 10
EnabledGzipContent   = 0

[SPARQL]
ResultSetMaxRows           = 100000
MaxQueryExecutionTime      = 60
MaxQueryCostEstimationTime = 0
"""


def isql(sql_port: int, statements: str, timeout: float = 120) -> str:
    """Run SQL statements with isql-vt as the administrator; its output, or an error naming what failed."""
    result = subprocess.run(
        [ISQL, f"127.0.0.1:{sql_port}", *DBA, "VERBOSE=OFF", "BANNER=OFF", "PROMPT=OFF", "ECHO=OFF", "ERRORS=STDOUT"],
        check=False, input=statements, capture_output=True, text=True, timeout=timeout,
    )
    if result.returncode != 0 or "*** Error" in result.stdout:
        raise RuntimeError(f"isql-vt failed on:\n{statements}\n{result.stdout}{result.stderr}")
    return result.stdout


def load_into_virtuoso(sql_port: int, directory: Path, graphs: Graphs) -> None:
    """Bulk-load files as Virtuoso's manual says: `ld_dir` per graph, `rdf_loader_run()`, `checkpoint`."""
    statements = []
    for number, (graph, files) in enumerate(graphs.items()):
        folder = directory / "load" / str(number)
        folder.mkdir(parents=True)
        for file in files:
            shutil.copy(file, folder / file.name)
        statements.append(f"ld_dir('{folder}', '*', '{graph}');")
    isql(sql_port, "\n".join([*statements, "rdf_loader_run();", "checkpoint;", ""]))
    failed = isql(sql_port, "SELECT ll_file, ll_error FROM DB.DBA.load_list WHERE ll_error IS NOT NULL;\n")
    if failed.strip():
        raise RuntimeError(f"Virtuoso's loader refused some files:\n{failed}")


@contextlib.contextmanager
def virtuoso(directory: Path, graphs: Graphs = {}) -> Iterator[Engine]:  # noqa: B006 (read only)
    """Virtuoso (`virtuoso-t -f`) in `directory` on two free loopback ports, `graphs` loaded, until the block ends."""
    directory.mkdir(parents=True, exist_ok=True)
    sql_port = http_port = free_port()
    while http_port == sql_port:  # two probes may be handed the same free port
        http_port = free_port()
    ini = directory / "virtuoso.ini"
    ini.write_text(virtuoso_ini(directory, sql_port, http_port))
    base = f"http://127.0.0.1:{http_port}"
    with _process_group([VIRTUOSO, "-f", "-c", str(ini)], directory, "virtuoso-t.log") as process:
        engine = Engine(
            "virtuoso", f"{base}/sparql", f"{base}/sparql-auth", f"{base}/sparql-graph-crud",
            process.pid, directory, DBA,
        )
        _wait_until_answering(engine, process)
        if graphs:
            load_into_virtuoso(sql_port, directory, graphs)
        yield engine


# --- Oxigraph's server --------------------------------------------------------------------------


@contextlib.contextmanager
def oxigraph_server(
    directory: Path, graphs: Graphs = {}, union_default_graph: bool = True,  # noqa: B006 (read only)
    timeout_seconds: int | None = None,
) -> Iterator[Engine]:
    """`oxigraph serve` on a free loopback port over a store in `directory` holding `graphs`, until the block ends.

    It serves with --union-default-graph unless told not to: kgserver answers a query without
    FROM over the union of its named graphs (and Virtuoso's default graph is the union of all
    its graphs), so the same text sent straight to the engine gives the same answer. The
    contract suite serves without it, as kgserver must ask for the union itself.
    `timeout_seconds` is its own limit (`--timeout-s`): without one, a query runs until it ends.
    """
    command = oxigraph_command()
    if command is None:
        raise RuntimeError("Oxigraph's server is not installed: pip install -e '.[test]'")
    directory.mkdir(parents=True, exist_ok=True)
    location = directory / "oxigraph"
    for graph, files in graphs.items():
        for file in files:
            quads = file.suffix in (".nq", ".trig")  # their quads keep their own graphs
            graph_option = [] if quads else ["--graph", graph]
            loaded = subprocess.run(
                [command, "load", "--location", str(location), "--file", str(file), *graph_option],
                check=False, capture_output=True, text=True, timeout=300,
            )
            if loaded.returncode != 0:
                raise RuntimeError(f"oxigraph load {file} failed:\n{loaded.stderr}")
    port = free_port()
    serve = [command, "serve", "--location", str(location), "--bind", f"127.0.0.1:{port}"]
    serve += ["--union-default-graph"] if union_default_graph else []
    serve += ["--timeout-s", str(timeout_seconds)] if timeout_seconds else []
    with _process_group(serve, directory, "oxigraph.log") as process:
        base = f"http://127.0.0.1:{port}"
        engine = Engine("oxigraph", f"{base}/query", f"{base}/update", f"{base}/store", process.pid, directory)
        _wait_until_answering(engine, process)
        yield engine


# --- processes ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _process_group(command: list[str], directory: Path, log_name: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` in its own process group, output to a log in `directory`; stop the whole group after."""
    with (directory / log_name).open("wb") as log:
        process = subprocess.Popen(command, cwd=directory, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the group (Virtuoso shuts down on it), SIGKILL if it is still there after 20 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _wait_until_answering(engine: Engine, process: subprocess.Popen[bytes]) -> None:
    """Block until the engine answers `ASK {}` over HTTP; fail with its log if it exits or takes too long."""
    url = f"{engine.query}?{urllib.parse.urlencode({'query': 'ASK {}'})}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{engine.name} exited with {process.returncode}:\n{engine.log()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{engine.name} did not answer within {STARTUP_SECONDS} s:\n{engine.log()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)


# --- answers that engines may word differently --------------------------------------------------

_GROUP_CONCAT = re.compile(
    r'GROUP_CONCAT\s*\(\s*(?:DISTINCT\s+)?\?\w+\s*;\s*separator\s*=\s*"([^"]*)"\s*\)\s*AS\s+\?(\w+)', re.IGNORECASE,
)


def concatenations(query: str) -> dict[str, str]:
    """The variables a query binds with GROUP_CONCAT, and each one's separator.

    SPARQL 1.1 (18.5.1.7) leaves the order of the concatenated values to the engine and makes
    the result a simple literal; Oxigraph keeps a language tag that all the values share and
    Virtuoso does not. An answer is compared on the set of values joined, nothing more.
    """
    return {variable: separator for separator, variable in _GROUP_CONCAT.findall(query)}


def joined_values(text: str, separator: str) -> str:
    """A GROUP_CONCAT's lexical value with its parts in one order, to compare two engines' answers."""
    return separator.join(sorted(text.split(separator)))


KNOWN_DIFFERENCES = {
    ("virtuoso", "cq04-efficacy-lacking"): (
        "Virtuoso 7.2 has no xsd:boolean: BIND(EXISTS {...} AS ?sourceCovers) answers \"1\"^^xsd:integer "
        "where the standard and the embedded store give \"true\"^^xsd:boolean"
    ),
}
"""(engine, competency query) -> why that engine's answer differs from the embedded store's, for strict xfails."""
