"""The Settings object (sources and IRIs) and ServerSettings (the web server's limits and policies)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_BASE = "https://w3id.org/ldn-kg/"

WELL_KNOWN_PREFIXES = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "dcterms": "http://purl.org/dc/terms/",
    "sh": "http://www.w3.org/ns/shacl#",
    "prov": "http://www.w3.org/ns/prov#",
}


def _package_repo_root() -> Path:
    """The checkout this package lives in, so commands work from any directory."""
    return Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """Where the project's sources live and the IRIs under which they are published."""

    root: Path
    base: str = DEFAULT_BASE

    @classmethod
    def from_env(cls) -> Settings:
        """Settings for this checkout, overridable by LDNKG_ROOT and LDNKG_BASE."""
        root = Path(os.environ.get("LDNKG_ROOT") or _package_repo_root()).resolve()
        return cls(root=root, base=os.environ.get("LDNKG_BASE") or DEFAULT_BASE)

    def _graph(self, name: str) -> str:
        return f"{self.base}graph/{name}"

    @property
    def ontology_graph(self) -> str:
        return self._graph("ontology")

    @property
    def data_graph(self) -> str:
        return self._graph("data")

    @property
    def shapes_graph(self) -> str:
        return self._graph("shapes")

    @property
    def inferred_graph(self) -> str:
        return self._graph("inferred")

    @property
    def meta_graph(self) -> str:
        return self._graph("meta")

    @property
    def examples_graph(self) -> str:
        return self._graph("examples")

    @property
    def dataset_iri(self) -> str:
        return f"{self.base}dataset"

    @property
    def named_graphs(self) -> tuple[str, ...]:
        """The graphs a build makes, in the order they are built and reported (curators' graphs come on top)."""
        return (
            self.ontology_graph,
            self.data_graph,
            self.shapes_graph,
            self.inferred_graph,
            self.examples_graph,
            self.meta_graph,
        )

    @property
    def prefixes(self) -> dict[str, str]:
        """Prefixes for output meant for people: the project's namespaces plus common vocabularies.

        ldn: is the ontology, kg: the things the graph describes, shp: the shapes.
        """
        return {
            "ldn": f"{self.base}ontology#",
            "kg": f"{self.base}id/",
            "shp": f"{self.base}shapes#",
            **WELL_KNOWN_PREFIXES,
        }

    def ontology_files(self) -> list[Path]:
        return sorted((self.root / "ontology").glob("*.ttl"))

    def data_files(self) -> list[Path]:
        return sorted((self.root / "graph").glob("*.ttl"))

    def shapes_files(self) -> list[Path]:
        return sorted((self.root / "shapes").glob("*.ttl"))


def _env_list(value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma- or space-separated environment value as a tuple; unset keeps the default."""
    if value is None:
        return default
    return tuple(item for item in value.replace(",", " ").split() if item)


@dataclass(frozen=True)
class ServerSettings:
    """The limits and policies of the web server, from `kgserver serve` flags and LDNKG_* variables.

    Every limit the SPARQL endpoint enforces is read from here and nowhere else.
    """

    query_timeout: float = 10.0
    row_cap: int = 10_000
    max_request_bytes: int = 1 << 20
    cors_origins: tuple[str, ...] = ("*",)
    service_allow: tuple[str, ...] = ()
    query_workers: int = 2  # query processes always running
    max_query_workers: int = 4  # the most query processes; those beyond query_workers stop when idle
    query_idle: float = 300.0  # seconds an extra query process may stay idle before it stops
    queue_wait: float = 2.0
    heavy_after: float = 0.5  # seconds of CPU a query may use before it is heavy
    heavy_share: int | None = None  # heavy queries at once; None: all but one of max_query_workers
    heavy_per_client: int = 2  # heavy queries one client may run at once
    heavy_budget: float = 60.0  # seconds of heavy query time per client per minute
    heavy_nice: int = 19  # the nice value a heavy query's process takes; 0 keeps its priority
    query_malloc: str = "jemalloc"  # the malloc preloaded into query processes: jemalloc where found, a path, or none
    cache_bytes: int = 32 << 20
    cache_entry_bytes: int = 4 << 20  # a row-capped answer of a few columns fits
    dump_dir: Path | None = None  # where dump files are cached; None: a `<store>.dumps` directory beside the store

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ServerSettings:
        """Defaults, then LDNKG_* environment variables, then explicit overrides (None means unset)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, variable, convert in (
            ("query_timeout", "LDNKG_QUERY_TIMEOUT", float),
            ("row_cap", "LDNKG_ROW_CAP", int),
            ("max_request_bytes", "LDNKG_MAX_REQUEST_BYTES", int),
            ("query_workers", "LDNKG_QUERY_WORKERS", int),
            ("max_query_workers", "LDNKG_MAX_QUERY_WORKERS", int),
            ("query_idle", "LDNKG_QUERY_IDLE", float),
            ("queue_wait", "LDNKG_QUEUE_WAIT", float),
            ("heavy_after", "LDNKG_HEAVY_AFTER", float),
            ("heavy_share", "LDNKG_HEAVY_SHARE", int),
            ("heavy_per_client", "LDNKG_HEAVY_PER_CLIENT", int),
            ("heavy_budget", "LDNKG_HEAVY_BUDGET", float),
            ("heavy_nice", "LDNKG_HEAVY_NICE", int),
            ("query_malloc", "LDNKG_QUERY_MALLOC", str),
        ):
            if env.get(variable):
                try:
                    values[name] = convert(env[variable])
                except ValueError:
                    raise ValueError(f"{variable}={env[variable]!r} is not a number") from None
        values["cors_origins"] = _env_list(env.get("LDNKG_CORS_ORIGINS"), cls.cors_origins)
        values["service_allow"] = _env_list(env.get("LDNKG_SERVICE_ALLOW"), cls.service_allow)
        if env.get("LDNKG_DUMP_DIR"):
            values["dump_dir"] = Path(env["LDNKG_DUMP_DIR"])
        values.update({key: value for key, value in overrides.items() if value is not None})
        if "max_query_workers" not in values and values.get("query_workers", cls.query_workers) > cls.max_query_workers:
            values["max_query_workers"] = values["query_workers"]  # more processes kept than the default maximum
        settings = cls(**values)
        settings.check()
        return settings

    @property
    def effective_heavy_share(self) -> int:
        """Heavy queries the server runs at once: the configured share, or all but one of the query processes."""
        return self.heavy_share if self.heavy_share is not None else max(1, self.max_query_workers - 1)

    def check(self) -> None:
        """Refuse limits that would make the endpoint unusable, before the server starts."""
        if self.query_timeout <= 0 or self.row_cap < 1 or self.max_request_bytes < 1024 or self.query_workers < 1:
            raise ValueError(
                "limits must be positive: query timeout > 0, row cap >= 1, "
                "max request bytes >= 1024, query workers >= 1"
            )
        if self.max_query_workers < self.query_workers:
            raise ValueError(
                f"max query workers ({self.max_query_workers}) must be at least query workers ({self.query_workers})"
            )
        if self.heavy_share is not None and not 1 <= self.heavy_share <= self.max_query_workers:
            raise ValueError(f"heavy share must be between 1 and max query workers ({self.max_query_workers})")
        if self.heavy_after <= 0 or self.heavy_per_client < 1 or self.heavy_budget <= 0 or self.query_idle <= 0:
            raise ValueError(
                "heavy-query limits must be positive: heavy after > 0 s, heavy per client >= 1, "
                "heavy budget > 0 s, query idle > 0 s"
            )
        if self.query_malloc not in ("jemalloc", "none") and not Path(self.query_malloc).is_file():
            raise ValueError(f"query malloc must be jemalloc, none or a library's path: {self.query_malloc} is none of them")
        if not 0 <= self.heavy_nice <= 19:
            raise ValueError("heavy nice must be between 0 (no change) and 19 (the lowest CPU priority)")
