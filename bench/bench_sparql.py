"""A researcher query mix against kgserver, Oxigraph's own server and rdflib-endpoint, side by side.

Each server is loaded with the same data, left to settle until its processes are idle, and
asked the same ten queries over HTTP. For each dataset (the bundled graph, and generated
graphs of about 100k and 1M triples) it prints the load time, every query's cold median
latency (each run's text differs by a comment, so no result cache can answer it), the
repeated-query median (the same text again), throughput under 8 concurrent clients, and the
peak memory of the server's process tree.

Run:  .venv/bin/pip install -e '.[bench]'
      .venv/bin/python bench/bench_sparql.py                 # bundled, 100k and 1M
      .venv/bin/python bench/bench_sparql.py --sizes 100000  # a quicker run
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
CLIENTS = 8
THROUGHPUT_SECONDS = 10.0
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
    "large result": "SELECT ?c ?label WHERE {{ ?c a ldn:EvidenceClaim ; rdfs:label ?label }} LIMIT 10000",
    "ASK": "ASK {{ ?c ldn:aboutCondition <{condition}> ; ldn:stance ldn:Supports }}",
}

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


@dataclass
class ServerRun:
    """What one server did on one dataset."""

    server: str
    load_seconds: float
    cold_ms: dict[str, float] = field(default_factory=dict)
    warm_ms: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)
    throughput: float = 0.0
    peak_mb: float = 0.0


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
                   path, written, f"{ID}syn/claim-{claim // 2}", f"{ID}syn/condition-1")


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


def median_ms(runs: int, action: Callable[[int], object]) -> float:
    timings = []
    for run in range(runs):
        started = time.perf_counter()
        action(run)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def throughput(url: str, queries: list[str]) -> float:
    """Requests per second that 8 clients get through, each looping over the cheap queries."""
    deadline = time.monotonic() + THROUGHPUT_SECONDS
    done = [0] * CLIENTS

    def client(index: int) -> None:
        position = index
        while time.monotonic() < deadline:
            ask(url, queries[position % len(queries)])
            done[index] += 1
            position += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    return sum(done) / (time.perf_counter() - started)


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


def measure(server: str, dataset: Dataset, scratch: Path, cold_runs: int, warm_runs: int) -> ServerRun:
    print(f"{server} {dataset.name}: loading", file=sys.stderr, flush=True)
    with running(server, dataset, scratch) as (url, process, load):
        memory = PeakMemory(process.pid)
        run = ServerRun(server, load)
        texts = {name: PREFIXES + template.format(claim=dataset.claim, condition=dataset.condition)
                 for name, template in QUERIES.items()}
        for name, text in texts.items():
            print(f"  {server} {dataset.name}: {name}", file=sys.stderr, flush=True)
            try:
                run.cold_ms[name] = median_ms(cold_runs, lambda n, t=text: ask(url, f"{t}\n# cold run {n} {time.time_ns()}"))
                run.answers[name] = ask(url, text)
                run.warm_ms[name] = median_ms(warm_runs, lambda n, t=text: ask(url, t))
            except (OSError, urllib.error.URLError, ValueError) as error:
                run.errors[name] = type(error).__name__
        cheap = [texts[n] for n in ("entity lookup", "star join", "aggregation", "ASK") if n not in run.errors]
        run.throughput = throughput(url, cheap) if cheap else 0.0
        run.peak_mb = memory.stop()
        return run


# ------------------------------------------------------------------------------- report

def report(dataset: Dataset, runs: list[ServerRun]) -> None:
    print(f"\n== {dataset.name}: {dataset.triples:,} triples")
    names = [r.server for r in runs]
    print(f"{'':24}" + "".join(f"{n:>18}" for n in names))
    print(f"{'load (s)':24}" + "".join(f"{r.load_seconds:>18.2f}" for r in runs))
    for query in QUERIES:
        cells = [r.errors.get(query) or f"{r.cold_ms[query]:.1f}" for r in runs]
        print(f"{query + ' cold ms':24}" + "".join(f"{c:>18}" for c in cells))
    for query in QUERIES:
        cells = [r.errors.get(query) or f"{r.warm_ms[query]:.1f}" for r in runs]
        print(f"{query + ' repeat ms':24}" + "".join(f"{c:>18}" for c in cells))
    print(f"{'throughput (req/s, 8)':24}" + "".join(f"{r.throughput:>18.1f}" for r in runs))
    for query in QUERIES:
        answers = {r.answers.get(query) for r in runs if query in r.answers}
        if len(answers) > 1:
            print(f"!! {query}: the servers disagree: " + ", ".join(f"{r.server}={r.answers.get(query)}" for r in runs))
    print(f"{'peak memory PSS (MB)':24}" + "".join(f"{r.peak_mb:>18.0f}" for r in runs))
    ours = next(r for r in runs if r.server == "kgserver")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--servers", nargs="*", default=["kgserver", "oxigraph", "rdflib-endpoint"])
    parser.add_argument("--cold-runs", type=int, default=COLD_RUNS)
    parser.add_argument("--warm-runs", type=int, default=WARM_RUNS)
    parser.add_argument("--no-bundled", action="store_true", help="skip the bundled graph")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kgserver-bench-sparql-") as tmp:
        scratch = Path(tmp)
        datasets = [] if args.no_bundled else [bundled_dataset(scratch)]
        datasets += [generated_dataset(scratch, size) for size in args.sizes]
        for dataset in datasets:
            report(dataset, [measure(server, dataset, scratch, args.cold_runs, args.warm_runs) for server in args.servers])


if __name__ == "__main__":
    main()
