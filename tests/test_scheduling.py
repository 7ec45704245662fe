"""Fair under load: heavy queries never starve light ones, and no client takes the heavy share for itself.

A community of researchers shares one server: some send queries that take seconds, most send
lookups that take milliseconds. A query that runs past the heavy threshold is heavy; heavy
queries hold at most the heavy share of the query processes and run at a lower CPU priority,
each client may run only so many at once and spend only so many seconds a minute on them, and
the pool of query processes grows when every one is busy and shrinks when the extras idle.
These stories run against `kgserver serve` on the built store, with small limits so that they
show in seconds; the scheduler's arithmetic (budgets, Retry-After) is also checked in-process.
"""

from __future__ import annotations

import ctypes.util
import os
import re
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
from serving import Reply, Server, fetch, serving

from kgserver.config import ServerSettings
from kgserver.errors import TooManyRequestsError, UnavailableError
from kgserver.sparql.scheduling import Limits, Scheduler, Ticket

pytestmark = pytest.mark.slow  # times real query processes under load

RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
SECONDS_LONG = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f }"  # a few million rows: seconds, then an answer
LIGHT = "ASK { ?claim a ldn:EvidenceClaim }"
HEAVY_AFTER = "0.2"


def ask(server: Server, text: str, client: str, timeout: str | None = None) -> Reply:
    headers = {"Accept": "application/sparql-results+json", "User-Agent": client}
    return fetch(server.sparql, headers=headers, params={"query": text, **({"timeout": timeout} if timeout else {})})


def health(server: Server) -> dict:
    return fetch(f"{server.base}/health").json()["queries"]


def metric(server: Server, pattern: str) -> float:
    """The value of the first /metrics sample matching `pattern` (a regular expression for name and labels)."""
    found = re.search(rf"^{pattern} ([0-9.e+]+)$", fetch(f"{server.base}/metrics").text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def in_background(action, *args) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        outcome["reply"] = action(*args)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.05)


@pytest.fixture
def serve(built_store: Path, sources_root: Path, tmp_path: Path):
    """Start `kgserver serve` on the built store with the given flags (and LDNKG_* variables)."""

    def start(*flags: str, env: dict[str, str] | None = None):
        return serving(built_store, sources_root, tmp_path / f"serve-{time.monotonic_ns()}.log", *flags, env=env)

    return start


# --- heavy share ----------------------------------------------------------------------------------


def test_a_light_query_is_answered_while_the_heavy_share_is_full(serve):
    with serve("--max-query-workers", "3", "--heavy-after", HEAVY_AFTER, "--query-timeout", "6") as server:
        runaways = [in_background(ask, server, RUNAWAY, f"heavy-{n}") for n in range(2)]
        wait_for(lambda: health(server)["heavy"] == 2)  # the share: all but one of the three processes

        started = time.monotonic()
        light = ask(server, LIGHT, "light")
        assert light.status == 200 and light.json()["boolean"] is True
        assert time.monotonic() - started < 1.0

        third = ask(server, RUNAWAY, "heavy-2")  # a third query turning heavy finds the share full
        assert third.status == 503
        assert third.text.strip() == "server busy: 2 heavy queries are running, the most it runs at once; retry shortly"
        assert int(third.headers["retry-after"]) >= 1
        for thread, outcome in runaways:
            thread.join(10)
            assert outcome["reply"].status == 503 and "time limit" in outcome["reply"].text
        assert metric(server, r'kgserver_sparql_refusals_total\{reason="heavy-share"\}') == 1
        assert metric(server, r'kgserver_sparql_queries_total\{weight="heavy"\}') >= 2
        assert metric(server, r'kgserver_sparql_queries_total\{weight="light"\}') >= 1
        assert metric(server, r"kgserver_sparql_queue_wait_seconds_count") >= 4


def test_heavy_queries_get_processes_beside_those_light_queries_may_use(serve):
    """Two heavy queries hold two processes, yet light ones still have --max-query-workers of their own."""
    flags = ("--query-workers", "1", "--max-query-workers", "2", "--heavy-share", "2",
             "--heavy-after", HEAVY_AFTER, "--query-timeout", "5")
    with serve(*flags) as server:
        runaways = [in_background(ask, server, RUNAWAY, f"heavy-{n}") for n in range(2)]
        wait_for(lambda: health(server)["heavy"] == 2)
        wait_for(lambda: health(server)["idle"] >= 1)  # started beside the two the heavy queries hold

        started = time.monotonic()
        lights = [in_background(ask, server, LIGHT, f"light-{n}") for n in range(4)]
        for thread, outcome in lights:
            thread.join(10)
            assert outcome["reply"].status == 200 and outcome["reply"].json()["boolean"] is True
        assert time.monotonic() - started < 1.5  # none waited for a heavy query to end
        assert 3 <= health(server)["processes"] <= 4  # at most the maximum beside the heavy share

        for thread, outcome in runaways:
            thread.join(10)
            assert outcome["reply"].status == 503 and "time limit" in outcome["reply"].text
        wait_for(lambda: health(server)["processes"] <= 2)  # back within the maximum once they end


def _counted_pairs(limit: int) -> str:
    """Pairs of triples, the first `limit` of them counted: one shape, seconds or a moment by its constant."""
    return f"SELECT (COUNT(*) AS ?n) WHERE {{ {{ SELECT ?a WHERE {{ ?a ?b ?c . ?d ?e ?f }} LIMIT {limit} }} }}"


def test_a_query_of_a_shape_that_turned_heavy_is_heavy_from_its_start_until_one_runs_light(serve):
    """The next query of a heavy shape takes no light query's place; one that proves quick clears the presumption."""
    with serve("--heavy-after", HEAVY_AFTER, "--query-timeout", "60") as server:
        heavy = r'kgserver_sparql_queries_total\{weight="heavy"\}'
        light = r'kgserver_sparql_queries_total\{weight="light"\}'
        assert ask(server, _counted_pairs(4_000_000), "researcher").status == 200  # turned heavy by its CPU
        assert metric(server, heavy) == 1
        before = metric(server, light)
        quick = ask(server, _counted_pairs(1), "researcher")
        assert quick.status == 200 and quick.json()["results"]["bindings"][0]["n"]["value"] == "1"
        assert metric(server, heavy) == 2 and metric(server, light) == before  # heavy from its start, for its shape
        assert ask(server, _counted_pairs(1) + " # again, not from the response cache", "researcher").status == 200
        assert metric(server, heavy) == 2 and metric(server, light) == before + 1  # it ran light: presumed no more


# --- per-client limits ----------------------------------------------------------------------------


def test_a_client_past_its_concurrent_heavy_limit_gets_429_while_another_is_served(serve):
    flags = ("--heavy-after", HEAVY_AFTER, "--heavy-per-client", "1", "--query-timeout", "4")
    with serve(*flags) as server:
        first, outcome = in_background(ask, server, RUNAWAY, "greedy")
        wait_for(lambda: health(server)["heavy"] == 1)

        second = ask(server, RUNAWAY, "greedy")
        assert second.status == 429
        assert second.text.strip().startswith("too many heavy queries at once from this client: 1 running, "
                                              "the most one client may run at once is 1")
        assert 1 <= int(second.headers["retry-after"]) <= 4

        other, other_outcome = in_background(ask, server, RUNAWAY, "someone else")  # its heavy query may run
        wait_for(lambda: health(server)["heavy"] == 2)
        assert ask(server, LIGHT, "greedy").status == 200  # a light query is never refused for a limit
        for thread, result in ((first, outcome), (other, other_outcome)):
            thread.join(10)
            assert result["reply"].status == 503 and "time limit" in result["reply"].text
        assert metric(server, r'kgserver_sparql_refusals_total\{reason="client-heavy"\}') == 1
        assert metric(server, r'kgserver_sparql_requests_total\{status="429"\}') == 1


def test_a_client_that_spent_its_heavy_time_gets_429_and_its_light_queries_still_run(serve):
    with serve("--heavy-after", HEAVY_AFTER, "--heavy-budget", "1") as server:
        spent = ask(server, RUNAWAY, "spender", timeout="1.5")  # 1.5 s of heavy time against 1 s a minute
        assert spent.status == 503 and "time limit" in spent.text

        refused = ask(server, RUNAWAY, "spender", timeout="5")
        assert refused.status == 429
        assert refused.text.strip().startswith("this client has used its 1 s of heavy query time per minute")
        assert int(refused.headers["retry-after"]) >= 1
        assert ask(server, LIGHT, "spender").status == 200
        assert ask(server, RUNAWAY, "thrifty", timeout="1").status == 503  # another client's budget is its own


def test_a_token_is_a_client_of_its_own_whatever_its_address(serve):
    # A time limit of 5 s: the repeated query starts at nice 19 (its shape is known heavy) beside two
    # nice-19 runaways, and must use 0.2 s of CPU to turn heavy and be refused before it runs out.
    with serve("--heavy-after", HEAVY_AFTER, "--heavy-per-client", "1", "--query-timeout", "5") as server:
        url = f"{server.sparql}?{urllib.parse.urlencode({'query': RUNAWAY})}"
        alice_first, alices = in_background(fetch, url, "GET", {"Authorization": "Bearer alice", "User-Agent": "same"})
        wait_for(lambda: health(server)["heavy"] == 1)
        bob_first, bobs = in_background(fetch, url, "GET", {"Authorization": "Bearer bob", "User-Agent": "same"})
        wait_for(lambda: health(server)["heavy"] == 2)  # bob's is not alice's: it runs
        again = fetch(url, "GET", {"Authorization": "Bearer alice", "User-Agent": "same"})
        assert again.status == 429
        for thread, outcome in ((alice_first, alices), (bob_first, bobs)):
            thread.join(10)
            assert outcome["reply"].status == 503 and "time limit" in outcome["reply"].text


# --- priority and the pool ------------------------------------------------------------------------


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _query_processes(server: Server) -> list[int]:
    """The query processes: the server's forkserver's children that run kgserver's worker."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parent = int(stat.rsplit(")", 1)[1].split()[1])
                grandparent = int(Path(f"/proc/{parent}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            if grandparent == server.pid and b"forkserver" in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
    return found


def _busiest(pids: list[int]) -> int:
    def ticks(pid: int) -> int:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0
        return int(fields[11]) + int(fields[12])

    before = {pid: ticks(pid) for pid in pids}
    time.sleep(0.3)
    return max(pids, key=lambda pid: ticks(pid) - before[pid])


def test_a_heavy_query_yields_the_cpu_and_its_process_gets_its_priority_back(serve):
    with serve("--heavy-after", HEAVY_AFTER, "--max-query-workers", "2", "--query-timeout", "60") as server:
        thread, outcome = in_background(ask, server, SECONDS_LONG, "patient")
        wait_for(lambda: health(server)["heavy"] == 1)
        busiest = _busiest(_query_processes(server))
        assert _nice(busiest) == 19
        thread.join(60)
        answer = outcome["reply"]
        assert answer.status == 200 and int(answer.json()["results"]["bindings"][0]["n"]["value"]) > 0
        wait_for(lambda: health(server)["heavy"] == 0)
        assert busiest in _query_processes(server)  # the same process, reused
        assert all(_nice(pid) == 0 for pid in _query_processes(server))


@pytest.mark.skipif(not ctypes.util.find_library("jemalloc"), reason="this system has no jemalloc (make installs it)")
def test_query_processes_run_with_jemalloc_where_the_system_has_it(serve):
    with serve() as server:
        assert health(server)["limits"]["query_malloc"] == "libjemalloc.so.2"
        processes = _query_processes(server)
        assert processes and all("libjemalloc.so.2" in Path(f"/proc/{pid}/maps").read_text() for pid in processes)
        assert ask(server, LIGHT, "researcher").status == 200
    with serve(env={"LDNKG_QUERY_MALLOC": "none"}) as server:
        assert health(server)["limits"]["query_malloc"] == "libc"
        assert not any("libjemalloc" in Path(f"/proc/{pid}/maps").read_text() for pid in _query_processes(server))


def test_the_pool_grows_when_every_process_is_busy_and_shrinks_when_they_idle(serve):
    flags = ("--query-workers", "1", "--max-query-workers", "3", "--heavy-after", HEAVY_AFTER, "--heavy-share", "3",
             "--query-timeout", "60")
    with serve(*flags, env={"LDNKG_QUERY_IDLE": "2"}) as server:
        assert health(server)["processes"] == 1 and len(_query_processes(server)) == 1
        runs = [in_background(ask, server, SECONDS_LONG, f"client-{n}") for n in range(3)]
        wait_for(lambda: health(server)["processes"] == 3 and len(_query_processes(server)) == 3)
        for thread, outcome in runs:
            thread.join(60)
            assert outcome["reply"].status == 200  # answered, and their processes idle
        wait_for(lambda: health(server)["processes"] == 1 and len(_query_processes(server)) == 1, seconds=15)
        assert ask(server, LIGHT, "light").status == 200  # the one kept still answers


def test_the_limits_are_advertised(serve):
    flags = ("--max-query-workers", "5", "--heavy-after", "0.75", "--heavy-per-client", "3", "--heavy-budget", "90")
    with serve(*flags) as server:
        limits = health(server)["limits"]
        assert limits == {
            "min_processes": 2, "max_processes": 5, "query_timeout_seconds": 10.0, "queue_wait_seconds": 2.0,
            "heavy_after_seconds": 0.75, "max_heavy_queries": 4, "heavy_queries_per_client": 3,
            "heavy_seconds_per_client_per_minute": 90.0,
            "query_malloc": "libjemalloc.so.2" if ctypes.util.find_library("jemalloc") else "libc",
        }
        description = fetch(server.sparql, headers={"Accept": "application/n-triples"}).text
        for name, value in (("maxQueryProcesses", '"5"^^<http://www.w3.org/2001/XMLSchema#integer>'),
                            ("heavyQueryAfterSeconds", '"0.75"^^<http://www.w3.org/2001/XMLSchema#decimal>'),
                            ("maxHeavyQueries", '"4"^^<http://www.w3.org/2001/XMLSchema#integer>'),
                            ("heavyQueriesPerClient", '"3"^^<http://www.w3.org/2001/XMLSchema#integer>'),
                            ("heavyQuerySecondsPerClientPerMinute", '"90"^^<http://www.w3.org/2001/XMLSchema#decimal>')):
            assert f"<https://w3id.org/ldn-kg/service#{name}> {value} ." in description


def test_limits_that_cannot_work_are_refused_at_start(kgserver, built_store):
    result = kgserver("serve", "--store", built_store, "--query-workers", "4", "--max-query-workers", "2")
    assert result.returncode == 2
    assert result.stderr.strip() == "kgserver: error: max query workers (2) must be at least query workers (4)"


# --- the scheduler's arithmetic, in-process -------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def scheduler(**limits: float) -> tuple[Scheduler, Clock]:
    settings = ServerSettings(**{"heavy_after": 0.5, "heavy_per_client": 2, "heavy_budget": 60.0, **limits})
    clock = Clock()
    return Scheduler(Limits.of(settings), clock), clock


def test_the_budget_refills_at_its_rate_and_retry_after_says_when():
    plan, clock = scheduler(heavy_budget=6.0)  # 6 s a minute: 0.1 s back per second
    first = Ticket("c", "shape", clock.now, clock.now + 10)
    clock.now += 0.5
    plan.promote(first)
    clock.now += 7.5
    plan.finish(first)  # 8 s spent: 2 s over
    late = Ticket("c", "shape", clock.now, clock.now + 10)
    clock.now += 0.5
    with pytest.raises(TooManyRequestsError) as refused:
        plan.promote(late)
    assert refused.value.retry_after == 25  # (2 s over + 0.5 s of this one) at 0.1 s a second
    clock.now += 60
    again = Ticket("c", "shape", clock.now, clock.now + 10)
    clock.now += 0.5
    plan.promote(again)  # refilled (to at most the budget)
    assert again.heavy


def test_the_heavy_share_is_the_servers_and_refusals_do_not_count():
    plan, clock = scheduler(max_query_workers=3)  # share: 2
    tickets = [Ticket(f"c{n}", "", clock.now, clock.now + 5) for n in range(3)]
    plan.promote(tickets[0])
    plan.promote(tickets[1])
    with pytest.raises(UnavailableError) as full:
        plan.promote(tickets[2])
    assert full.value.http_status == 503 and full.value.retry_after == 5
    assert plan.heavy_running == 2
    plan.finish(tickets[2])  # refused already: nothing to undo
    plan.finish(tickets[0])
    assert plan.heavy_running == 1


def test_a_shape_that_turned_heavy_is_presumed_heavy_until_it_runs_light():
    plan, clock = scheduler()
    heavy = Ticket("c", "SELECT * { ?s $ ?o }", clock.now, clock.now + 5)
    plan.promote(heavy)
    plan.finish(heavy)
    assert plan.predicted_heavy("SELECT * { ?s $ ?o }") and not plan.predicted_heavy("ASK { }")
    light = Ticket("c", "SELECT * { ?s $ ?o }", clock.now, clock.now + 5)
    plan.finish(light)
    assert not plan.predicted_heavy("SELECT * { ?s $ ?o }")


def test_a_shape_that_turned_heavy_is_counted_heavy_from_its_next_start_where_the_limits_allow():
    plan, clock = scheduler(max_query_workers=2, heavy_per_client=1)  # share: 1
    shape = "SELECT * { ?s $ ?o }"
    first = Ticket("a", shape, clock.now, clock.now + 5)
    assert not plan.promote_predicted(first)  # never seen: light until it has used its CPU
    plan.promote(first)
    assert plan.predicted_heavy(shape)
    again = Ticket("b", shape, clock.now, clock.now + 5)
    assert not plan.promote_predicted(again) and not again.heavy  # the share is full: light, not refused
    plan.finish(first)
    assert plan.promote_predicted(again) and again.heavy and plan.heavy_running == 1
    crowded = Ticket("b", shape, clock.now, clock.now + 5)
    assert not plan.promote_predicted(crowded) and not crowded.finished  # a limit is reached: light, not refused
    clock.now += 2
    again.cpu_used = 1.5  # it did use its CPU: the shape stays presumed heavy
    plan.finish(again)
    assert plan.predicted_heavy(shape)
    quick = Ticket("b", shape, clock.now, clock.now + 5)
    assert plan.promote_predicted(quick)
    quick.cpu_used = 0.01  # presumed heavy, yet it ran light: the presumption goes
    plan.finish(quick)
    assert not plan.predicted_heavy(shape) and plan.heavy_running == 0


def test_the_query_shape_ignores_constants_and_comments():
    from kgserver.sparql.policy import analyse

    one = analyse("SELECT ?c WHERE { VALUES ?x { <a> <b> } ?c ldn:about ?x ; ldn:year 2020 } LIMIT 5 # one")
    other = analyse('select ?c where { values ?x { <z> } ?c ldn:other ?x ; ldn:year "x" } limit 50')
    assert one.shape == other.shape
    assert analyse("SELECT ?d WHERE { ?d ?p ?o }").shape != analyse("SELECT ?c WHERE { ?c ?p ?o }").shape


def test_waiting_queries_are_served_by_arrival_plus_expected_time(built_store):
    """One process, busy: a lookup that arrives after a slow query is served first, unless the slow one has waited longer."""
    from kgserver.config import Settings
    from kgserver.sparql.pool import WorkerPool

    pool = WorkerPool(built_store, Settings.from_env().prefixes, 1, 1, 30)
    try:
        busy = pool.acquire(5)
        served: list[str] = []

        def wait(name: str, expected: float) -> None:
            worker = pool.acquire(10, expected)
            served.append(name)
            pool.release(worker)

        slow = threading.Thread(target=wait, args=("slow, arrived first", 1.0))
        slow.start()
        time.sleep(0.05)
        quick = threading.Thread(target=wait, args=("quick, arrived second", 0.01))
        quick.start()
        time.sleep(0.05)
        pool.release(busy)
        slow.join(10)
        quick.join(10)
        assert served == ["quick, arrived second", "slow, arrived first"]

        busy = pool.acquire(5)
        served.clear()
        patient = threading.Thread(target=wait, args=("slow, waited long", 0.2))
        patient.start()
        time.sleep(0.4)  # it has waited longer than its expected time
        late = threading.Thread(target=wait, args=("quick, arrived late", 0.01))
        late.start()
        time.sleep(0.05)
        pool.release(busy)
        patient.join(10)
        late.join(10)
        assert served == ["slow, waited long", "quick, arrived late"]
    finally:
        pool.close()


def test_light_queries_expected_to_be_long_leave_the_last_process_to_quick_ones(built_store):
    """Two processes: a long light query holds one; the next long one waits, a lookup takes the other at once."""
    from kgserver.config import Settings
    from kgserver.sparql.pool import WorkerPool

    pool = WorkerPool(built_store, Settings.from_env().prefixes, 2, 2, 30, quick_seconds=0.02)
    try:
        first_long = pool.acquire(5, expected=0.1)
        assert first_long is not None
        assert pool.acquire(0.2, expected=0.1) is None, "a second long query took the last process"
        waiting: dict = {}
        second = threading.Thread(target=lambda: waiting.setdefault("worker", pool.acquire(10, expected=0.1)))
        second.start()
        time.sleep(0.05)
        lookup = pool.acquire(0.2, expected=0.005)
        assert lookup is not None, "a quick query found no process while a long one waited"
        pool.release(lookup)
        assert "worker" not in waiting, "the waiting long query took the process kept for quick ones"
        pool.release(first_long)
        second.join(10)
        assert waiting["worker"] is not None, "the waiting long query did not get the process freed"
        pool.release(waiting["worker"])
    finally:
        pool.close()


def test_a_heavy_query_killed_at_its_limit_starts_no_process_while_light_ones_are_at_the_maximum(built_store):
    """One process for light queries: a heavy one gets its own on top; killed, it leaves the light ones as they were."""
    from kgserver.config import Settings
    from kgserver.sparql.pool import WorkerPool

    pool = WorkerPool(built_store, Settings.from_env().prefixes, 1, 1, 30)
    try:
        heavy = pool.acquire(5)
        pool.hold_heavy(heavy, 0)  # it turned heavy: a process starts for the light queries
        wait_for(lambda: pool.status().idle == 1, 60)
        light = pool.acquire(5)
        waiting: dict = {}
        queued = threading.Thread(target=lambda: waiting.setdefault("worker", pool.acquire(10)))
        queued.start()
        wait_for(lambda: pool.status().waiting == 1)
        pool.discard(heavy)  # the heavy query reached the time limit
        status = pool.status()
        assert (status.processes, status.starting) == (1, 0), f"a process started beyond the maximum: {status}"
        pool.release(light)
        queued.join(10)
        assert waiting["worker"] is light, "the waiting light query did not get the process freed"
        pool.release(light)
        assert pool.status().processes == 1
    finally:
        pool.close()


def test_a_query_process_reads_the_store_as_opened_for_the_version_it_started_at(built_store, tmp_path):
    """A process started at version 5 answers a version-5 job without reopening; a version-6 job sees the new data."""
    import json
    import shutil

    from pyoxigraph import Literal, NamedNode, Quad

    from kgserver.config import Settings
    from kgserver.sparql.pool import WorkerPool
    from kgserver.sparql.worker import Job
    from kgserver.store.embedded import open_writable

    store_path = tmp_path / "store"
    shutil.copytree(built_store, store_path)
    pool = WorkerPool(store_path, Settings.from_env().prefixes, 1, 1, 30, version=lambda: "5")
    writer = open_writable(store_path)
    try:
        mark = NamedNode("urn:test:added-after-the-process-opened-the-store")
        writer.add(Quad(mark, mark, Literal("new"), mark))
        writer.flush()
        ask = "ASK { GRAPH <urn:test:added-after-the-process-opened-the-store> { ?s ?p ?o } }"

        def answer(version: str) -> bool:
            worker = pool.acquire(5)
            try:
                worker.conn.send(Job(ask, "json", None, None, 10, None, version))
                kind, _head, body, _cpu = worker.conn.recv()
                assert kind == "whole"
                return bool(json.loads(body)["boolean"])
            finally:
                pool.release(worker)

        assert answer("5") is False  # the version it started at: the store as it opened it
        assert answer("6") is True  # a newer version: reopened, the new data is there
    finally:
        del writer
        pool.close()


def test_behind_a_trusted_proxy_the_client_it_names_is_the_one_counted(serve):
    """Behind nginx every peer is nginx: with --trusted-proxy, the client in X-Forwarded-For is counted."""
    flags = ("--heavy-after", HEAVY_AFTER, "--heavy-per-client", "1", "--query-timeout", "3", "--trusted-proxy", "127.0.0.1")
    with serve(*flags) as server:

        def heavy(forwarded_for: str) -> Reply:
            headers = {"Accept": "application/sparql-results+json", "User-Agent": "same", "X-Forwarded-For": forwarded_for}
            return fetch(server.sparql, headers=headers, params={"query": RUNAWAY})

        first, firsts = in_background(heavy, "203.0.113.1")
        wait_for(lambda: health(server)["heavy"] == 1)
        second, seconds = in_background(heavy, "198.51.100.7, 203.0.113.2")  # nginx added the last entry
        wait_for(lambda: health(server)["heavy"] == 2)  # another client: it runs
        assert heavy("203.0.113.1").status == 429  # the first client again
        for thread, outcome in ((first, firsts), (second, seconds)):
            thread.join(10)
            assert outcome["reply"].status == 503 and "time limit" in outcome["reply"].text
