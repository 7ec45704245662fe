"""The Settings object (sources and IRIs) and ServerSettings (the web server's limits and policies)."""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pyoxigraph import NamedNode

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
        """Settings for this checkout, overridable by LDNKG_ROOT and LDNKG_BASE; ValueError naming a bad LDNKG_BASE."""
        root = Path(os.environ.get("LDNKG_ROOT") or _package_repo_root()).resolve()
        return cls(root=root, base=check_base(os.environ.get("LDNKG_BASE") or DEFAULT_BASE))

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
    def submission_graphs(self) -> str:
        """Where the curators' submissions are named (the prefix): one graph each, `{this}{id}`."""
        return self._graph("submission/")

    @property
    def record_graphs(self) -> str:
        """Where the submissions' record graphs are named (the prefix): the server writes them, no curator."""
        return self._graph("record/")

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


def check_base(base: str) -> str:
    """The base IRI unchanged if every IRI made from it (`{base}graph/data`, `{base}ontology#`) is a valid one.

    Checked before anything is built or served, so a typo never ends in a store of broken IRIs.
    """
    problem = _base_problem(base)
    if problem:
        raise ValueError(f"LDNKG_BASE={base!r} {problem}: give an absolute http(s) IRI ending in '/', "
                         f"such as {DEFAULT_BASE}")
    return base


def _base_problem(base: str) -> str:
    """What makes `base` unusable as the dataset's base IRI, in words; empty when nothing does."""
    try:
        NamedNode(base)
        parts = urlsplit(base)
        parts.port  # noqa: B018  (read for its check: a port out of range or not a number raises)
    except ValueError as error:
        return f"is not an IRI ({error})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http(s) IRI with a host"
    if "?" in base or "#" in base:
        return "has a query or a fragment"
    if not base.endswith("/"):
        return "does not end in '/'"
    return ""


def _env_list(value: str) -> tuple[str, ...]:
    """A comma- or space-separated environment value as a tuple."""
    return tuple(item for item in value.replace(",", " ").split() if item)


def setting(
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    default_text: str | None = None,
) -> Any:
    """One server setting, declared once: its default, help, bounds and `kgserver serve` flag (None: variable only).

    The LDNKG_ variable is the field's name in capitals; `from_env`, `check`, the command's
    options (`cli.setting_options`) and the README's table (`settings_table`) all derive from here.
    """
    return field(default=default, metadata={
        "help": help, "flag": flag, "minimum": minimum, "maximum": maximum, "default_text": default_text,
    })


@dataclass(frozen=True)
class SettingInfo:
    """What a setting's declaration says, for the command's options, the README and the checks."""

    name: str
    kind: str  # int, float, str, path, list (several values), int? (an int or unset)
    default: Any
    help: str
    flag: str | None
    minimum: float | None
    maximum: float | None
    default_text: str

    @property
    def variable(self) -> str:
        return "LDNKG_" + self.name.upper()

    def parse(self, text: str) -> Any:
        """A value from its environment variable's text; ValueError naming the variable when it does not parse."""
        if self.kind == "list":
            return _env_list(text)
        if self.kind == "path":
            return Path(text)
        if self.kind == "str":
            return text
        if self.kind == "bool":
            if text.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(f"{self.variable}={text!r} is not 1 or 0")
            return text.lower() in ("1", "true", "yes")
        try:
            return int(text) if self.kind in ("int", "int?") else float(text)
        except ValueError:
            raise ValueError(f"{self.variable}={text!r} is not a number") from None


_KINDS = {
    "int": "int", "float": "float", "str": "str", "bool": "bool", "Path | None": "path", "tuple[str, ...]": "list",
    "int | None": "int?",
}


@dataclass(frozen=True)
class ServerSettings:
    """The limits and policies of the web server, from `kgserver serve` flags and LDNKG_* variables.

    Every limit the SPARQL endpoint enforces is declared here, once, and read from nowhere else.
    """

    query_timeout: float = setting(10.0, "seconds a query may run, sending included", flag="--query-timeout",
                                   minimum=0.001)
    row_cap: int = setting(10_000, "most solutions (SELECT) or triples (CONSTRUCT, DESCRIBE) in one answer",
                           flag="--row-cap", minimum=1)
    max_request_bytes: int = setting(1 << 20, "largest request (URL query string or body)",
                                     flag="--max-request-bytes", minimum=1024)
    max_addition_triples: int = setting(1000, "most triples in one addition checked or submitted (a check's time "
                                        "grows with it, and checks run one at a time)", flag="--max-addition-triples",
                                        minimum=1)
    check_budget: float = setting(30.0, "seconds of CPU a client may spend per minute having additions checked or "
                                  "submitted (past it: 429 with Retry-After; 0: no limit)", flag="--check-budget",
                                  minimum=0)
    cors_origins: tuple[str, ...] = setting(("*",), "origins whose pages may read responses (several: repeat the "
                                            "flag, or separate them by commas or spaces; empty: no CORS)",
                                            flag="--cors-origin")
    service_allow: tuple[str, ...] = setting((), "SERVICE endpoints queries may call (several: repeat the flag, or "
                                             "separate them by commas or spaces)", flag="--service-allow",
                                             default_text="none")
    query_workers: int = setting(2, "query processes always running", flag="--query-workers", minimum=1, maximum=64)
    max_query_workers: int = setting(4, "the most query processes for light queries (heavy ones' come on top); the "
                                     "pool grows to it when queries wait", flag="--max-query-workers", minimum=1,
                                     maximum=64)
    query_idle: float = setting(300.0, "seconds a query process beyond the always-running ones may stay idle before "
                                "it stops", minimum=0.001)
    queue_wait: float = setting(2.0, "seconds a query waits for a free query process before 503", minimum=0)
    heavy_after: float = setting(0.5, "seconds of CPU a query may use before it is heavy", flag="--heavy-after",
                                 minimum=0.001)
    heavy_share: int | None = setting(None, "heavy queries running at once", flag="--heavy-share", minimum=1,
                                      default_text="all but one of --max-query-workers")
    heavy_per_client: int = setting(2, "heavy queries one client may run at once", flag="--heavy-per-client",
                                    minimum=1)
    heavy_budget: float = setting(60.0, "seconds of heavy query time a client may spend per minute",
                                  flag="--heavy-budget", minimum=0.001)
    heavy_nice: int = setting(19, "the nice value of a heavy query's process (0 keeps every priority)",
                              minimum=0, maximum=19)
    query_malloc: str = setting("jemalloc", "the malloc query processes run with: the system's jemalloc where it has "
                                "one (`make` installs Debian's `libjemalloc2`), a library's path, or `none` for the "
                                "C library's")
    engine_writer: bool = setting(False, "with --engine: this server commits submissions and retractions to the engine "
                                  "(exactly one server may; it holds the lock file WRITER.lock and the engine's writer "
                                  "lease, see the README)")
    engine_writer_url: str = setting("", "with --engine on a server that does not commit: the writer's base URL, to "
                                     "which submissions and retractions are forwarded (none: they are refused)")
    warm_reasoner: bool = setting(True, "start HermiT's JVM and prepare the shapes when the server starts, so the first "
                                  "check of an addition is fast (0: on the first check; a mirror that takes no "
                                  "submissions then never starts the JVM)")
    cache_bytes: int = setting(32 << 20, "bytes of complete SPARQL answers the response cache keeps", minimum=0)
    cache_entry_bytes: int = setting(4 << 20, "largest answer the response cache keeps (a row-capped answer of a few "
                                     "columns fits)", minimum=0)
    dump_dir: Path | None = setting(None, "where dump files are written", default_text="`STORE.dumps` beside the store")
    trusted_proxy: str = setting("", "the address of a proxy in front (nginx) whose X-Forwarded-For names the client: "
                                 "the heavy-query limits per client then count the client, not the proxy",
                                 flag="--trusted-proxy", default_text="none")

    @classmethod
    def declared(cls) -> tuple[SettingInfo, ...]:
        """Every setting as declared, in order."""
        return tuple(
            SettingInfo(
                item.name, _KINDS[str(item.type)], item.default, item.metadata["help"], item.metadata["flag"],
                item.metadata["minimum"], item.metadata["maximum"],
                item.metadata["default_text"] or _default_text(item.default),
            )
            for item in fields(cls)
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ServerSettings:
        """Defaults, then LDNKG_* environment variables, then explicit overrides (None means unset)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for info in cls.declared():
            text = env.get(info.variable)
            if text or (text is not None and info.kind == "list"):  # an empty list variable means none
                values[info.name] = info.parse(text)
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
        for info in self.declared():
            value = getattr(self, info.name)
            if info.kind in ("int", "float", "int?") and value is not None:
                if not math.isfinite(value):  # nan passes every comparison below; inf is no limit
                    raise ValueError(f"{info.name.replace('_', ' ')} must be a finite number, not {value:g}")
                if info.minimum is not None and value < info.minimum or info.maximum is not None and value > info.maximum:
                    raise ValueError(f"{info.name.replace('_', ' ')} must be {_bounds(info)}, not {value:g}")
        if self.trusted_proxy and self.trusted_proxy != "*":  # waitress's "*": any peer
            try:
                ipaddress.ip_address(self.trusted_proxy)
            except ValueError:
                raise ValueError(f"trusted proxy must be an IP address, not {self.trusted_proxy!r}") from None
        if self.max_query_workers < self.query_workers:
            raise ValueError(
                f"max query workers ({self.max_query_workers}) must be at least query workers ({self.query_workers})"
            )
        if self.heavy_share is not None and self.heavy_share > self.max_query_workers:
            raise ValueError(f"heavy share must be between 1 and max query workers ({self.max_query_workers})")
        if self.query_malloc not in ("jemalloc", "none") and not Path(self.query_malloc).is_file():
            raise ValueError(f"query malloc must be jemalloc, none or a library's path: {self.query_malloc} is none of them")


def _default_text(default: Any) -> str:
    """A default as the README and --help show it."""
    if isinstance(default, tuple):
        return ", ".join(default) or "none"
    if isinstance(default, bool):
        return "1" if default else "0"
    return f"{default:g}" if isinstance(default, float) else str(default)


def _bounds(info: SettingInfo) -> str:
    """A setting's bounds in words: at least 1, between 0 and 19..."""
    low, high = info.minimum, info.maximum
    if low is not None and high is not None:
        return f"between {low:g} and {high:g}"
    return f"at least {low:g}" if low is not None else f"at most {high:g}"


def settings_table() -> str:
    """The README's table of the server's settings (Markdown), from their declarations."""
    lines = ["| flag | environment variable | default | meaning |", "| --- | --- | --- | --- |"]
    for info in ServerSettings.declared():
        flag = f"`{info.flag}`" + (" (repeat)" if info.kind == "list" else "") if info.flag else ""
        default = info.default_text if "`" in info.default_text or " " in info.default_text else f"`{info.default_text}`"
        lines.append(f"| {flag} | `{info.variable}` | {default} | {info.help} |")
    return "\n".join(lines) + "\n"
