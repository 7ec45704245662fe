"""Linked data serving: resource dereference latency, VoID latency, dump throughput, a full feed harvest.

For the bundled graph (built with `kgserver build`) and generated graphs (the SPARQL bench's
generator, loaded as it loads them), it starts `kgserver serve` with an empty dump directory
and prints:
- dereference latency (median, p99) over a few hundred GETs of resource IRIs (/id/...),
  as Turtle and as HTML;
- VoID latency, cold (statistics computed and every dump written: once per version) and warm;
- dump throughput in MB/s of the gzip file: cold (the first request writes the file) and warm
  (streamed from disk), for the whole dataset as N-Quads and as Turtle;
- the time to harvest the whole change feed from /changes?since=0.

Run:  .venv/bin/python bench/bench_linked_data.py                  # bundled and 1M
      .venv/bin/python bench/bench_linked_data.py --sizes 100000   # a quicker run
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyoxigraph

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sparql import (  # the SPARQL bench's generator and store layout
    BASE,
    BIN,
    ID,
    ROOT,
    build_kgserver_store,
    free_port,
    generated_dataset,
    start,
    stop,
    wait_ready,
)

DEREFERENCES = 300
WARM_DOWNLOADS = 5
TIMEOUT = 900.0


def get(url: str, accept: str = "*/*") -> tuple[int, bytes, dict[str, str]]:
    """One GET; the status, body and headers (error statuses included)."""
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, response.read(), dict(response.headers.items())
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers.items())


def timed(action: Callable[[], object]) -> float:
    """Seconds `action` takes."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@contextmanager
def serving(store: Path, scratch: Path) -> Iterator[str]:
    """`kgserver serve` on the store with an empty dump directory, until the block ends."""
    port = free_port()
    dump_dir = scratch / f"dumps-{store.name}"
    shutil.rmtree(dump_dir, ignore_errors=True)
    process = start([str(BIN / "kgserver"), "serve", "--store", str(store), "--host", "127.0.0.1",
                     "--port", str(port), "--workers", "1", "--threads", "8"],
                    env={"LDNKG_DUMP_DIR": str(dump_dir), "LDNKG_ROOT": str(ROOT)})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{base}/sparql", process)
        yield base
    finally:
        stop(process)


def resource_paths(store: Path, count: int) -> list[str]:
    """Paths (/id/...) of `count` resources the store describes, picked at random."""
    handle = pyoxigraph.Store.read_only(str(store))
    result = handle.query(f'SELECT DISTINCT ?s WHERE {{ GRAPH ?g {{ ?s ?p ?o }} FILTER STRSTARTS(STR(?s), "{ID}") }} LIMIT 200000')
    subjects = [solution["s"].value for solution in result]
    del handle
    rng = random.Random(11)
    return ["/" + iri.removeprefix(BASE) for iri in rng.choices(subjects, k=count)] if subjects else []


def dereference(base: str, paths: list[str]) -> None:
    for label, accept in (("Turtle", "text/turtle"), ("HTML", "text/html")):
        timings, statuses = [], set()
        for path in paths:
            started = time.perf_counter()
            status, _, _ = get(base + urllib.parse.quote(path, safe="/:#"), accept)
            timings.append(time.perf_counter() - started)
            statuses.add(status)
        if statuses != {200}:
            print(f"  dereference {label:6}  statuses {sorted(statuses)} (is the resource route there?)")
        print(f"  dereference {label:6}  median {statistics.median(timings) * 1000:7.2f} ms"
              f"   p99 {percentile(timings, 0.99) * 1000:7.2f} ms   ({len(paths)} GETs)")


def void_and_dumps(base: str) -> None:
    cold = timed(lambda: get(f"{base}/.well-known/void", "text/turtle"))
    warm = statistics.median(timed(lambda: get(f"{base}/.well-known/void", "text/turtle")) for _ in range(5))
    print(f"  VoID            cold {cold * 1000:9.1f} ms (stats + all dumps)   warm {warm * 1000:7.2f} ms")
    _, listing, _ = get(f"{base}/dumps", "text/html")
    for name in re.findall(r'href="/dumps/(ldn-kg-v\d+\.(?:nq|ttl)\.gz)"', listing.decode()):
        size = len(get(f"{base}/dumps/{name}")[1])
        runs = [timed(lambda name=name: get(f"{base}/dumps/{name}")) for _ in range(WARM_DOWNLOADS)]
        print(f"  dump {name:20} {size / 1e6:8.2f} MB   warm {size / 1e6 / statistics.median(runs):8.1f} MB/s")


def cold_dumps(base: str) -> None:
    """First requests with nothing cached: the request writes the file, then streams it."""
    _status, body, _ = get(f"{base}/dumps/ldn-kg-v0.nq.gz")
    current = re.search(r"/dumps/ldn-kg-v(\d+)", body.decode()).group(1)
    for extension in ("nq", "ttl"):
        name = f"ldn-kg-v{current}.{extension}.gz"
        seconds = timed(lambda name=name: get(f"{base}/dumps/{name}"))
        size = len(get(f"{base}/dumps/{name}")[1])
        print(f"  dump {name:20} {size / 1e6:8.2f} MB   cold {size / 1e6 / seconds:8.1f} MB/s ({seconds:.2f} s)")


def harvest(base: str) -> None:
    """Read every page of the feed from the start, as a new harvester does."""
    started, pages, size = time.perf_counter(), 0, 0
    queue = [f"{base}/changes?since=0"]
    while queue:
        _status, body, _ = get(queue.pop(0), "application/n-quads")
        pages, size = pages + 1, size + len(body)
        text = body.decode()
        queue += [f"{base}/{iri.removeprefix(BASE)}" for iri in
                  re.findall(r"<https://w3id.org/tree#node> <([^>]+)>", text)]
    print(f"  feed harvest    {time.perf_counter() - started:7.2f} s, {pages} pages, {size / 1e6:.1f} MB of N-Quads")


def bench(name: str, store: Path, scratch: Path) -> None:
    print(f"\n== {name}")
    paths = resource_paths(store, DEREFERENCES)
    with serving(store, scratch) as base:
        cold_dumps(base)
        void_and_dumps(base)
        dereference(base, paths)
        harvest(base)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--no-bundled", action="store_true", help="skip the bundled graph")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kgserver-bench-ld-") as tmp:
        scratch = Path(tmp)
        if not args.no_bundled:
            store = scratch / "bundled"
            subprocess.run([str(BIN / "kgserver"), "build", "--store", str(store)], check=True,
                           stdout=subprocess.DEVNULL, env={"LDNKG_ROOT": str(ROOT), "PATH": str(BIN) + ":/usr/bin:/bin"})
            bench("bundled graph", store, scratch)
        for size in args.sizes:
            dataset = generated_dataset(scratch, size)
            store = scratch / f"generated-{dataset.name}"
            build_kgserver_store(dataset, store)
            bench(f"generated, {dataset.triples} triples", store, scratch)


if __name__ == "__main__":
    main()
