"""Curators kept in the engine, so every frontend and the writer, on any machine, share them at once.

In front of an engine the curators and the SHA-256 of their tokens are triples of kgserver's
private graph (`dialects.CURATORS_GRAPH`), read afresh for each token checked: a curator
added or revoked through `kgserver curator ... --engine` holds on every frontend at the next
request, and a writer moved to another machine finds them where the dataset is. The graph is
never part of a dataset (dialects.PRIVATE_GRAPHS): it is not listed, dumped, counted, searched,
or reachable by naming it in a query. Names must match curators.NAME_PATTERN, so they go into
IRIs and literals as they are. Beside an embedded store the registry stays a file (curators.py).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from pyoxigraph import Literal, NamedNode

from kgserver.curation.curators import (
    Curator,
    CuratorError,
    CuratorRegistry,
    Registry,
    check_name,
    hash_token,
    now_stamp,
    registry_path,
)
from kgserver.errors import KgError
from kgserver.store.dialects import CURATORS_GRAPH, PRIVATE_GRAPHS
from kgserver.store.interface import GraphStore
from kgserver.store.location import StoreLocation

_GRAPH = f"<{CURATORS_GRAPH}>"
_NAME, _TOKEN, _CREATED, _REVOKED = (f"<{PRIVATE_GRAPHS}curator-{part}>" for part in ("name", "token-sha256", "created", "revoked"))
log = logging.getLogger(__name__)

_READ = (
    f"SELECT ?name ?token ?created ?revoked WHERE {{ GRAPH {_GRAPH} {{ ?c {_NAME} ?name ; {_TOKEN} ?token ; "
    f"{_CREATED} ?created OPTIONAL {{ ?c {_REVOKED} ?revoked }} }} }}"
)


def open_registry(location: StoreLocation, store: Callable[[], GraphStore]) -> Registry:
    """The curators of a store: the engine's private graph in front of an engine, else the file beside the store.

    A registry file left beside an engine's local files (where they were kept before) is no longer
    read: the log says so, once, so that its curators are added again rather than found missing.
    """
    path = registry_path(location.local_path)
    if location.embedded:
        return CuratorRegistry(path)
    if path.exists():
        log.warning("%s is not read: in front of an engine the curators are kept in the engine; add them again "
                    "with kgserver curator add NAME --engine ... (their old tokens open nothing)", path)
    return EngineCurators(store, str(location))


class EngineCurators:
    """The curators as the engine holds them, read on every call (a small graph: one short query)."""

    def __init__(self, store: Callable[[], GraphStore], where: str) -> None:
        self._store = store
        self._where = where

    def curators(self) -> tuple[Curator, ...]:
        """Every curator, in the order they were added (of two revocations sent at once, the first counts)."""
        found: dict[str, Curator] = {}
        for row in self._store().query(_READ, named_graphs=[NamedNode(CURATORS_GRAPH)]):  # type: ignore[union-attr]
            name, token, created, revoked = (row[key] for key in ("name", "token", "created", "revoked"))  # type: ignore[index]
            curator = Curator(name.value, token.value, created.value, revoked.value if revoked is not None else None)
            earlier = found.get(curator.name)
            if earlier is None or (earlier.revoked or "~") > (curator.revoked or "~"):
                found[curator.name] = curator
        return tuple(sorted(found.values(), key=lambda curator: (curator.created, curator.name)))

    def add(self, name: str) -> tuple[Curator, str]:
        """Add a curator unless the name is taken, in one update that checks it; read back to know which add won."""
        check_name(name)
        if self._named(name) is not None:
            raise CuratorError(f"a curator named '{name}' exists already")
        token = secrets.token_urlsafe(32)
        curator = Curator(name, hash_token(token), now_stamp())
        subject, value = _subject(name), Literal(name)
        self._store().update(
            f"INSERT {{ GRAPH {_GRAPH} {{ {subject} {_NAME} {value} ; {_TOKEN} {Literal(curator.token_sha256)} ; "
            f"{_CREATED} {Literal(curator.created)} }} }} "
            f"WHERE {{ FILTER NOT EXISTS {{ GRAPH {_GRAPH} {{ ?taken {_NAME} {value} }} }} }}"
        )
        kept = self._named(name)
        if kept is None:
            raise KgError(f"{self._where} did not keep curator '{name}'")
        if kept.token_sha256 != curator.token_sha256:  # another add of the same name came first
            raise CuratorError(f"a curator named '{name}' exists already")
        return curator, token

    def revoke(self, name: str) -> Curator:
        """Revoke a curator's token; its past submissions stay, attributed to it."""
        found = self._named(name)
        if found is None:
            raise CuratorError(f"no curator named '{name}' in {self._where}")
        if not found.active:
            raise CuratorError(f"curator '{name}' was revoked already, at {found.revoked}")
        subject = _subject(name)
        self._store().update(
            f"INSERT {{ GRAPH {_GRAPH} {{ {subject} {_REVOKED} {Literal(now_stamp())} }} }} "
            f"WHERE {{ GRAPH {_GRAPH} {{ {subject} {_NAME} ?name FILTER NOT EXISTS {{ {subject} {_REVOKED} ?when }} }} }}"
        )
        revoked = self._named(name)
        if revoked is None or revoked.active:
            raise KgError(f"{self._where} did not keep the revocation of curator '{name}'")
        return revoked

    def _named(self, name: str) -> Curator | None:
        return next((curator for curator in self.curators() if curator.name == name), None)


def _subject(name: str) -> str:
    return f"<{PRIVATE_GRAPHS}curator:{check_name(name)}>"
