"""Curators and their bearer tokens: a small registry file beside the store, read by the CLI and the server.

The registry lives at `<store>.curators.json`, beside the store directory rather than in it,
so a rebuild that swaps the store directory keeps it. Tokens are shown once, when a
curator is added, and only their SHA-256 hashes are kept. Writes go to a temporary file
that is synced and renamed over the registry, under a lock file, so concurrent CLI runs
never lose a change and a reader never sees half a file. The server notices a changed
file (another inode, mtime or size) and re-reads it, so `curator add` and `curator revoke`
take effect on a running server at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from kgserver.errors import InputError, KgError

NAME_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
_NAME_RULE = "1 to 64 lowercase letters, digits and inner hyphens, such as 'ada' or 'j-smith-2'"


class CuratorError(InputError):
    """A curator command that cannot be done as asked (a taken name, an unknown curator); exit status 1."""

    exit_code = 1


class TokenRefused(KgError):
    """A bearer token that names no active curator: unknown, or its curator was revoked."""

    http_status = 403


@dataclass(frozen=True)
class Curator:
    """One curator: a name, the hash of its token, when it was added and, if so, revoked."""

    name: str
    token_sha256: str
    created: str
    revoked: str | None = None

    @property
    def active(self) -> bool:
        """A revoked curator's token opens nothing."""
        return self.revoked is None


def registry_path(store_dir: Path) -> Path:
    """Where a store's curators are kept: beside the store, so rebuilds keep them."""
    return store_dir.with_name(f"{store_dir.name}.curators.json")


def agent_iri(base: str, name: str) -> str:
    """The curator as a PROV agent in the graph, so additions can be found by who made them."""
    return f"{base}id/curator/{name}"


def check_name(name: str) -> str:
    """Refuse names that could not be part of an IRI unchanged: bad input (exit 2), not a refusal of the registry's (1)."""
    if not NAME_PATTERN.fullmatch(name):
        raise InputError(f"'{name}' is not a curator name: use {_NAME_RULE}")
    return name


def hash_token(token: str) -> str:
    """What is stored of a token: its SHA-256, so the registry file alone grants nothing."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def read_curators(path: Path) -> tuple[Curator, ...]:
    """The curators in a registry file; none when there is no file yet."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ()
    except (OSError, ValueError) as error:
        raise KgError(f"{path}: cannot read the curator registry ({error})") from None
    problem = _shape_problem(document)
    if problem:
        raise KgError(f"{path}: not a curator registry ({problem}); restore it from a backup, or fix it by hand")
    return tuple(Curator(**entry) for entry in document.get("curators", []))


_FIELDS = {"name": str, "token_sha256": str, "created": str, "revoked": (str, type(None))}
_REQUIRED = ("name", "token_sha256", "created")


def _shape_problem(document: object) -> str:
    """What keeps a parsed registry file from being {"curators": [entries]}, in words; empty when nothing does.

    The file is written by `_write` only, so another shape is damage or a hand's edit; found
    here, it is one line naming the file rather than a failure deep in a command or a request.
    """
    if not isinstance(document, dict) or not isinstance(document.get("curators", []), list):
        return 'it must be a JSON object whose "curators" is a list'
    names: set[str] = set()
    for number, entry in enumerate(document.get("curators", []), 1):
        problem = _entry_problem(entry)
        if problem:
            return f"curator {number}: {problem}"
        if entry["name"] in names:
            return f"curator {number}: the name {entry['name']!r} is given twice"
        names.add(entry["name"])
    return ""


def _entry_problem(entry: object) -> str:
    """What is wrong with one curator's entry, in words; empty when nothing is."""
    if not isinstance(entry, dict):
        return "not a JSON object"
    missing = [name for name in _REQUIRED if name not in entry]
    if missing:
        return f"no {', '.join(missing)}"
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        return f"unknown fields {', '.join(map(str, unknown))}"
    wrong = [name for name, kinds in _FIELDS.items() if name in entry and not isinstance(entry[name], kinds)]
    if wrong:
        return f"{', '.join(wrong)} not a string"
    return "" if NAME_PATTERN.fullmatch(entry["name"]) else f"{entry['name']!r} is not a curator name ({_NAME_RULE})"


def add_curator(path: Path, name: str) -> tuple[Curator, str]:
    """Add a curator and make its token; the token is returned once and never stored."""
    check_name(name)
    token = secrets.token_urlsafe(32)
    with _locked(path):
        curators = read_curators(path)
        if any(curator.name == name for curator in curators):
            raise CuratorError(f"a curator named '{name}' exists already")
        curator = Curator(name, hash_token(token), now_stamp())
        _write(path, (*curators, curator))
    return curator, token


def revoke_curator(path: Path, name: str) -> Curator:
    """Revoke a curator's token; its past submissions stay, attributed to it."""
    with _locked(path):
        curators = read_curators(path)
        found = next((curator for curator in curators if curator.name == name), None)
        if found is None:
            raise CuratorError(f"no curator named '{name}' in {path}")
        if not found.active:
            raise CuratorError(f"curator '{name}' was revoked already, at {found.revoked}")
        revoked = replace(found, revoked=now_stamp())
        _write(path, tuple(revoked if curator.name == name else curator for curator in curators))
    return revoked


def find_by_token(curators: tuple[Curator, ...], token: str) -> Curator | None:
    """The curator whose token this is (revoked or not), compared in constant time."""
    digest = hash_token(token)
    match = None
    for curator in curators:
        if hmac.compare_digest(curator.token_sha256, digest):
            match = curator
    return match


class Registry(Protocol):
    """Where a store's curators are kept: a file beside an embedded store, or the engine's private graph."""

    def curators(self) -> tuple[Curator, ...]: ...

    def add(self, name: str) -> tuple[Curator, str]: ...

    def revoke(self, name: str) -> Curator: ...


def authenticate(registry: Registry, token: str) -> Curator:
    """The active curator holding `token`; anything else is refused with 403."""
    curator = find_by_token(registry.curators(), token)
    if curator is None:
        raise TokenRefused("this token belongs to no curator of this server")
    if not curator.active:
        raise TokenRefused(f"the token of curator '{curator.name}' was revoked at {curator.revoked}")
    return curator


class CuratorRegistry:
    """The registry file beside an embedded store, as the server sees it: re-read whenever the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._curators: tuple[Curator, ...] = ()

    def curators(self) -> tuple[Curator, ...]:
        """The curators as the file holds them now; stat is cheap, so it is checked on every call."""
        try:
            stat = self.path.stat()
            signature: tuple[int, int, int] | None = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            signature = None
        with self._lock:
            if signature != self._seen:
                self._curators = read_curators(self.path) if signature else ()
                self._seen = signature
            return self._curators

    def add(self, name: str) -> tuple[Curator, str]:
        """Add a curator to the file; its token is returned once."""
        return add_curator(self.path, name)

    def revoke(self, name: str) -> Curator:
        """Revoke a curator in the file."""
        return revoke_curator(self.path, name)


def now_stamp() -> str:
    """UTC to the second: what `curator list` shows."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the registry's lock file, so two CLI runs never write over each other's change."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write(path: Path, curators: tuple[Curator, ...]) -> None:
    """Replace the registry atomically: a synced temporary file renamed over it, then the directory synced."""
    document = {"curators": [asdict(curator) for curator in curators]}
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(document, file, indent=2)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
