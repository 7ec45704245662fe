"""The memory a server holds while it answers one large query, under a row cap raised to let the answer through whole.

A query's head counts its rows, so the whole answer is held until its last row is read; it is
held in a spool (kgserver/spool.py), in memory up to 4 MB and on disk past it. For each
server it prints the answer's size and time and the peak PSS of the server's process tree
(sampled every 20 ms: the web process and its query processes; a frontend's alone, not its
engine's) over the idle figure:

- `kgserver`: `kgserver serve --store DIR`, the embedded store, the answer serialised by a query process;
- `kgserver-oxigraph`: `kgserver serve --engine oxigraph`, in front of Oxigraph's server,
  the engine's JSON counted and sent on (a query thread of the web process).

Run:  .venv/bin/python bench/bench_large_answer.py                      # 1M triples, a 1M-row answer
      .venv/bin/python bench/bench_large_answer.py --size 100000 --rows 100000 200000
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import bench_sparql
import engines
import psutil

ACCEPT = "application/sparql-results+json"
SAMPLE_SECONDS = 0.02


def tree_pss_mb(pid: int) -> float:
    """The PSS of `pid` and every process under it (a query process is a fork server's child), in MB."""
    total = 0
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for member in tree:
        try:
            total += member.memory_full_info().pss
        except psutil.Error:
            continue  # gone while read
    return total / 2**20


@contextmanager
def peak_pss(pid: int) -> Iterator[list[float]]:
    """Sample the tree's PSS until the block ends; the list holds the peak seen."""
    peak, done = [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_pss_mb(pid))
            time.sleep(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()


def serve(arguments: list[str], scratch: Path, rows: int) -> tuple[subprocess.Popen[bytes], str]:
    """`kgserver serve` with `arguments`, a row cap of `rows` and a time limit long enough for the answer."""
    port = bench_sparql.free_port()
    process = bench_sparql.start([str(bench_sparql.BIN / "kgserver"), "serve", *arguments, "--host", "127.0.0.1",
                                  "--port", str(port), "--row-cap", str(rows), "--query-timeout", "600"],
                                 env={"LDNKG_STATE_DIR": str(scratch / "state"), "LDNKG_DUMP_DIR": str(scratch / "dumps")})
    url = f"http://127.0.0.1:{port}"
    bench_sparql.wait_ready(f"{url}/sparql", process)
    bench_sparql.wait_search_ready(f"{url}/sparql", process)  # a frontend builds its index in a process of its own
    bench_sparql.settle(process)
    return process, url


def measure(label: str, process: subprocess.Popen[bytes], url: str, sizes: list[int]) -> None:
    """Ask for `size` rows of every triple, as JSON, for each size; print size, time and peak PSS over idle."""
    idle = tree_pss_mb(process.pid)
    for size in sizes:
        query = f"SELECT ?s ?p ?o WHERE {{ ?s ?p ?o }} LIMIT {size}"
        request = urllib.request.Request(f"{url}/sparql?{urllib.parse.urlencode({'query': query})}",
                                         headers={"Accept": ACCEPT})
        with peak_pss(process.pid) as peak:
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=900) as reply:
                received = 0
                while chunk := reply.read(1 << 20):
                    received += len(chunk)
                truncated = reply.headers.get("X-SPARQL-Truncated") == "true"
            seconds = time.perf_counter() - started
            time.sleep(0.2)  # the query process's last work after the last byte
        print(f"{label:18} {size:>9,} rows  {received / 1e6:8.1f} MB  {seconds:6.1f} s  "
              f"peak PSS {peak[0]:6.0f} MB (idle {idle:.0f}, +{peak[0] - idle:.0f}){'  CUT' if truncated else ''}",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="triples in the generated graph")
    parser.add_argument("--rows", type=int, nargs="*", default=[10_000, 1_000_000], help="rows asked for, in turn")
    arguments = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="kgserver-bench-large-"))
    try:
        dataset = bench_sparql.generated_dataset(scratch, arguments.size)
        cap = max(arguments.rows)
        store = scratch / "store"
        bench_sparql.build_kgserver_store(dataset, store)
        process, url = serve(["--store", str(store)], scratch, cap)
        try:
            measure("kgserver", process, url, arguments.rows)
        finally:
            bench_sparql.stop(process)
        with engines.oxigraph(scratch / "oxigraph", bench_sparql.quads_file(dataset, scratch)) as engine:
            process, url = serve(["--engine", "oxigraph", "--engine-url", engine.base], scratch, cap)
            try:
                measure("kgserver-oxigraph", process, url, arguments.rows)
            finally:
                bench_sparql.stop(process)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
