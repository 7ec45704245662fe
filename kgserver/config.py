"""One Settings object: where the sources are and which IRIs name the graphs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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
    def dataset_iri(self) -> str:
        return f"{self.base}dataset"

    @property
    def named_graphs(self) -> tuple[str, ...]:
        """All graphs of the store, in the order they are built and reported."""
        return (
            self.ontology_graph,
            self.data_graph,
            self.shapes_graph,
            self.inferred_graph,
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
