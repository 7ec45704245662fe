"""Soak: `kgserver serve` under a mixed workload for a while, then proof that nothing was lost or changed.

It copies a built store (or builds one with `kgserver build` when no --store is given), creates a
curator, starts `kgserver serve` on loopback and runs --clients threads for --seconds, each picking
at random (seeded) among: simple SPARQL queries, the heavier queries of queries/, dereferencing
resource IRIs in several forms, dump downloads, /validate calls, submissions (distinct valid
additions, expected 201; invalid ones, expected 422) and a few runaway queries (a 4-way cross
product COUNT with `timeout=1`, whose 503 is expected and must arrive within the limit + 2 s).

It prints requests served, errors by kind (expected and unexpected), latency median and p99 per
kind, the peak RSS and PSS of the server's process tree and its CPU seconds; then checks that every
acknowledged (201) submission is in the store in full and that nothing else changed (the dump taken
at the start, plus the accepted additions and their records). The exit status is 1 if a check
fails: an unexpected error, a missing or partial submission, another change, or (unless
--no-latency-targets) simple queries slower than the targets (median 50 ms, p99 250 ms).

Run:  .venv/bin/python bench/soak.py                          # 60 s, 16 clients, a fresh build
      .venv/bin/python bench/soak.py --store var/store --seconds 10 --clients 8
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pyoxigraph import BlankNode, Quad, RdfFormat, parse

REPO = Path(__file__).resolve().parent.parent
BASE = "https://w3id.org/ldn-kg/"
FIXTURES = REPO / "tests" / "fixtures"
VALID = FIXTURES / "valid" / "claim-with-new-source.ttl"
SIMPLE_QUERIES = (
    "SELECT ?label WHERE { <https://w3id.org/ldn-kg/id/naltrexone> rdfs:label ?label }",
    "ASK { ?claim a ldn:EvidenceClaim }",
    "SELECT ?claim WHERE { ?claim ldn:aboutCondition ?c } LIMIT 10",
    "SELECT ?s ?label WHERE { ?s a ldn:Condition ; rdfs:label ?label } LIMIT 20",
    "SELECT (COUNT(*) AS ?n) WHERE { ?s ldn:stance ?o }",
    "SELECT ?p ?o WHERE { <https://w3id.org/ldn-kg/id/low-dose-naltrexone> ?p ?o } LIMIT 50",
)
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
RUNAWAY_TIMEOUT = 1.0
FORMS = ((".ttl", None), (".jsonld", None), (".nt", None), ("", "text/html"), ("", "application/rdf+xml"),
         ("", "text/turtle"))
# kind: weight
MIX = {"simple query": 40, "heavy query": 8, "resource": 22, "dump": 4, "validate": 8, "submit": 6,
       "submit invalid": 2, "runaway query": 1}


@dataclass
class Tally:
    """What the clients saw, shared by them under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    expected: Counter = field(default_factory=Counter)
    unexpected: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    accepted: dict[str, bytes] = field(default_factory=dict)  # submission graph -> the addition sent
    late_runaways: int = 0

    def record(self, kind: str, seconds: float, outcome: str | None = None, expected: bool = True,
               detail: str = "") -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if outcome is None:
                return
            if expected:
                self.expected[f"{kind}: {outcome}"] += 1
            else:
                self.unexpected[f"{kind}: {outcome}"] += 1
                if len(self.examples) < 10:
                    self.examples.append(f"{kind}: {outcome} {detail[:300]}")


def addition(n: int) -> bytes:
    """A valid addition of its own: the fixture's claim, source and authors renamed with `n`."""
    text = VALID.read_text(encoding="utf-8")
    for old, new in (("test-fibromyalgia-trial-results", f"soak-{n}-claim"), ("test-trial-report", f"soak-{n}-report"),
                     ("test-authors", f"soak-{n}-authors"), ("99999999", f"{80000000 + n}"),
                     ("PMC9999999", f"PMC{8000000 + n}")):
        text = text.replace(old, new)
    return text.encode()


class Client:
    """One researcher or curator: a keep-alive connection and a seeded choice of what to do next."""

    def __init__(self, number: int, port: int, token: str, tally: Tally, targets: dict, counter: list[int]) -> None:
        self.random = random.Random(number)
        self.port = port
        self.token = token
        self.tally = tally
        self.targets = targets
        self.counter = counter
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
        try:
            self.connection.request(method, path, body=body, headers=headers or {})
            response = self.connection.getresponse()
            return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            raise

    def sparql(self, query: str, timeout: float | None = None) -> tuple[int, bytes, dict[str, str]]:
        params = {"query": query} | ({"timeout": str(timeout)} if timeout else {})
        return self.request("POST", "/sparql", urllib.parse.urlencode(params).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded",
                             "Accept": "application/sparql-results+json"})

    def step(self) -> None:
        kind = self.random.choices(list(self.targets["mix"]), weights=list(self.targets["mix"].values()))[0]
        started = time.monotonic()
        try:
            outcome, expected, detail = getattr(self, "do_" + kind.replace(" ", "_"))()
        except (OSError, http.client.HTTPException) as error:
            outcome, expected, detail = f"connection error {type(error).__name__}", False, str(error)
        self.tally.record(kind, time.monotonic() - started, outcome, expected, detail)

    def do_simple_query(self) -> tuple[str | None, bool, str]:
        query = self.random.choice(SIMPLE_QUERIES)
        return self.judge(self.sparql(query), 200)

    def do_heavy_query(self) -> tuple[str | None, bool, str]:
        return self.judge(self.sparql(self.random.choice(self.targets["queries"])), 200)

    def do_resource(self) -> tuple[str | None, bool, str]:
        iri = self.random.choice(self.targets["resources"])
        suffix, accept = self.random.choice(FORMS)
        path = "/" + urllib.parse.quote(iri.removeprefix(BASE), safe="/:@!$&'()*+,;=-._~")
        return self.judge(self.request("GET", path + suffix, headers={"Accept": accept} if accept else {}), 200)

    def do_dump(self) -> tuple[str | None, bool, str]:
        status, body, _ = self.request("GET", "/dumps", headers={"Accept": "text/html"})
        if status != 200:
            return f"listing {status}", False, body.decode(errors="replace")
        name = self.random.choice(re.findall(r"/dumps/([\w.-]+\.gz)", body.decode()))
        status, body, headers = self.request("GET", f"/dumps/{name}")
        if status == 404 and b"current" in body:
            return "404 version moved on between listing and download", True, ""
        if status == 200 and int(headers.get("content-length", -1)) != len(body):
            return "truncated dump", False, name
        return self.judge((status, body, headers), 200)

    def do_validate(self) -> tuple[str | None, bool, str]:
        body = addition(self.random.randrange(1_000_000, 2_000_000))
        return self.judge(self.request("POST", "/validate", body, {"Content-Type": "text/turtle"}), 200)

    def do_submit(self) -> tuple[str | None, bool, str]:
        with self.tally.lock:
            self.counter[0] += 1
            n = self.counter[0]
        body = addition(n)
        status, answer, headers = self.request("POST", "/submissions", body, self.curator_headers())
        if status == 201:
            with self.tally.lock:
                self.tally.accepted[json.loads(answer)["graph"]] = body
        return self.judge((status, answer, headers), 201)

    def do_submit_invalid(self) -> tuple[str | None, bool, str]:
        body = self.random.choice(self.targets["invalid"])
        status, answer, headers = self.request("POST", "/submissions", body, self.curator_headers())
        return ("422 as expected", True, "") if status == 422 else self.judge((status, answer, headers), 422)

    def do_runaway_query(self) -> tuple[str | None, bool, str]:
        started = time.monotonic()
        status, body, _ = self.sparql(RUNAWAY + f" # {self.random.random()}", timeout=RUNAWAY_TIMEOUT)
        took = time.monotonic() - started
        if took > RUNAWAY_TIMEOUT + 2:
            with self.tally.lock:
                self.tally.late_runaways += 1
            return f"answered after {took:.1f} s", False, ""
        if status == 503 and b"time limit" in body:
            return "503 time limit, as expected", True, ""
        return self.judge((status, body, {}), 503)

    def curator_headers(self) -> dict[str, str]:
        return {"Content-Type": "text/turtle", "Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    @staticmethod
    def judge(answer: tuple[int, bytes, dict[str, str]], wanted: int) -> tuple[str | None, bool, str]:
        status, body, _ = answer
        if status == wanted:
            return None, True, ""
        return f"status {status}", False, body[:300].decode(errors="replace")


# --------------------------------------------------------------------------------------------
# The server, its memory and CPU
# --------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tree(pid: int) -> list[int]:
    """The process and every descendant."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children[int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])].append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    found, pending = [pid], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def memory_kib(pids: list[int]) -> tuple[int, int]:
    """RSS and PSS of the processes, in KiB (PSS shares pages fairly between processes)."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            continue
    return rss, pss


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU of the processes and of their children already reaped."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / ticks


class Sampler(threading.Thread):
    """Peak RSS and PSS of the server's process tree, sampled every half second; CPU at the end."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_rss = self.peak_pss = 0
        self.cpu = 0.0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            pids = tree(self.pid)
            rss, pss = memory_kib(pids)
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.cpu = max(self.cpu, cpu_seconds(pids))
            self.stopping.wait(0.5)


def kgserver(*args: str) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).parent / "kgserver"
    return subprocess.run([str(executable), *args], capture_output=True, text=True, check=False,
                          env={**os.environ, "LDNKG_ROOT": os.environ.get("LDNKG_ROOT", str(REPO))})


def start_server(store: Path, log: Path, port: int, flags: list[str]) -> subprocess.Popen:
    executable = Path(sys.executable).parent / "kgserver"
    with log.open("w") as output:
        process = subprocess.Popen(
            # the soak's threads are one client to the checker's budget (one address, agent and token): it tests the
            # server under load, not the shares of clients (tests/test_hostile_payloads.py does)
            [str(executable), "serve", "--store", str(store), "--host", "127.0.0.1", "--port", str(port),
             "--threads", "16", "--check-budget", "0", *flags],
            stdout=subprocess.DEVNULL, stderr=output,
            env={**os.environ, "LDNKG_ROOT": os.environ.get("LDNKG_ROOT", str(REPO))},
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"soak: kgserver serve exited:\n{log.read_text()}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    sys.exit("soak: the server did not become healthy within 60 s")


# --------------------------------------------------------------------------------------------
# The store before and after
# --------------------------------------------------------------------------------------------
def get(port: int, path: str, accept: str = "*/*") -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request("GET", path, headers={"Accept": accept})
    response = connection.getresponse()
    return response.status, response.read()


def dump_quads(port: int) -> dict[str, set[str]]:
    """The whole-dataset N-Quads dump of the current version: per graph, its quads without blank nodes
    (their labels differ between dumps) and a count line for those with them."""
    status, listing = get(port, "/dumps", "text/html")
    name = re.search(r"/dumps/(ldn-kg-v\d+\.nq\.gz)", listing.decode()).group(1)
    status, body = get(port, f"/dumps/{name}")
    assert status == 200, body[:300]
    graphs: dict[str, set[str]] = defaultdict(set)
    blank: Counter = Counter()
    for quad in parse(gzip.decompress(body), RdfFormat.N_QUADS):
        graph = str(quad.graph_name.value) if hasattr(quad.graph_name, "value") else ""
        if isinstance(quad.subject, BlankNode) or isinstance(quad.object, BlankNode):
            blank[graph] += 1
        else:
            graphs[graph].add(str(Quad(quad.subject, quad.predicate, quad.object)))
    for graph, count in blank.items():
        graphs[graph].add(f"blank-node triples: {count}")
    return dict(graphs)


def addition_triples(body: bytes) -> set[str]:
    return {str(Quad(t.subject, t.predicate, t.object)) for t in parse(body, RdfFormat.TURTLE, base_iri=BASE)}


def check_end(before: dict[str, set[str]], after: dict[str, set[str]], accepted: dict[str, bytes]) -> list[str]:
    """What is wrong with the store at the end: missing or partial submissions, anything else changed."""
    problems = []
    for graph, body in accepted.items():
        held = after.get(graph)
        if held is None:
            problems.append(f"acknowledged submission missing: {graph}")
        elif not addition_triples(body) <= held:
            problems.append(f"acknowledged submission partial: {graph}")
    record_of = {graph.replace("/graph/submission/", "/graph/record/") for graph in accepted}
    for graph in set(before) | set(after):
        if graph in accepted or graph in record_of or graph == f"{BASE}graph/meta":
            continue
        if before.get(graph) != after.get(graph):
            problems.append(f"graph changed that no accepted submission explains: {graph}")
    return problems


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, help="a built store to copy (default: build one now)")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--no-latency-targets", action="store_true", help="do not fail on the latency targets")
    parser.add_argument(
        "--query-workers", type=int, default=0,
        help="query processes the server keeps (default: the server's own default)",
    )
    parser.add_argument("--no-curation", action="store_true", help="readers only: no /validate, no submissions")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ldnkg-soak-"))
    outcome = 1
    try:
        store = work / "store"
        if options.store:
            shutil.copytree(options.store, store)
        else:
            built = kgserver("build", "--store", str(store))
            if built.returncode != 0:
                sys.exit(f"soak: kgserver build failed:\n{built.stderr}")
        made = kgserver("curator", "add", "soak", "--store", str(store))
        if made.returncode != 0:
            sys.exit(f"soak: kgserver curator add failed:\n{made.stderr}")
        token = made.stdout.strip().splitlines()[-1]
        port = free_port()
        flags = ["--query-workers", str(options.query_workers)] if options.query_workers else []
        server = start_server(store, work / "serve.log", port, flags)
        try:
            outcome = run(options, port, token, server.pid)
        finally:
            server.terminate()
            server.wait(30)
    finally:
        if outcome == 0:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"soak: the server's log is kept in {work / 'serve.log'}")
    return outcome


def run(options: argparse.Namespace, port: int, token: str, pid: int) -> int:
    before = dump_quads(port)
    _, found = get(port, "/sparql?" + urllib.parse.urlencode(
        {"query": f"SELECT DISTINCT ?s WHERE {{ ?s ?p ?o FILTER(STRSTARTS(STR(?s), '{BASE}id/')) }} LIMIT 300"}),
        "application/sparql-results+json")
    targets = {
        "resources": [row["s"]["value"] for row in json.loads(found)["results"]["bindings"]],
        "queries": [path.read_text() for path in sorted((REPO / "queries").glob("*.rq"))],
        "invalid": [path.read_bytes() for path in sorted((FIXTURES / "invalid").glob("*.ttl"))[:8]],
        "mix": {kind: weight for kind, weight in MIX.items()
                if not (options.no_curation and kind in ("validate", "submit", "submit invalid"))},
    }
    tally = Tally()
    sampler = Sampler(pid)
    sampler.start()
    counter = [0]
    deadline = time.monotonic() + options.seconds

    def client(number: int) -> None:
        worker = Client(number, port, token, tally, targets, counter)
        while time.monotonic() < deadline:
            worker.step()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(number,)) for number in range(options.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    sampler.stopping.set()
    sampler.join()

    after = dump_quads(port)
    problems = check_end(before, after, tally.accepted)
    missing = [problem for problem in problems if "acknowledged" in problem]
    served = sum(len(values) for values in tally.latencies.values())
    unexpected = sum(tally.unexpected.values())

    print(f"soak: {options.clients} clients for {elapsed:.1f} s")
    print(f"requests served: {served} ({served / elapsed:.0f}/s)")
    print(f"expected errors: {sum(tally.expected.values())}")
    for outcome, count in sorted(tally.expected.items()):
        print(f"  {count:6d}  {outcome}")
    print(f"unexpected errors: {unexpected}")
    for outcome, count in sorted(tally.unexpected.items()):
        print(f"  {count:6d}  {outcome}")
    for example in tally.examples:
        print(f"    e.g. {example}")
    print(f"{'kind':16s} {'count':>7s} {'median ms':>10s} {'p99 ms':>8s}")
    for kind in MIX:
        values = tally.latencies.get(kind, [])
        if values:
            print(f"{kind:16s} {len(values):7d} {statistics.median(values) * 1000:10.1f} "
                  f"{percentile(values, 0.99) * 1000:8.1f}")
    print(f"server peak RSS: {sampler.peak_rss / 1024:.0f} MiB, peak PSS: {sampler.peak_pss / 1024:.0f} MiB "
          f"(process tree), CPU: {sampler.cpu:.1f} s")
    print(f"submissions accepted: {len(tally.accepted)}")
    print(f"acknowledged submissions missing: {len(missing)}")
    print(f"other changes: {len(problems) - len(missing)}")
    for problem in problems:
        print(f"  {problem}")

    failed = bool(unexpected or problems or tally.late_runaways)
    simple = tally.latencies.get("simple query", [])
    if simple and not options.no_latency_targets:
        median, p99 = statistics.median(simple) * 1000, percentile(simple, 0.99) * 1000
        on_target = median < 50 and p99 < 250
        print(f"simple-query targets (median < 50 ms, p99 < 250 ms): {'met' if on_target else 'MISSED'}")
        failed |= not on_target
    print("soak: FAILED" if failed else "soak: passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
