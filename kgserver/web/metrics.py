"""Prometheus metrics for the SPARQL endpoint, served at /metrics.

Each app has its own registry (no module-level state); the server runs one web process, so
its registry holds every request's figures. The query gate reports to it as its observer
(light and heavy queries, waits for a query process, refusals), and the pool's sizes are
read when /metrics is scraped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from kgserver.sparql.execution import QueryGate

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_WAITS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5)


class Metrics:
    """Requests by status, latency, timeouts and truncations; light and heavy queries, waits and refusals."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "kgserver_sparql_requests", "SPARQL requests answered, by HTTP status", ["status"], registry=self.registry
        )
        self.latency = Histogram(
            "kgserver_sparql_request_seconds", "Time to answer a SPARQL request, body included",
            buckets=_SECONDS, registry=self.registry,
        )
        self.timeouts = Counter(
            "kgserver_sparql_timeouts", "Queries stopped at the time limit", registry=self.registry
        )
        self.truncations = Counter(
            "kgserver_sparql_truncations", "Results cut at the row cap", registry=self.registry
        )
        self.queries = Counter(
            "kgserver_sparql_queries", "Queries run in a query process, by weight (heavy: ran past the heavy threshold)",
            ["weight"], registry=self.registry,
        )
        self.query_seconds = Histogram(
            "kgserver_sparql_query_seconds", "Time a query held its query process, by weight",
            ["weight"], buckets=_SECONDS, registry=self.registry,
        )
        self.queue_wait = Histogram(
            "kgserver_sparql_queue_wait_seconds", "Time a query waited for a free query process",
            buckets=_WAITS, registry=self.registry,
        )
        self.refusals = Counter(
            "kgserver_sparql_refusals",
            "Queries refused: busy (no query process in time, 503), heavy-share (503), client-heavy (429)",
            ["reason"], registry=self.registry,
        )

    def watch(self, gate: QueryGate) -> None:
        """Gauges of the query processes, read from the gate at each scrape."""
        for name, text, field in (
            ("kgserver_query_processes", "Query processes running", "processes"),
            ("kgserver_query_processes_idle", "Query processes idle", "idle"),
            ("kgserver_heavy_queries_running", "Heavy queries running", "heavy"),
        ):
            Gauge(name, text, registry=self.registry).set_function(lambda f=field: gate.status()[f])

    # the query gate's observer
    def waited(self, seconds: float) -> None:
        self.queue_wait.observe(seconds)

    def finished(self, heavy: bool, seconds: float) -> None:
        weight = "heavy" if heavy else "light"
        self.queries.labels(weight).inc()
        self.query_seconds.labels(weight).observe(seconds)

    def refused(self, reason: str) -> None:
        self.refusals.labels(reason).inc()

    def observe(self, status: int, seconds: float, timed_out: bool, truncated: bool) -> None:
        """Record one finished SPARQL request."""
        self.requests.labels(str(status)).inc()
        self.latency.observe(seconds)
        if timed_out:
            self.timeouts.inc()
        if truncated:
            self.truncations.inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
