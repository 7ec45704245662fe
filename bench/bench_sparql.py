"""A researcher query mix against kgserver, Oxigraph's own server, Virtuoso, kgserver in front of each engine, and rdflib-endpoint.

Each server is loaded with the same data, left to settle until its processes are idle, and
asked the same queries over HTTP. The servers (`--servers`):

- `kgserver`: `kgserver serve --store DIR`, the embedded store;
- `oxigraph`: Oxigraph's server (`oxigraph serve-read-only --union-default-graph`);
- `virtuoso`: Virtuoso (`virtuoso-t` from Debian's virtuoso-opensource, bulk-loaded with
  isql-vt's ld_dir and rdf_loader_run; bench/engines.py starts both engines);
- `kgserver-oxigraph`, `kgserver-virtuoso`: `kgserver serve --engine NAME --engine-url URL`, a
  read-only frontend, in front of that engine: the very engine process measured directly,
  so the difference is the frontend's;
- `rdflib-endpoint`.

The engines hold what kgserver's store would (the data graph and kgserver's change record),
so a frontend finds its dataset's version there. Queries go as GET (Virtuoso hangs on a raw
`application/sparql-query` POST). Virtuoso's default graph also holds its system graphs;
the mix's queries name ldn: terms, so answers should not change, and a line starting
WARNING says where two servers' answers (rows, or the boolean) differ. (Virtuoso 7.2.5 sends
an ASK's answer in SPARQL JSON as one row of `__ASK_RETVAL`, 1 or 0: read here as the boolean;
kgserver in front of it answers with the boolean.) For each dataset (the
bundled graph, and generated graphs of about 100k and 1M triples) it prints:

- the load time;
- every query's cold median latency (each run's text differs by a comment, so no result
  cache can answer it), after a warm-up of 40 light queries with texts the runs never send and repeated-query median (the same text again); a query whose first
  cold run takes over 2 s gets 3 cold runs and 2 repeats;
- throughput under 8 concurrent clients of the light mix (entity lookup, star join,
  aggregation, ASK), twice: every request's text unique ("cold": other IRIs, and a comment
  with a counter), and the same few texts again ("repeated");
- a mixed load: 8 clients for 30 s, two sending a legitimate query that takes seconds on
  every engine (the pairs of claims about the same condition, over a random set of
  conditions) and six sending the light mix, every text unique: light queries answered,
  their median and p99, how many were refused (503, 429) or failed, and the heavy queries'
  outcomes;
- the peak memory (PSS) of the server's process tree (a frontend's alone, not its engine's),
  sampled during the throughput and mixed-load runs;
- for a frontend, the throughput of one frontend against two over the same engine (see
  `frontend_scaling` for how the engine is kept from being the bottleneck on two cores, and
  what the figure can and cannot show; `--scaling-seconds 0` leaves it out).

Each dataset ends with the targets of each frontend against the engine it fronts (issue 14:
at most 1 ms plus 10% on each query's cold median, PSS under 150 MB, two frontends at least
1.6 times one; the cold medians compared there are taken in turns, one request to the engine
asked as the frontend asks it, one to the frontend, see `paired_cold_ms`; under each query the
engine answers within 100 ms, the floor: what a bare frontend, bench/bare_frontend.py, adds to
the engine in turns with it: waitress and a WSGI app, or a Flask route, forwarding the query and
the dataset's graphs the frontend would name, nothing else), and the targets of
the fair-scheduling work as ratios to Oxigraph's server (issue 11; when both are measured, the
cold-median targets are judged on medians taken in turns, kgserver and Oxigraph's server
serving at once: `paired_with_oxigraph`).

Run:  make bench-tools    # the bench extras, Virtuoso, nginx and wrk
      .venv/bin/python bench/bench_sparql.py                 # bundled, 100k and 1M
      .venv/bin/python bench/bench_sparql.py --sizes 100000  # a quicker run
      .venv/bin/python bench/bench_sparql.py --sizes 1000000 --no-bundled --servers kgserver oxigraph
      .venv/bin/python bench/bench_sparql.py --sizes 100000 --no-bundled --mixed-seconds 0 \
          --servers kgserver oxigraph kgserver-oxigraph virtuoso kgserver-virtuoso
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import engines  # bench/engines.py: Virtuoso and Oxigraph's server on loopback
import psutil
import pyoxigraph
from rdflib import Graph

from kgserver import changes
from kgserver.config import Settings
from kgserver.search.live import index_after_build
from kgserver.store.dialects import DIALECTS
from kgserver.store.location import StoreLocation
from kgserver.store.remote import RemoteStore

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BASE = "https://w3id.org/ldn-kg/"
LDN = f"{BASE}ontology#"
ID = f"{BASE}id/"
DATA_GRAPH = f"{BASE}graph/data"
PREFIXES = f"""PREFIX ldn: <{LDN}>
PREFIX kg: <{ID}>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
"""
COLD_RUNS = 7
WARM_RUNS = 20
WARM_UP_REQUESTS = 40  # light queries, every text new, sent to each server before anything is timed
SLOW_MS = 2000.0  # a query whose first cold run is slower gets SLOW_RUNS runs of each kind
SLOW_RUNS = (3, 2)
PAIRED_RUNS = 21  # a frontend's cold runs taken in turns with its engine's, for a query under SLOW_MS
PAIRED_SECONDS = 10.0  # past this, no more pairs than SLOW_RUNS' cold runs
LOAD_BLOCKS = 3  # kgserver's and Oxigraph's load phases in turns: each gets this many blocks, in the order ABBAAB
BLOCK_THROUGHPUT_SECONDS = 5.0  # each block of the cold light mix in turns (a mixed-load block: MIXED_SECONDS / 3)
CLIENTS = 8
THROUGHPUT_SECONDS = 10.0
MIXED_SECONDS = 30.0
HEAVY_CLIENTS = 2
REQUEST_TIMEOUT = 120.0
TARGET_TRIPLES = 1_000_000  # issue 11's targets are set at this size; smaller datasets print them for reference

# The mix: {claim} and {condition} are filled with IRIs that exist in each dataset.
QUERIES: dict[str, str] = {
    "entity lookup": "SELECT ?p ?o WHERE {{ <{claim}> ?p ?o }}",
    "star join": """SELECT ?c ?label ?stance ?year WHERE {{
        ?c a ldn:EvidenceClaim ; rdfs:label ?label ; ldn:stance ?stance ; ldn:aboutCondition <{condition}> .
        OPTIONAL {{ ?c ldn:claimYear ?year }} }}""",
    "multi-hop path": """SELECT ?periodical (COUNT(*) AS ?n) WHERE {{
        ?c ldn:aboutCondition <{condition}> ; ldn:evidenceSource ?s . ?s ldn:publishedIn ?periodical }}
        GROUP BY ?periodical""",
    "aggregation": "SELECT ?stance (COUNT(*) AS ?n) WHERE {{ ?c ldn:stance ?stance }} GROUP BY ?stance ORDER BY DESC(?n)",
    "optional/filter": """SELECT ?s ?doi ?pmcid WHERE {{
        ?s ldn:publicationYear ?y ; ldn:doi ?doi . OPTIONAL {{ ?s ldn:pmcid ?pmcid }}
        FILTER (?y >= 2018 && !BOUND(?pmcid)) }} LIMIT 100""",
    "text filter": """SELECT ?c ?label WHERE {{
        ?c a ldn:EvidenceClaim ; rdfs:label ?label FILTER (CONTAINS(LCASE(STR(?label)), "fibromyalgia")) }} LIMIT 100""",
    "property path": "SELECT (COUNT(?s) AS ?n) WHERE {{ ?s a/rdfs:subClassOf* ldn:Source }}",
    "ordered paging": "SELECT ?c ?year WHERE {{ ?c ldn:claimYear ?year }} ORDER BY DESC(?year) ?c LIMIT 50 OFFSET 500",
    "one-key page": "SELECT ?c ?year WHERE {{ ?c ldn:claimYear ?year }} ORDER BY ?c LIMIT 50 OFFSET 500",
    "one-key deep page": "SELECT ?c ?year WHERE {{ ?c ldn:claimYear ?year }} ORDER BY ?c LIMIT 50 OFFSET 50000",
    "large result": "SELECT ?c ?label WHERE {{ ?c a ldn:EvidenceClaim ; rdfs:label ?label }} LIMIT 10000",
    "ASK": "ASK {{ ?c ldn:aboutCondition <{condition}> ; ldn:stance ldn:Supports }}",
}

# The light mix (throughput and the mixed load's light clients); a light query must stay light under load.
LIGHT = ("entity lookup", "star join", "aggregation", "ASK")
# The mixed load's heavy query: pairs of claims about the same condition, for {conditions} (a VALUES list).
HEAVY = """SELECT (COUNT(*) AS ?pairs) WHERE {{ VALUES ?condition {{ {conditions} }}
    ?a ldn:aboutCondition ?condition . ?b ldn:aboutCondition ?condition }}"""
HEAVY_CONDITIONS = 100

# The servers that front an engine, and the engine each reads; the engine alone is measured as itself.
FRONTED = {"kgserver-oxigraph": "oxigraph", "kgserver-virtuoso": "virtuoso"}
ENGINES = {"oxigraph": engines.oxigraph, "virtuoso": engines.virtuoso}
ENDPOINTS = {"kgserver": "/sparql", "rdflib-endpoint": "/", **{name: "/sparql" for name in FRONTED}}
# Targets for a frontend against the engine it fronts (issue 14).
FRONTEND_MS, FRONTEND_FRACTION = 1.0, 0.10  # at most 1 ms plus 10% on each query's cold median
FRONTEND_MB = 150.0  # the frontend's process tree, engine excluded
SCALING_TARGET = 1.6  # two frontends' throughput over one's, the engine not the bottleneck
SCALING_ROUNDS = 3  # one frontend, then two, this many times in turns: the machine's drift falls on both alike

STANCES = ["Supports", "Promising", "InsufficientEvidence", "EfficacyNotShown", "Hypothesised", "Reports"]
LEVELS = ["ClinicalStudyEvidence", "SystematicReviewEvidence", "ReviewEvidence", "MechanisticHypothesis"]
CONDITION_WORDS = ["fibromyalgia", "chronic pain", "Crohn's disease", "long COVID", "multiple sclerosis", "cancer"]


@dataclass
class Dataset:
    """One bench dataset: an N-Triples file and IRIs the query templates need."""

    name: str
    path: Path
    triples: int
    claim: str
    condition: str
    claims: list[str] = field(default_factory=list)  # every claim and condition, for texts that differ
    conditions: list[str] = field(default_factory=list)


@dataclass
class ServerRun:
    """What one server did on one dataset."""

    server: str
    load_seconds: float
    cold_ms: dict[str, float] = field(default_factory=dict)
    dataset_cold_ms: dict[str, float] = field(default_factory=dict)  # an engine's, asked as its frontend asks it
    # In turns: a frontend's (its, its engine's); kgserver's (its, Oxigraph's server's)
    paired_ms: dict[str, tuple[float, float]] = field(default_factory=dict)
    # A frontend's floor: bare frontends (bare_frontend.py) in front of its engine, each in turns with the engine:
    # label -> query -> (the bare frontend's cold median, the engine's)
    floor_ms: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    warm_ms: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)
    throughput: float = 0.0  # the light mix, the same texts again
    cold_throughput: float = 0.0  # the light mix, every text unique
    throughput_failures: dict[str, int] = field(default_factory=dict)  # why requests failed under load: count
    mixed: MixedRun | None = None
    peak_mb: float = 0.0
    peak_parts: dict[str, list[int]] = field(default_factory=dict)  # program -> its processes' PSS at the peak
    scaling: Scaling | None = None  # a frontend's: one frontend against two, over the same engine
    paired_loads: PairedLoads | None = None  # kgserver's: its load phases and Oxigraph's server's, in alternating blocks


@dataclass
class Scaling:
    """The repeated light mix through one frontend and through two, and where the CPU went in each."""

    rounds: list[tuple[float, float]] = field(default_factory=list)  # (one's, two's) requests per second, in turns
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)  # "one"/"two" -> {"client", "frontends", "engine"}: s
    seconds: float = 0.0

    @property
    def ratios(self) -> list[float]:
        """Two frontends' rate over one's, round by round."""
        return [two / one if one else float("nan") for one, two in self.rounds]

    @property
    def ratio(self) -> float:
        """The median round's ratio: what the target is judged on."""
        return statistics.median(self.ratios) if self.rounds else float("nan")


@dataclass
class MixedRun:
    """What the mixed load's clients saw: light latencies and statuses, heavy outcomes."""

    light_kind_ms: dict[str, list[float]] = field(default_factory=dict)  # answered (200) light queries, by query
    light_status: dict[str, int] = field(default_factory=dict)  # every light outcome: "200", "503", "error"...
    heavy_ms: list[float] = field(default_factory=list)
    heavy_status: dict[str, int] = field(default_factory=dict)

    @property
    def light_ms(self) -> list[float]:
        """Every answered light query's latency, whatever its query."""
        return [ms for latencies in self.light_kind_ms.values() for ms in latencies]

    def add(self, other: MixedRun) -> None:
        """Count another block of the same load in with this one."""
        for kind, latencies in other.light_kind_ms.items():
            self.light_kind_ms.setdefault(kind, []).extend(latencies)
        self.heavy_ms.extend(other.heavy_ms)
        for mine, theirs in ((self.light_status, other.light_status), (self.heavy_status, other.heavy_status)):
            for status, count in theirs.items():
                mine[status] = mine.get(status, 0) + count


@dataclass
class PairedLoads:
    """kgserver's and Oxigraph's server's load phases, both serving at once, taken in alternating blocks."""

    cold_throughput: tuple[float, float]  # requests per second: (kgserver's, Oxigraph's)
    mixed: tuple[MixedRun, MixedRun] | None


# ---------------------------------------------------------------------------------- data

def bundled_dataset(scratch: Path) -> Dataset:
    """The bundled graph: ontology and data, as the built store holds them."""
    graph = Graph()
    for folder in ("ontology", "graph"):
        for source in sorted((ROOT / folder).glob("*.ttl")):
            graph.parse(source)
    path = scratch / "bundled.nt"
    graph.serialize(path, format="nt", encoding="utf-8")
    return Dataset("bundled", path, len(graph), f"{ID}claim/receptor-antagonism", f"{ID}fibromyalgia")


def generated_dataset(scratch: Path, target: int, seed: int = 7) -> Dataset:
    """About `target` triples in the project's vocabulary: claims, their sources and conditions."""
    rng = random.Random(seed)
    ontology = Graph().parse(ROOT / "ontology" / "ldn.ttl")
    path = scratch / f"generated-{target}.nt"
    written = len(ontology)
    conditions = max(10, target // 2000)
    sources = max(20, target // 100)
    periodicals = 50
    with path.open("w", encoding="utf-8") as out:
        out.write(ontology.serialize(format="nt", encoding="utf-8").decode("utf-8"))
        for index in range(conditions):
            word = CONDITION_WORDS[index % len(CONDITION_WORDS)]
            out.write(f'<{ID}syn/condition-{index}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{LDN}Condition> .\n'
                      f'<{ID}syn/condition-{index}> <http://www.w3.org/2000/01/rdf-schema#label> "{word} {index}" .\n')
            written += 2
        for index in range(sources):
            s = f"<{ID}syn/source-{index}>"
            year = 1990 + rng.randrange(35)
            out.write(f"{s} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{LDN}JournalArticle> .\n"
                      f'{s} <http://www.w3.org/2000/01/rdf-schema#label> "Synthetic article {index}" .\n'
                      f'{s} <{LDN}doi> "10.5555/syn.{index}" .\n'
                      f'{s} <{LDN}publicationYear> "{year}"^^<http://www.w3.org/2001/XMLSchema#integer> .\n'
                      f"{s} <{LDN}publishedIn> <{ID}syn/periodical-{index % periodicals}> .\n")
            written += 5
            if rng.random() < 0.5:
                out.write(f'{s} <{LDN}pmcid> "PMC{index}" .\n')
                written += 1
        claim = 0
        while written < target:
            c = f"<{ID}syn/claim-{claim}>"
            condition = rng.randrange(conditions)
            word = CONDITION_WORDS[condition % len(CONDITION_WORDS)]
            out.write(f"{c} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{LDN}EvidenceClaim> .\n"
                      f'{c} <http://www.w3.org/2000/01/rdf-schema#label> "Synthetic claim {claim} about {word}" .\n'
                      f"{c} <{LDN}stance> <{LDN}{rng.choice(STANCES)}> .\n"
                      f"{c} <{LDN}evidenceLevel> <{LDN}{rng.choice(LEVELS)}> .\n"
                      f"{c} <{LDN}aboutCondition> <{ID}syn/condition-{condition}> .\n"
                      f"{c} <{LDN}aboutIntervention> <{ID}low-dose-naltrexone> .\n"
                      f"{c} <{LDN}evidenceSource> <{ID}syn/source-{rng.randrange(sources)}> .\n"
                      f'{c} <{LDN}claimYear> "{2000 + rng.randrange(25)}"^^<http://www.w3.org/2001/XMLSchema#integer> .\n')
            written += 8
            claim += 1
    return Dataset(f"{target // 1000}k" if target < 1_000_000 else f"{target // 1_000_000}M",
                   path, written, f"{ID}syn/claim-{claim // 2}", f"{ID}syn/condition-1",
                   [f"{ID}syn/claim-{n}" for n in range(claim)], [f"{ID}syn/condition-{n}" for n in range(conditions)])


# ------------------------------------------------------------------------------- servers

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_kgserver_store(dataset: Dataset, location: Path) -> None:
    """A store laid out as `kgserver build` lays it out: the data graph plus its change record, and its search index."""
    store = pyoxigraph.Store(str(location))
    store.bulk_load(path=str(dataset.path), format=pyoxigraph.RdfFormat.N_TRIPLES,
                    to_graph=pyoxigraph.NamedNode(DATA_GRAPH))
    changes.record_loaded(store, Settings.from_env(), [DATA_GRAPH])
    store.flush()
    del store
    index_after_build(Settings.from_env(), StoreLocation(path=location), lambda _: None)


def wait_search_ready(url: str, process: subprocess.Popen[bytes], limit: float = 600.0) -> None:
    """Wait until a kgserver's search index is ready: a frontend builds its own from the engine when it starts.

    Queries are what is measured, not that start-up work (it runs in a process of its own).
    """
    health = url.rsplit("/", 1)[0] + "/health"
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(health, timeout=10) as answer:
                search = json.loads(answer.read()).get("search", {})
            if search.get("state") == "failed":  # it is retried every minute: the figures would carry its cost
                print(f"WARNING {url}: the search index could not be built (see the server's log)", flush=True)
            if search.get("state") != "rebuilding":
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.5)


def start(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})}, start_new_session=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_ready(url: str, process: subprocess.Popen[bytes], limit: float = 900.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            ask(url, "ASK { ?s ?p ?o }", timeout=5)
            return
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    raise RuntimeError("server did not become ready")


def tree_cpu(pid: int) -> float:
    """CPU seconds (user and system) that a process and its living descendants have used."""
    try:
        root = psutil.Process(pid)
        members = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for member in members:
        try:
            times = member.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def settle(process: subprocess.Popen[bytes], quiet_cpu_seconds: float = 0.02, limit: float = 60.0) -> None:
    """Wait until the server's process tree is idle (under 20 ms of CPU in half a second).

    A server may still be warming up when it first answers (kgserver starts its reasoner's
    JVM in the background); measuring then would time the warm-up, not the queries.
    """
    def cpu() -> float:
        return tree_cpu(process.pid)

    deadline = time.monotonic() + limit
    before = cpu()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu()
        if now - before < quiet_cpu_seconds:
            return
        before = now


def quads_file(dataset: Dataset, scratch: Path) -> Path:
    """The dataset as an engine holds it for kgserver: the quads of a store built as `running` builds kgserver's.

    The data graph plus kgserver's change record (its version and graphs), which a frontend
    reads from the engine; written once per dataset.
    """
    path = scratch / f"{dataset.name}.nq"
    if not path.exists():
        location = scratch / f"quads-{dataset.name}"
        build_kgserver_store(dataset, location)
        store = pyoxigraph.Store.read_only(str(location))
        store.dump(str(path), pyoxigraph.RdfFormat.N_QUADS)
        del store
        shutil.rmtree(location, ignore_errors=True)
    return path


class Engines:
    """The engines one dataset's servers read, each started and loaded once, stopped after its last reader.

    An engine measured directly (`oxigraph`, `virtuoso`) and kgserver in front of it
    (`kgserver-oxigraph`...) read the same engine process, so their difference is the frontend.
    """

    def __init__(self, dataset: Dataset, scratch: Path, servers: list[str]) -> None:
        self._dataset, self._scratch = dataset, scratch
        self._last_reader = {FRONTED.get(s, s): s for s in servers if FRONTED.get(s, s) in ENGINES}
        self._running: dict[str, tuple[engines.Engine, ExitStack]] = {}

    def get(self, kind: str) -> engines.Engine:
        if kind not in self._running:
            print(f"{kind} {self._dataset.name}: starting and loading the engine", file=sys.stderr, flush=True)
            stack = ExitStack()
            directory = self._scratch / f"engine-{kind}-{self._dataset.name}"
            shutil.rmtree(directory, ignore_errors=True)
            stack.callback(shutil.rmtree, directory, True)
            engine = stack.enter_context(ENGINES[kind](directory, quads_file(self._dataset, self._scratch)))
            settle(engine.process)
            self._running[kind] = (engine, stack)
        return self._running[kind][0]

    def done(self, server: str) -> None:
        """`server` is measured: stop the engine it read if no later server reads it."""
        kind = FRONTED.get(server, server)
        if self._last_reader.get(kind) == server and kind in self._running:
            self._running.pop(kind)[1].close()

    def close(self) -> None:
        for _, stack in self._running.values():
            stack.close()
        self._running.clear()


def start_frontend(engine: engines.Engine, port: int, scratch: Path, cpus: str | None = None) -> subprocess.Popen[bytes]:
    """`kgserver serve --engine NAME --engine-url URL` on `port` (pinned to `cpus` with taskset when given)."""
    pin = ["taskset", "-c", cpus] if cpus else []
    return start([*pin, str(BIN / "kgserver"), "serve", "--engine", engine.name, "--engine-url", engine.base,
                  "--host", "127.0.0.1", "--port", str(port)],
                 env={"LDNKG_DUMP_DIR": str(scratch / f"dumps-{engine.name}-{port}"),
                      "LDNKG_STATE_DIR": str(scratch / "state")})  # its search index goes with the scratch


BARE_FRONTENDS = {"waitress": [], "waitress + Flask": ["--flask"]}  # bare_frontend.py's variants, by label
FLOOR_ENGINE_MS = 100.0  # the floor is measured for queries the engine answers this fast (sorts, large answers vary more)


@contextmanager
def bare_frontends(engine: engines.Engine) -> Iterator[dict[str, str]]:
    """The bare frontends (bench/bare_frontend.py) in front of `engine`, answering: label -> query URL."""
    started: dict[str, tuple[str, subprocess.Popen[bytes]]] = {}
    try:
        for label, flags in BARE_FRONTENDS.items():
            port = free_port()
            started[label] = (f"http://127.0.0.1:{port}/sparql",
                              start([sys.executable, str(ROOT / "bench" / "bare_frontend.py"), str(port), engine.query, *flags]))
        for url, process in started.values():
            wait_ready(url, process, limit=60)
        yield {label: url for label, (url, _) in started.items()}
    finally:
        for _, process in started.values():
            stop(process)


@contextmanager
def running(server: str, dataset: Dataset, scratch: Path,
            engine_pool: Engines | None = None) -> Iterator[tuple[str, subprocess.Popen[bytes], float]]:
    """Load `dataset` into `server`, start it, and yield its endpoint, process and load time.

    For an engine or a frontend the load time is the engine's bulk load, and the process is
    the engine's (measured directly) or the frontend's alone (kgserver in front of it).
    """
    if server in ENGINES or server in FRONTED:
        if engine_pool is None:
            raise ValueError(f"{server} needs the dataset's engines")
        engine = engine_pool.get(FRONTED.get(server, server))
        if server in ENGINES:
            yield engine.query, engine.process, engine.load_seconds
            return
        port = free_port()
        url = f"http://127.0.0.1:{port}/sparql"
        process = start_frontend(engine, port, scratch)
        try:
            wait_ready(url, process)
            wait_search_ready(url, process)
            settle(process)
            yield url, process, engine.load_seconds
        finally:
            stop(process)
        return
    port = free_port()
    url = f"http://127.0.0.1:{port}{ENDPOINTS[server]}"
    location = scratch / f"{server}-{dataset.name}"
    shutil.rmtree(location, ignore_errors=True)
    started = time.perf_counter()
    if server == "kgserver":
        build_kgserver_store(dataset, location)
        load = time.perf_counter() - started
        process = start([str(BIN / "kgserver"), "serve", "--store", str(location),
                         "--host", "127.0.0.1", "--port", str(port)])
    else:  # rdflib-endpoint parses the file into memory when it starts: that is its load
        process = start([str(BIN / "rdflib-endpoint"), "serve", str(dataset.path),
                         "--host", "127.0.0.1", "--port", str(port)])
        wait_ready(url, process)
        load = time.perf_counter() - started
    try:
        wait_ready(url, process)
        if server == "kgserver":
            wait_search_ready(url, process)
        settle(process)
        yield url, process, load
    finally:
        stop(process)
        shutil.rmtree(location, ignore_errors=True)


# ------------------------------------------------------------------------------- queries

def ask(url: str, query: str, timeout: float = REQUEST_TIMEOUT, dataset: Sequence[tuple[str, str]] = ()) -> str:
    """One GET per the SPARQL Protocol (with `dataset`'s parameters), asking for SPARQL JSON; returns the answer's gist."""
    request = urllib.request.Request(f"{url}?{urllib.parse.urlencode([('query', query), *dataset])}",
                                     headers={"Accept": "application/sparql-results+json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        result = json.loads(response.read())
    if "boolean" in result:
        return str(result["boolean"]).lower()
    rows = result["results"]["bindings"]
    if result["head"].get("vars") in (["__ASK_RETVAL"], ["__ask_retval"]):  # Virtuoso 7.2.5 answers ASK as a row
        return "true" if rows and rows[0][result["head"]["vars"][0]]["value"] == "1" else "false"
    return f"{len(rows)} rows"


def outcome(url: str, query: str, timeout: float, agent: str) -> tuple[str, float]:
    """One GET as `agent` (its User-Agent): the status ("200", "503", "timeout"...) and the seconds it took.

    A 200 whose body is not a complete SPARQL JSON answer (Oxigraph's server answers a
    cancelled query with 200 and an error text) counts as "cut".
    """
    request = urllib.request.Request(f"{url}?{urllib.parse.urlencode({'query': query})}",
                                     headers={"Accept": "application/sparql-results+json", "User-Agent": agent})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        json.loads(body)
        status = "200"
    except urllib.error.HTTPError as error:
        error.read()
        status = str(error.code)
    except TimeoutError:
        status = "timeout"
    except ValueError:
        status = "cut"
    except OSError as error:
        status = type(error).__name__
    return status, time.perf_counter() - started


def median_ms(runs: int, action: Callable[[int], object]) -> float:
    timings = []
    for run in range(runs):
        started = time.perf_counter()
        action(run)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


class Texts:
    """Query texts for clients: every one unique (other IRIs where the dataset has them, and a counter)."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self._dataset = dataset
        self._random = random.Random(seed)
        self._count = 0
        self._lock = threading.Lock()

    def _fill(self, template: str) -> str:
        data, rng = self._dataset, self._random
        with self._lock:
            self._count += 1
            count = self._count
            claim = rng.choice(data.claims) if data.claims else data.claim
            condition = rng.choice(data.conditions) if data.conditions else data.condition
            chosen = rng.sample(data.conditions, min(HEAVY_CONDITIONS, len(data.conditions))) if data.conditions \
                else [data.condition]
        conditions = " ".join(f"<{iri}>" for iri in chosen)
        text = template.format(claim=claim, condition=condition, conditions=conditions)
        return f"{PREFIXES}{text}\n# request {count} {time.time_ns()}"

    def light(self, index: int) -> str:
        return self._fill(QUERIES[LIGHT[index % len(LIGHT)]])

    def heavy(self) -> str:
        return self._fill(HEAVY)


def throughput(url: str, text: Callable[[int], str], failures: dict[str, int] | None = None,
               seconds: float = THROUGHPUT_SECONDS) -> float:
    """Answers per second that 8 clients get in `seconds`, each sending `text(position)` in turn.

    A request that fails (not 200, or no complete answer) is not counted as done; it is
    counted in `failures` under its status and the first words of its message.
    """
    deadline = time.monotonic() + seconds
    done = [0] * CLIENTS
    lock = threading.Lock()

    def client(index: int) -> None:
        position = index
        while time.monotonic() < deadline:
            try:
                ask(url, text(position))
                done[index] += 1
            except urllib.error.HTTPError as error:
                why = f"{error.code} {error.read()[:80].decode('utf-8', 'replace').strip()}"
                with lock:
                    if failures is not None:
                        failures[why] = failures.get(why, 0) + 1
            except (OSError, ValueError) as error:
                with lock:
                    if failures is not None:
                        failures[type(error).__name__] = failures.get(type(error).__name__, 0) + 1
            position += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    return sum(done) / (time.perf_counter() - started)


def mixed_load(url: str, texts: Texts, seconds: float = MIXED_SECONDS) -> MixedRun:
    """8 clients for `seconds`: HEAVY_CLIENTS send the heavy query, the others the light mix, every text unique."""
    run = MixedRun()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        heavy = index < HEAVY_CLIENTS
        agent = f"bench-{'heavy' if heavy else 'light'}-{index}"
        position = index
        while time.monotonic() < deadline:
            text = texts.heavy() if heavy else texts.light(position)
            kind = LIGHT[position % len(LIGHT)]
            status, took = outcome(url, text, REQUEST_TIMEOUT if heavy else 60.0, agent)
            position += 1
            with lock:
                statuses = run.heavy_status if heavy else run.light_status
                statuses[status] = statuses.get(status, 0) + 1
                if status == "200":
                    (run.heavy_ms if heavy else run.light_kind_ms.setdefault(kind, [])).append(took * 1000)

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    return run


WRK_CLIENTS = 2  # wrk processes, one per frontend when there are two
WRK_CONNECTIONS = 4  # kept-alive connections each
WRK_PIPELINE = int(os.environ.get("BENCH_WRK_PIPELINE", "8"))  # requests each connection sends before reading answers


def wrk_throughput(urls: list[str], texts: list[str], seconds: float, scratch: Path) -> tuple[float, float]:
    """Requests per second, and the client's CPU seconds, of WRK_CLIENTS wrk processes spread evenly over `urls`.

    wrk (Debian's package) spends about a tenth of the CPU per request that a Python client
    does, which on two shared cores is what lets a second frontend show (see frontend_scaling).
    Each wrk cycles through `texts` on kept-alive connections, WRK_PIPELINE requests written
    at a time before their answers are read (HTTP/1.1 pipelining, as wrk's own pipeline.lua
    does); a non-2xx answer is not counted.
    """
    script = scratch / "wrk-texts.lua"
    parts = [urllib.parse.urlsplit(url) for url in urls]
    paths = [f"{parts[0].path}?{urllib.parse.urlencode({'query': text})}" for text in texts]
    script.write_text(
        "local paths = {" + ", ".join(f"[[{path}]]" for path in paths) + "}\n"
        "local i = 0\n"
        'wrk.headers["Accept"] = "application/sparql-results+json"\n'
        f"local depth = {WRK_PIPELINE}\n"
        "request = function()\n"
        "  local batch = {}\n"
        "  for k = 1, depth do i = i + 1; batch[k] = wrk.format(\"GET\", paths[(i % #paths) + 1]) end\n"
        "  return table.concat(batch)\n"
        "end\n"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    clients = [
        subprocess.Popen(["wrk", "-t1", f"-c{WRK_CONNECTIONS}", f"-d{seconds:g}s", "-s", str(script),
                          f"http://{parts[index % len(urls)].netloc}/"], stdout=subprocess.PIPE, text=True)
        for index in range(WRK_CLIENTS)
    ]
    rate = 0.0
    for client in clients:
        output, _ = client.communicate()
        requests = re.search(r"(\d+) requests in ([\d.]+)s", output)
        failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
        if requests is None:
            raise RuntimeError(f"wrk printed no request count: {output}")
        rate += (int(requests.group(1)) - (int(failed.group(1)) if failed else 0)) / float(requests.group(2))
        if failed:
            print(f"WARNING {failed.group(1)} requests were not answered 200 through {', '.join(urls)}", flush=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return rate, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def frontend_scaling(engine: engines.Engine, dataset: Dataset, scratch: Path, seconds: float) -> Scaling:
    """The repeated light mix through one `kgserver serve --engine` and through two, clients split between them.

    Only the frontends may be the bottleneck here, and on this two-core machine that takes three
    steps. The texts are the light mix's four, repeated, so after one warming request per text
    and frontend every answer comes from the frontend's response cache: the engine sees only
    each frontend's re-reading of the dataset's state, once a second (its CPU over the run is
    printed to show it stays near zero). Each frontend is pinned to a core of its own with
    taskset (one frontend on CPU 0; two on CPU 0 and CPU 1), so one frontend cannot already
    use both cores through its threads: one frontend is one core's worth of web process, as it
    would be on a machine of its own. And the clients are two wrk processes (4 kept-alive
    connections each; both at the one frontend, or one at each of two), not pinned.

    On two cores the client's CPU caps the ratio: with f ms of frontend CPU per answer and c ms
    of client CPU (both printed), one pinned frontend gives at most 1000/f answers a second
    and two at most 2000/(f + c), a ratio of at most 2f/(f + c). A Python client (c 0.14-0.17
    ms against f 0.24-0.26 ms, measured) capped it near 1.2, below issue 14's 1.6 however well
    the frontends scale; wrk's c is about a tenth of that. Pipelining 8 requests per
    connection (WRK_PIPELINE) cuts the system calls and wake-ups each answer costs both
    sides: at 100k triples behind Oxigraph's server, one request at a time gave 5,966 and
    8,474 answers a second (1.42 times, the two frontends' CPU per answer 0.20 ms), 8 at a
    time 6,800 and 11,064 (1.63 times, 0.15 ms).

    Both frontends start first; then one frontend's run (the second idles) and two frontends'
    run follow each other SCALING_ROUNDS times, and the target is judged on the median round's
    ratio, every round printed. Measured one run of each, minutes apart, the same code gave
    1.87, 1.57 and 1.28 at 1M triples: the machine's drift, which turns fall on both alike.

    What the ratio can show: that two frontends over one engine serve more than one, i.e.
    nothing shared between them (the engine, a lock, the state re-reads) caps the pair. What
    it cannot show: scaling of queries the engine must answer (cold texts go to the engine,
    and on two cores the engine and the frontends share the CPU); frontends on machines of
    their own (here the client takes CPU from both); or anything with other load on the machine.
    """
    texts = [PREFIXES + QUERIES[name].format(claim=dataset.claim, condition=dataset.condition) for name in LIGHT]
    first_port = engines.free_port()
    ports = [first_port, engines.free_port(avoid=first_port)]
    urls = [f"http://127.0.0.1:{port}/sparql" for port in ports]
    processes: list[subprocess.Popen[bytes]] = []
    scaling = Scaling(seconds=seconds)
    try:
        for index, port in enumerate(ports):
            processes.append(start_frontend(engine, port, scratch, cpus=str(index)))
            wait_ready(urls[index], processes[index])
            wait_search_ready(urls[index], processes[index])
            settle(processes[index])
            for text in texts:
                ask(urls[index], text)  # into each frontend's response cache
        for _ in range(SCALING_ROUNDS):
            rates = []
            for count, label in ((1, "one"), (2, "two")):
                before = (sum(tree_cpu(p.pid) for p in processes), tree_cpu(engine.process.pid))
                rate, client_cpu = wrk_throughput(urls[:count], texts, seconds, scratch)
                after = (sum(tree_cpu(p.pid) for p in processes), tree_cpu(engine.process.pid))
                spent = scaling.cpu.setdefault(label, {"client": 0.0, "frontends": 0.0, "engine": 0.0})
                for name, value in (("client", client_cpu), ("frontends", after[0] - before[0]),
                                    ("engine", after[1] - before[1])):
                    spent[name] += value / SCALING_ROUNDS  # a round's worth, averaged over the rounds
                rates.append(rate)
            scaling.rounds.append((rates[0], rates[1]))
    finally:
        for process in processes:
            stop(process)
    return scaling


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


class PeakMemory:
    """Samples the memory of a process and its children in the background.

    It adds up PSS (proportional set size), so pages that forked workers share with their
    parent are counted once, not once per process as RSS would count them. Reading PSS walks
    each process's page tables (1-4 ms a process here), so it samples twice a second: at
    ten a second it took CPU from the server it measured. It runs during the load phases
    only (throughput, mixed load), where the peak is: during the one-at-a-time latency runs
    it slowed kgserver's cold lookups from about 1.5 to 2-3.5 ms at 1M triples (a sample
    walks six processes there, Oxigraph's server's one), a cost of the measuring, not of
    the server.
    """

    def __init__(self, pid: int) -> None:
        self.peak = 0
        self.parts: dict[str, list[int]] = {}  # at the peak: each program's processes' PSS
        self._process = psutil.Process(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                tree = [self._process, *self._process.children(recursive=True)]
                sizes = [(p.name(), p.memory_full_info().pss) for p in tree]
                if sum(size for _, size in sizes) > self.peak:
                    self.peak = sum(size for _, size in sizes)
                    self.parts = {}
                    for name, size in sizes:
                        self.parts.setdefault(name, []).append(size)
            except psutil.Error:
                pass
            self._stop.wait(0.5)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 2**20


def frontend_dataset(engine: engines.Engine) -> Callable[[str], list[tuple[str, str]]] | None:
    """The dataset parameters a frontend sends this engine with a query, where it names the dataset's graphs.

    Virtuoso's default graph holds its own system graphs too, so a frontend names the
    dataset's graphs (`default-graph-uri`, and `named-graph-uri` for a query with GRAPH),
    and each graph named costs the engine time. The engine is also timed asked that way, so
    that what the frontend adds is told apart from what the request it must send costs the engine.
    """
    dialect = DIALECTS[engine.name]
    if not dialect.names_dataset_graphs:
        return None
    store = RemoteStore(engine.base, dialect)
    return store.dataset_parameters


def paired_cold_ms(url: str, other: str, text: str, runs: int,
                   dataset: Sequence[tuple[str, str]] = (), own_dataset: Sequence[tuple[str, str]] = ()) -> tuple[float, float]:
    """Cold medians of a server at `url` (asked with `own_dataset`'s parameters) and of another at `other` (with
    `dataset`'s), timed in turns.

    The machine's speed drifts by 20-50% over seconds to minutes here (one loop of pure
    Python took 0.85 to 1.44 ms from one block of runs to the next), and each server's
    figures above are taken minutes apart; what one server costs against another is measured
    in turns, each pair a few milliseconds apart, so that drift falls on both alike.
    """
    mine: list[float] = []
    theirs: list[float] = []
    ends = time.monotonic() + PAIRED_SECONDS
    for run in range(runs):
        if len(mine) >= SLOW_RUNS[0] and time.monotonic() > ends:  # a server that takes seconds (Oxigraph's sorts)
            break
        started = time.perf_counter()
        ask(other, f"{text}\n# paired run {run} {time.time_ns()}", dataset=dataset)
        theirs.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        ask(url, f"{text}\n# paired run {run} {time.time_ns()}", dataset=own_dataset)
        mine.append((time.perf_counter() - started) * 1000)
    return statistics.median(mine), statistics.median(theirs)


def paired_with_oxigraph(dataset: Dataset, scratch: Path, engine_pool: Engines,
                         mixed_seconds: float) -> tuple[dict[str, tuple[float, float]], PairedLoads]:
    """kgserver's and Oxigraph's server's cold medians taken in turns, and their load phases in alternating
    blocks, both serving at once: each figure as (kgserver's, Oxigraph's).

    The cold medians above are taken minutes apart, and on this machine two runs of the same
    code gave kgserver's entity lookup 1.7 and 2.9 ms while Oxigraph's stayed at 0.6: the
    cold-median targets are judged on these pairs, as a frontend's are against its engine.
    The load phases likewise (three runs of the same code gave kgserver's cold throughput
    0.84, 0.84 and 0.68 times Oxigraph's): see `paired_loads`.
    """
    print(f"kgserver and oxigraph {dataset.name}: cold runs in turns", file=sys.stderr, flush=True)
    paired: dict[str, tuple[float, float]] = {}
    with running("kgserver", dataset, scratch) as (ours, _, _), \
            running("oxigraph", dataset, scratch, engine_pool) as (theirs, _, _):
        for url in (ours, theirs):
            warm_up(url, Texts(dataset, seed=3))
        for name, template in QUERIES.items():
            text = PREFIXES + template.format(claim=dataset.claim, condition=dataset.condition)
            try:
                paired[name] = paired_cold_ms(ours, theirs, text, PAIRED_RUNS)
            except (OSError, ValueError) as error:  # reported by the runs above, each server alone
                print(f"WARNING kgserver and oxigraph {dataset.name}: {name} in turns: {error}", flush=True)
        print(f"kgserver and oxigraph {dataset.name}: load phases in alternating blocks", file=sys.stderr, flush=True)
        loads = paired_loads(ours, theirs, Texts(dataset, seed=13), mixed_seconds)
    return paired, loads


def paired_loads(ours: str, theirs: str, texts: Texts, mixed_seconds: float) -> PairedLoads:
    """The cold light mix and the mixed load on two servers in alternating blocks (ABBAAB), each text unique.

    Each server gets LOAD_BLOCKS blocks of BLOCK_THROUGHPUT_SECONDS of the cold light mix, then
    LOAD_BLOCKS blocks of the mixed load that add up to `mixed_seconds`; a block starts when
    the last one's requests have all been answered (a heavy query Oxigraph's server is still
    computing is waited for). The machine's drift over minutes falls on both servers alike.
    """
    turns = [url for block in range(LOAD_BLOCKS) for url in ((ours, theirs) if block % 2 == 0 else (theirs, ours))]
    rates: dict[str, list[float]] = {ours: [], theirs: []}
    mixed: dict[str, MixedRun] = {ours: MixedRun(), theirs: MixedRun()}
    for url in turns:
        rates[url].append(throughput(url, texts.light, seconds=BLOCK_THROUGHPUT_SECONDS))
    if mixed_seconds > 0:
        for url in turns:
            mixed[url].add(mixed_load(url, texts, mixed_seconds / LOAD_BLOCKS))
    return PairedLoads((statistics.mean(rates[ours]), statistics.mean(rates[theirs])),
                       (mixed[ours], mixed[theirs]) if mixed_seconds > 0 else None)


def warm_up(url: str, texts: Texts) -> None:
    """Light queries, each text new, before anything is timed: a server's first requests after it starts are slower.

    Right after start, kgserver's first requests took 3-8 ms where later ones took 1.3-2 (its
    query processes' first queries: code paths, caches, the allocator's arenas). A cold run is
    meant to time a query whose text no cache has seen on a server that has been serving,
    not a server's start; every server gets the same warm-up, with texts the runs never send.
    """
    for index in range(WARM_UP_REQUESTS):
        ask(url, texts.light(index))


def measure(server: str, dataset: Dataset, scratch: Path, cold_runs: int, warm_runs: int,
            mixed_seconds: float, engine_pool: Engines | None = None, scaling_seconds: float = 0.0) -> ServerRun:
    print(f"{server} {dataset.name}: loading", file=sys.stderr, flush=True)
    with running(server, dataset, scratch, engine_pool) as (url, process, load), ExitStack() as stack:
        run = ServerRun(server, load)
        texts = {name: PREFIXES + template.format(claim=dataset.claim, condition=dataset.condition)
                 for name, template in QUERIES.items()}
        warm_up(url, Texts(dataset, seed=3))
        dataset_of = frontend_dataset(engine_pool.get(server)) if server in ENGINES and engine_pool else None
        fronted = engine_pool.get(FRONTED[server]) if server in FRONTED and engine_pool else None
        fronted_dataset = (frontend_dataset(fronted) if fronted is not None else None) or (lambda _text: [])
        bare = stack.enter_context(bare_frontends(fronted)) if fronted is not None else {}
        for name, text in texts.items():
            print(f"  {server} {dataset.name}: {name}", file=sys.stderr, flush=True)
            try:
                def cold(n: int, t: str = text) -> str:
                    return ask(url, f"{t}\n# cold run {n} {time.time_ns()}")

                first = median_ms(1, cold)
                colds, warms = SLOW_RUNS if first > SLOW_MS else (cold_runs, warm_runs)
                run.cold_ms[name] = statistics.median([first] + [median_ms(1, cold) for _ in range(colds - 1)])
                if dataset_of is not None:  # read before the timing: the graphs' list is a request of its own
                    graphs = dataset_of(text)
                    run.dataset_cold_ms[name] = median_ms(colds, lambda n, t=text, d=graphs: ask(
                        url, f"{t}\n# cold run {n} {time.time_ns()}", dataset=d))
                if fronted is not None:
                    named = fronted_dataset(text)  # the engine's graphs as the frontend names them, read once
                    run.paired_ms[name] = paired_cold_ms(url, fronted.query, text, max(colds, PAIRED_RUNS if first <= SLOW_MS
                                                                                         else colds), named)
                    tight = run.paired_ms[name][1] <= FLOOR_ENGINE_MS
                    for label, bare_url in bare.items() if tight else ():  # the floor, where the bound is tight
                        run.floor_ms.setdefault(label, {})[name] = paired_cold_ms(  # the bare frontend forwards `named`
                            bare_url, fronted.query, text, PAIRED_RUNS, named, named)
                run.answers[name] = ask(url, text)
                run.warm_ms[name] = median_ms(warms, lambda n, t=text: ask(url, t))
            except urllib.error.HTTPError as error:
                run.errors[name] = f"HTTP {error.code}"
                message = error.read()[:200].decode("utf-8", "replace").strip().replace("\n", " ")
                print(f"WARNING {server} {dataset.name}: {name}: HTTP {error.code}: {message}", flush=True)
            except (OSError, ValueError) as error:
                run.errors[name] = type(error).__name__
                print(f"WARNING {server} {dataset.name}: {name}: {type(error).__name__}: {error}", flush=True)
        unique = Texts(dataset, seed=11)
        memory = PeakMemory(process.pid)  # from here on: the load phases, where the peak is
        if not any(name in run.errors for name in LIGHT):
            print(f"  {server} {dataset.name}: throughput", file=sys.stderr, flush=True)
            run.throughput = throughput(url, lambda n: texts[LIGHT[n % len(LIGHT)]], run.throughput_failures)
            run.cold_throughput = throughput(url, unique.light, run.throughput_failures)
        if mixed_seconds > 0:
            print(f"  {server} {dataset.name}: mixed load", file=sys.stderr, flush=True)
            run.mixed = mixed_load(url, unique, mixed_seconds)
        run.peak_mb = memory.stop()
        run.peak_parts = memory.parts
    if server in FRONTED and engine_pool is not None and scaling_seconds > 0:
        print(f"  {server} {dataset.name}: one frontend against two", file=sys.stderr, flush=True)
        run.scaling = frontend_scaling(engine_pool.get(FRONTED[server]), dataset, scratch, scaling_seconds)
    return run


# ------------------------------------------------------------------------------- report

def report(dataset: Dataset, runs: list[ServerRun]) -> None:
    print(f"\n== {dataset.name}: {dataset.triples:,} triples")
    names = [r.server for r in runs]
    width = 26

    def row(label: str, cells: list[str]) -> None:
        print(f"{label:{width}}" + "".join(f"{c:>18}" for c in cells))

    row("", names)
    row("load (s)", [f"{r.load_seconds:.2f}" for r in runs])
    for query in QUERIES:
        row(query + " cold ms", [r.errors.get(query) or f"{r.cold_ms[query]:.1f}" for r in runs])
    if any(r.dataset_cold_ms for r in runs):  # an engine asked as its frontend asks it, the dataset's graphs named
        for query in QUERIES:
            row(f"{query} cold, graphs named"[:width], [f"{r.dataset_cold_ms[query]:.1f}" if query in r.dataset_cold_ms
                                                         else "-" for r in runs])
    for query in QUERIES:
        row(query + " repeat ms", [r.errors.get(query) or f"{r.warm_ms[query]:.1f}" for r in runs])
    row("light mix req/s, repeated", [f"{r.throughput:.1f}" for r in runs])
    row("light mix req/s, cold", [f"{r.cold_throughput:.1f}" for r in runs])
    row("light mix failed requests", [str(sum(r.throughput_failures.values())) for r in runs])
    for r in runs:
        for why, count in r.throughput_failures.items():
            print(f"WARNING {r.server}: {count} light-mix requests failed: {why}")
    if all(r.mixed for r in runs):
        mixed = [r.mixed for r in runs if r.mixed]
        row("mixed: light answered", [str(len(m.light_ms)) for m in mixed])
        row("mixed: light median ms", [f"{statistics.median(m.light_ms):.1f}" if m.light_ms else "-" for m in mixed])
        row("mixed: light p99 ms", [f"{percentile(m.light_ms, 0.99):.1f}" for m in mixed])
        for kind in LIGHT:  # where the median goes: short queries queued behind long ones, or not
            row(f"  median: {kind}"[:width], [f"{statistics.median(m.light_kind_ms[kind]):.1f}"
                                             if m.light_kind_ms.get(kind) else "-" for m in mixed])
        row("mixed: light not 200", [str(sum(n for k, n in m.light_status.items() if k != "200")) for m in mixed])
        row("mixed: heavy answered", [str(len(m.heavy_ms)) for m in mixed])
        row("mixed: heavy median ms", [f"{statistics.median(m.heavy_ms):.0f}" if m.heavy_ms else "-" for m in mixed])
        for r, m in zip(runs, mixed, strict=True):
            print(f"  {r.server}: light outcomes {dict(sorted(m.light_status.items()))}, "
                  f"heavy outcomes {dict(sorted(m.heavy_status.items()))}")
    row("peak memory PSS (MB)", [f"{r.peak_mb:.0f}" for r in runs])
    for query in QUERIES:
        answers = {r.answers.get(query) for r in runs if query in r.answers}
        if len(answers) > 1:
            print(f"WARNING {query}: the servers' answers differ: "
                  + ", ".join(f"{r.server}={r.answers.get(query, r.errors.get(query))}" for r in runs))
    for frontend in runs:
        engine = next((r for r in runs if r.server == FRONTED.get(frontend.server)), None)
        if engine is not None:
            frontend_targets(frontend, engine)
        elif frontend.server in FRONTED:
            frontend_targets(frontend, None)
    ours = next((r for r in runs if r.server == "kgserver"), None)
    if ours is None:
        return
    for other in runs:
        if other is ours:
            continue
        shared = [q for q in QUERIES if q not in ours.errors and q not in other.errors]
        if not shared:
            continue
        ratios = [other.cold_ms[q] / ours.cold_ms[q] for q in shared]
        worst = max(shared, key=lambda q: ours.cold_ms[q] / other.cold_ms[q])
        repeat = statistics.geometric_mean([other.warm_ms[q] / ours.warm_ms[q] for q in shared])
        print(f"vs {other.server}: cold speed-up geometric mean {statistics.geometric_mean(ratios):.2f}x; "
              f"worst cold ratio ours/theirs {ours.cold_ms[worst] / other.cold_ms[worst]:.2f} ({worst}); "
              f"repeat speed-up geometric mean {repeat:.2f}x")
    oxigraph = next((r for r in runs if r.server == "oxigraph"), None)
    if oxigraph is not None:
        if ours.paired_loads is not None:
            report_paired_loads(ours.paired_loads)
        targets(ours, oxigraph, dataset.triples >= TARGET_TRIPLES)


def report_paired_loads(loads: PairedLoads) -> None:
    """kgserver's and Oxigraph's server's load phases in alternating blocks, beside the table's (each alone)."""
    mine, theirs = loads.cold_throughput
    print(f"in alternating blocks, kgserver / oxigraph: light mix cold {mine:.1f} / {theirs:.1f} req/s")
    if loads.mixed is None:
        return
    ours_run, theirs_run = loads.mixed
    print(f"  mixed: light answered: {len(ours_run.light_ms)} / {len(theirs_run.light_ms)}")
    for label, figure in (("light median ms", statistics.median), ("light p99 ms", lambda v: percentile(v, 0.99))):
        cells = [f"{figure(m.light_ms):.1f}" if m.light_ms else "-" for m in (ours_run, theirs_run)]
        print(f"  mixed: {label}: {' / '.join(cells)}")
    for kind in LIGHT:
        cells = [f"{statistics.median(m.light_kind_ms[kind]):.1f}" if m.light_kind_ms.get(kind) else "-"
                 for m in (ours_run, theirs_run)]
        print(f"    median {kind} ms: {' / '.join(cells)}")
    print(f"  mixed: light outcomes {dict(sorted(ours_run.light_status.items()))} / "
          f"{dict(sorted(theirs_run.light_status.items()))}; heavy outcomes "
          f"{dict(sorted(ours_run.heavy_status.items()))} / {dict(sorted(theirs_run.heavy_status.items()))}")


def targets(ours: ServerRun, oxigraph: ServerRun, set_here: bool = True) -> None:
    """The fair-scheduling targets, as ratios to Oxigraph's server in the same run (issue 11 sets them at 1M)."""
    print("targets (against oxigraph in this run)" + ("" if set_here else
          f"; for reference only: issue 11 sets them at {TARGET_TRIPLES:,} triples") + ":")

    def say(name: str, met: bool, detail: str) -> None:
        print(f"  [{'met' if met else 'MISSED'}] {name}: {detail}")

    loads = ours.paired_loads
    alone = " (each alone, minutes apart: {})"
    in_blocks = loads.mixed if loads is not None else None
    mixed = in_blocks if in_blocks is not None else (ours.mixed, oxigraph.mixed)
    how = ", in alternating blocks" if in_blocks is not None else ""
    if mixed[0] and mixed[1] and mixed[0].light_ms and mixed[1].light_ms:
        mine_run, theirs_run = mixed
        refused = sum(n for k, n in mine_run.light_status.items() if k in ("503", "429"))
        say(f"mixed load{how}, no light query gets 503 or 429", refused == 0, f"{refused} refused")
        mine, theirs = statistics.median(mine_run.light_ms), statistics.median(theirs_run.light_ms)
        say(f"mixed load{how}, light median <= 1.5x", mine <= 1.5 * theirs,
            f"{mine:.1f} / {theirs:.1f} ms = {mine / theirs:.2f}x"
            + (alone.format(_mixed_figure(ours.mixed, oxigraph.mixed, statistics.median)) if how else ""))
        mine, theirs = percentile(mine_run.light_ms, 0.99), percentile(theirs_run.light_ms, 0.99)
        say(f"mixed load{how}, light p99 <= oxigraph's", mine <= theirs, f"{mine:.1f} / {theirs:.1f} ms"
            + (alone.format(_mixed_figure(ours.mixed, oxigraph.mixed, lambda v: percentile(v, 0.99))) if how else ""))
    if loads is not None and loads.cold_throughput[1]:
        mine, theirs = loads.cold_throughput
        say("light mix cold throughput, in alternating blocks, >= 0.8x", mine >= 0.8 * theirs,
            f"{mine:.1f} / {theirs:.1f} req/s = {mine / theirs:.2f}x" + alone.format(
                f"{ours.cold_throughput:.1f} / {oxigraph.cold_throughput:.1f} req/s"))
    elif oxigraph.cold_throughput:
        ratio = ours.cold_throughput / oxigraph.cold_throughput
        say("light mix cold throughput >= 0.8x", ratio >= 0.8,
            f"{ours.cold_throughput:.1f} / {oxigraph.cold_throughput:.1f} req/s = {ratio:.2f}x")
    for query, limit in (("one-key page", 500.0), ("one-key deep page", 2000.0)):
        if query in ours.cold_ms:
            say(f"{query} under {limit / 1000:g} s", ours.cold_ms[query] < limit,
                f"{ours.cold_ms[query]:.0f} ms (oxigraph {oxigraph.cold_ms.get(query, float('nan')):.0f} ms)")
    for query in QUERIES:
        if query in ours.paired_ms and ours.paired_ms[query][1] < 1000:
            mine, theirs = ours.paired_ms[query]
            bound = 1.5 * theirs + 1.0
            say(f"{query} cold, in turns with oxigraph, <= 1.5x + 1 ms", mine <= bound,
                f"{mine:.1f} ms, bound {bound:.1f} ms (oxigraph {theirs:.1f} ms in turns)")
        elif query in ours.cold_ms and query in oxigraph.cold_ms and oxigraph.cold_ms[query] < 1000:
            bound = 1.5 * oxigraph.cold_ms[query] + 1.0
            say(f"{query} cold <= 1.5x + 1 ms", ours.cold_ms[query] <= bound,
                f"{ours.cold_ms[query]:.1f} ms, bound {bound:.1f} ms")


def _mixed_figure(mine: MixedRun | None, theirs: MixedRun | None, figure: Callable[[list[float]], float]) -> str:
    """One figure of two servers' mixed loads, each measured alone, as "a / b ms" (or "-")."""
    if not (mine and theirs and mine.light_ms and theirs.light_ms):
        return "-"
    return f"{figure(mine.light_ms):.1f} / {figure(theirs.light_ms):.1f} ms"


def frontend_targets(frontend: ServerRun, engine: ServerRun | None) -> None:
    """Issue 14's targets for a frontend, against the engine it fronts measured directly in the same run."""
    print(f"targets ({frontend.server} against {engine.server if engine else 'its engine, not measured'} in this run):")

    def say(name: str, met: bool, detail: str) -> None:
        print(f"  [{'met' if met else 'MISSED'}] {name}: {detail}")

    if frontend.paired_ms:
        for query, (mine, theirs) in frontend.paired_ms.items():
            bound = theirs * (1 + FRONTEND_FRACTION) + FRONTEND_MS
            say(f"{query} cold, in turns with the engine, <= engine's + 1 ms + 10%", mine <= bound,
                f"{mine:.1f} ms, bound {bound:.1f} ms (engine {theirs:.1f} ms asked as the frontend asks; "
                f"added {mine - theirs:+.1f} ms)")
            floors = [f"{label} {pair[0] - pair[1]:+.1f} ms" for label, figures in frontend.floor_ms.items()
                      if (pair := figures.get(query))]
            if floors:
                print(f"      the floor, a bare frontend in turns with the engine, adds: {', '.join(floors)}")
    elif engine is not None:
        for query in QUERIES:
            if query in frontend.errors or query in engine.errors:
                say(f"{query} cold <= engine's + 1 ms + 10%", False,
                    f"{frontend.errors.get(query) or 'answered'} / {engine.errors.get(query) or 'answered'}")
                continue
            base = engine.dataset_cold_ms.get(query, engine.cold_ms[query])
            bound = base * (1 + FRONTEND_FRACTION) + FRONTEND_MS
            added = frontend.cold_ms[query] - base
            asked = (f"; the engine {engine.cold_ms[query]:.1f} ms asked plainly, {base:.1f} ms with the dataset's "
                     "graphs named as the frontend must" if query in engine.dataset_cold_ms else "")
            say(f"{query} cold <= engine's + 1 ms + 10%", frontend.cold_ms[query] <= bound,
                f"{frontend.cold_ms[query]:.1f} ms, bound {bound:.1f} ms (added {added:+.1f} ms{asked})")
    parts = ", ".join(f"{name} {len(sizes)} x {sum(sizes) / len(sizes) / 2**20:.0f}" if len(sizes) > 1
                      else f"{name} {sizes[0] / 2**20:.0f}" for name, sizes in frontend.peak_parts.items())
    say(f"frontend memory (PSS, engine excluded) < {FRONTEND_MB:g} MB", frontend.peak_mb < FRONTEND_MB,
        f"{frontend.peak_mb:.0f} MB ({parts} MB)")
    if frontend.scaling is not None:
        scaling = frontend.scaling
        rounds = "; ".join(f"{two:.0f} / {one:.0f} req/s = {two / one:.2f}x" for one, two in scaling.rounds)
        say(f"two frontends >= {SCALING_TARGET:g}x one (repeated light mix, each pinned to its core; median of "
            f"{len(scaling.rounds)} rounds in turns)", scaling.ratio >= SCALING_TARGET, f"{scaling.ratio:.2f}x ({rounds})")
        for label, cpu in scaling.cpu.items():  # where the two cores went; the rest went to other programs
            rate = statistics.median(round_[0 if label == "one" else 1] for round_ in scaling.rounds)
            answers = rate * scaling.seconds
            print(f"    {label} frontend(s), CPU s over {scaling.seconds:g} s: "
                  + ", ".join(f"{name} {value:.1f}" for name, value in cpu.items())
                  + (f"; per answer: client {cpu['client'] / answers * 1000:.2f} ms, "
                     f"frontends {cpu['frontends'] / answers * 1000:.2f} ms" if answers else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--servers", nargs="*", default=["kgserver", "oxigraph", "rdflib-endpoint"])
    parser.add_argument("--cold-runs", type=int, default=COLD_RUNS)
    parser.add_argument("--warm-runs", type=int, default=WARM_RUNS)
    parser.add_argument("--no-bundled", action="store_true", help="skip the bundled graph")
    parser.add_argument("--mixed-seconds", type=float, default=MIXED_SECONDS, help="the mixed load's length (0: none)")
    parser.add_argument("--scaling-seconds", type=float, default=THROUGHPUT_SECONDS,
                        help="for a frontend, the length of each run of one frontend against two (0: none)")
    args = parser.parse_args()
    known = {"kgserver", "rdflib-endpoint", *ENGINES, *FRONTED}
    if unknown := [server for server in args.servers if server not in known]:
        parser.error(f"unknown server {', '.join(unknown)}: choose from {', '.join(sorted(known))}")
    with tempfile.TemporaryDirectory(prefix="kgserver-bench-sparql-") as tmp:
        scratch = Path(tmp)
        datasets = [] if args.no_bundled else [bundled_dataset(scratch)]
        datasets += [generated_dataset(scratch, size) for size in args.sizes]
        for dataset in datasets:
            engine_pool = Engines(dataset, scratch, args.servers)
            runs = []
            try:
                for server in args.servers:
                    runs.append(measure(server, dataset, scratch, args.cold_runs, args.warm_runs, args.mixed_seconds,
                                        engine_pool, args.scaling_seconds))
                    if server != "oxigraph" or "kgserver" not in args.servers:
                        engine_pool.done(server)
                if "kgserver" in args.servers and "oxigraph" in args.servers:
                    ours = next(run for run in runs if run.server == "kgserver")
                    ours.paired_ms, ours.paired_loads = paired_with_oxigraph(dataset, scratch, engine_pool,
                                                                             args.mixed_seconds)
                    engine_pool.done("oxigraph")
            finally:
                engine_pool.close()
            report(dataset, runs)


if __name__ == "__main__":
    main()
