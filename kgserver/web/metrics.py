"""Prometheus metrics for the SPARQL endpoint, served at /metrics.

Each app has its own registry (no module-level state); the server runs one web process, so
its registry holds every request's figures.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    """Requests by status, latency, timeouts and truncations of the SPARQL endpoint."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "kgserver_sparql_requests", "SPARQL requests answered, by HTTP status", ["status"], registry=self.registry
        )
        self.latency = Histogram(
            "kgserver_sparql_request_seconds",
            "Time to answer a SPARQL request, body included",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.timeouts = Counter(
            "kgserver_sparql_timeouts", "Queries stopped at the time limit", registry=self.registry
        )
        self.truncations = Counter(
            "kgserver_sparql_truncations", "Results cut at the row cap", registry=self.registry
        )

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
