"""A researcher query mix against kgserver, Oxigraph's own server and rdflib-endpoint, side by side.

Each server is loaded with the same data, left to settle until its processes are idle, and
asked the same queries over HTTP. For each dataset (the bundled graph, and generated graphs
of about 100k and 1M triples) it prints:

- the load time;
- every query's cold median latency (each run's text differs by a comment, so no result
  cache can answer it) and repeated-query median (the same text again); a query whose first
  cold run takes over 2 s gets 3 cold runs and 2 repeats;
- throughput under 8 concurrent clients of the light mix (entity lookup, star join,
  aggregation, ASK), twice: every request's text unique ("cold": other IRIs, and a comment
  with a counter), and the same few texts again ("repeated");
- a mixed load: 8 clients for 30 s, two sending a legitimate query that takes seconds on
  every engine (the pairs of claims about the same condition, over a random set of
  conditions) and six sending the light mix, every text unique: light queries answered,
  their median and p99, how many were refused (503, 429) or failed, and the heavy queries'
  outcomes;
- the peak memory (PSS) of the server's process tree.

Each dataset ends with the targets of the fair-scheduling work, as ratios to Oxigraph's
server in the same run.

Run:  .venv/bin/pip install -e '.[bench]'
      .venv/bin/python bench/bench_sparql.py                 # bundled, 100k and 1M
      .venv/bin/python bench/bench_sparql.py --sizes 100000  # a quicker run
      .venv/bin/python bench/bench_sparql.py --sizes 1000000 --no-bundled --servers kgserver oxigraph
"""

from __future__ import annotations

import argparse
import json
import os
import random
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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pyoxigraph
from rdflib import Graph

from kgserver import changes
from kgserver.config import Settings

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
SLOW_MS = 2000.0  # a query whose first cold run is slower gets SLOW_RUNS runs of each kind
SLOW_RUNS = (3, 2)
CLIENTS = 8
THROUGHPUT_SECONDS = 10.0
MIXED_SECONDS = 30.0
HEAVY_CLIENTS = 2
REQUEST_TIMEOUT = 120.0

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
    warm_ms: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)
    throughput: float = 0.0  # the light mix, the same texts again
    cold_throughput: float = 0.0  # the light mix, every text unique
    mixed: MixedRun | None = None
    peak_mb: float = 0.0


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
    """A store laid out as `kgserver build` lays it out: the data graph plus its change record."""
    store = pyoxigraph.Store(str(location))
    store.bulk_load(path=str(dataset.path), format=pyoxigraph.RdfFormat.N_TRIPLES,
                    to_graph=pyoxigraph.NamedNode(DATA_GRAPH))
    changes.record_loaded(store, Settings.from_env(), [DATA_GRAPH])
    store.flush()
    del store


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


def settle(process: subprocess.Popen[bytes], quiet_cpu_seconds: float = 0.02, limit: float = 60.0) -> None:
    """Wait until the server's process tree is idle (under 20 ms of CPU in half a second).

    A server may still be warming up when it first answers (kgserver starts its reasoner's
    JVM in the background); measuring then would time the warm-up, not the queries.
    """
    root = psutil.Process(process.pid)

    def cpu() -> float:
        total = 0.0
        for member in [root, *root.children(recursive=True)]:
            try:
                times = member.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        return total

    deadline = time.monotonic() + limit
    before = cpu()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu()
        if now - before < quiet_cpu_seconds:
            return
        before = now


@contextmanager
def running(server: str, dataset: Dataset, scratch: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], float]]:
    """Load `dataset` into `server`, start it, and yield its endpoint, process and load time."""
    port = free_port()
    path = {"kgserver": "/sparql", "oxigraph": "/query", "rdflib-endpoint": "/"}[server]
    url = f"http://127.0.0.1:{port}{path}"
    location = scratch / f"{server}-{dataset.name}"
    shutil.rmtree(location, ignore_errors=True)
    started = time.perf_counter()
    if server == "kgserver":
        build_kgserver_store(dataset, location)
        load = time.perf_counter() - started
        process = start([str(BIN / "kgserver"), "serve", "--store", str(location),
                         "--host", "127.0.0.1", "--port", str(port)])
    elif server == "oxigraph":
        subprocess.run([str(BIN / "oxigraph"), "load", "--location", str(location), "--file", str(dataset.path),
                        "--graph", DATA_GRAPH],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        load = time.perf_counter() - started
        process = start([str(BIN / "oxigraph"), "serve-read-only", "--location", str(location),
                         "--bind", f"127.0.0.1:{port}", "--union-default-graph"])
    else:  # rdflib-endpoint parses the file into memory when it starts: that is its load
        process = start([str(BIN / "rdflib-endpoint"), "serve", str(dataset.path),
                         "--host", "127.0.0.1", "--port", str(port)])
        wait_ready(url, process)
        load = time.perf_counter() - started
    try:
        wait_ready(url, process)
        settle(process)
        yield url, process, load
    finally:
        stop(process)
        shutil.rmtree(location, ignore_errors=True)


# ------------------------------------------------------------------------------- queries

def ask(url: str, query: str, timeout: float = REQUEST_TIMEOUT) -> str:
    """One GET per the SPARQL Protocol, asking for SPARQL JSON; returns the answer's gist."""
    request = urllib.request.Request(f"{url}?{urllib.parse.urlencode({'query': query})}",
                                     headers={"Accept": "application/sparql-results+json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        result = json.loads(response.read())
    if "boolean" in result:
        return str(result["boolean"]).lower()
    return f"{len(result['results']['bindings'])} rows"


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
    except (TimeoutError, socket.timeout):
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


def throughput(url: str, text: Callable[[int], str]) -> float:
    """Requests per second that 8 clients get through, each sending `text(position)` in turn."""
    deadline = time.monotonic() + THROUGHPUT_SECONDS
    done = [0] * CLIENTS

    def client(index: int) -> None:
        position = index
        while time.monotonic() < deadline:
            ask(url, text(position))
            done[index] += 1
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


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


class PeakMemory:
    """Samples the memory of a process and its children in the background.

    It adds up PSS (proportional set size), so pages that forked workers share with their
    parent are counted once, not once per process as RSS would count them. Reading PSS walks
    each process's page tables (about 1 ms a process here), so it samples twice a second: at
    ten a second it took CPU from the server it measured.
    """

    def __init__(self, pid: int) -> None:
        self.peak = 0
        self._process = psutil.Process(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                tree = [self._process, *self._process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_full_info().pss for p in tree))
            except psutil.Error:
                pass
            self._stop.wait(0.5)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 2**20


def measure(server: str, dataset: Dataset, scratch: Path, cold_runs: int, warm_runs: int,
            mixed_seconds: float) -> ServerRun:
    print(f"{server} {dataset.name}: loading", file=sys.stderr, flush=True)
    with running(server, dataset, scratch) as (url, process, load):
        memory = PeakMemory(process.pid)
        run = ServerRun(server, load)
        texts = {name: PREFIXES + template.format(claim=dataset.claim, condition=dataset.condition)
                 for name, template in QUERIES.items()}
        for name, text in texts.items():
            print(f"  {server} {dataset.name}: {name}", file=sys.stderr, flush=True)
            try:
                def cold(n: int, t: str = text) -> str:
                    return ask(url, f"{t}\n# cold run {n} {time.time_ns()}")

                first = median_ms(1, cold)
                colds, warms = SLOW_RUNS if first > SLOW_MS else (cold_runs, warm_runs)
                run.cold_ms[name] = statistics.median([first] + [median_ms(1, cold) for _ in range(colds - 1)])
                run.answers[name] = ask(url, text)
                run.warm_ms[name] = median_ms(warms, lambda n, t=text: ask(url, t))
            except (OSError, urllib.error.URLError, ValueError) as error:
                run.errors[name] = type(error).__name__
        unique = Texts(dataset, seed=11)
        if not any(name in run.errors for name in LIGHT):
            print(f"  {server} {dataset.name}: throughput", file=sys.stderr, flush=True)
            run.throughput = throughput(url, lambda n: texts[LIGHT[n % len(LIGHT)]])
            run.cold_throughput = throughput(url, unique.light)
        if mixed_seconds > 0:
            print(f"  {server} {dataset.name}: mixed load", file=sys.stderr, flush=True)
            run.mixed = mixed_load(url, unique, mixed_seconds)
        run.peak_mb = memory.stop()
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
    for query in QUERIES:
        row(query + " repeat ms", [r.errors.get(query) or f"{r.warm_ms[query]:.1f}" for r in runs])
    row("light mix req/s, repeated", [f"{r.throughput:.1f}" for r in runs])
    row("light mix req/s, cold", [f"{r.cold_throughput:.1f}" for r in runs])
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
    for query in QUERIES:
        answers = {r.answers.get(query) for r in runs if query in r.answers}
        if len(answers) > 1:
            print(f"!! {query}: the servers disagree: " + ", ".join(f"{r.server}={r.answers.get(query)}" for r in runs))
    row("peak memory PSS (MB)", [f"{r.peak_mb:.0f}" for r in runs])
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
        targets(ours, oxigraph)


def targets(ours: ServerRun, oxigraph: ServerRun) -> None:
    """The fair-scheduling targets, as ratios to Oxigraph's server in the same run."""
    print("targets (against oxigraph in this run):")

    def say(name: str, met: bool, detail: str) -> None:
        print(f"  [{'met' if met else 'MISSED'}] {name}: {detail}")

    if ours.mixed and oxigraph.mixed and ours.mixed.light_ms and oxigraph.mixed.light_ms:
        refused = sum(n for k, n in ours.mixed.light_status.items() if k in ("503", "429"))
        say("mixed load, no light query gets 503 or 429", refused == 0, f"{refused} refused")
        mine, theirs = statistics.median(ours.mixed.light_ms), statistics.median(oxigraph.mixed.light_ms)
        say("mixed load, light median <= 1.5x", mine <= 1.5 * theirs, f"{mine:.1f} / {theirs:.1f} ms = {mine / theirs:.2f}x")
        mine, theirs = percentile(ours.mixed.light_ms, 0.99), percentile(oxigraph.mixed.light_ms, 0.99)
        say("mixed load, light p99 <= oxigraph's", mine <= theirs, f"{mine:.1f} / {theirs:.1f} ms")
    if oxigraph.cold_throughput:
        ratio = ours.cold_throughput / oxigraph.cold_throughput
        say("light mix cold throughput >= 0.8x", ratio >= 0.8,
            f"{ours.cold_throughput:.1f} / {oxigraph.cold_throughput:.1f} req/s = {ratio:.2f}x")
    for query, limit in (("one-key page", 500.0), ("one-key deep page", 2000.0)):
        if query in ours.cold_ms:
            say(f"{query} under {limit / 1000:g} s", ours.cold_ms[query] < limit,
                f"{ours.cold_ms[query]:.0f} ms (oxigraph {oxigraph.cold_ms.get(query, float('nan')):.0f} ms)")
    for query in QUERIES:
        if query in ours.cold_ms and query in oxigraph.cold_ms and oxigraph.cold_ms[query] < 1000:
            bound = 1.5 * oxigraph.cold_ms[query] + 1.0
            say(f"{query} cold <= 1.5x + 1 ms", ours.cold_ms[query] <= bound,
                f"{ours.cold_ms[query]:.1f} ms, bound {bound:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--servers", nargs="*", default=["kgserver", "oxigraph", "rdflib-endpoint"])
    parser.add_argument("--cold-runs", type=int, default=COLD_RUNS)
    parser.add_argument("--warm-runs", type=int, default=WARM_RUNS)
    parser.add_argument("--no-bundled", action="store_true", help="skip the bundled graph")
    parser.add_argument("--mixed-seconds", type=float, default=MIXED_SECONDS, help="the mixed load's length (0: none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kgserver-bench-sparql-") as tmp:
        scratch = Path(tmp)
        datasets = [] if args.no_bundled else [bundled_dataset(scratch)]
        datasets += [generated_dataset(scratch, size) for size in args.sizes]
        for dataset in datasets:
            report(dataset, [measure(server, dataset, scratch, args.cold_runs, args.warm_runs, args.mixed_seconds)
                             for server in args.servers])


if __name__ == "__main__":
    main()
