"""Where the data is held: an embedded store's directory, or an engine's name and URL; opened here for reading.

A command is given `--store DIR` (the embedded default) or `--engine virtuoso|oxigraph
--engine-url URL` (or LDNKG_ENGINE and LDNKG_ENGINE_URL). An engine's credentials, which
only writes need, come from the environment (LDNKG_ENGINE_USER and LDNKG_ENGINE_PASSWORD) or
from a file named by LDNKG_ENGINE_CREDENTIALS holding `user:password`: never from a command
line, where any user of the machine can read them, and never written to a log or an answer.
"""

from __future__ import annotations

import atexit
import dataclasses
import fcntl
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from kgserver.errors import InputError
from kgserver.store.dialects import DIALECTS
from kgserver.store.embedded import open_read_only, require_store
from kgserver.store.interface import GraphStore
from kgserver.store.remote import Credentials, RemoteStore
from kgserver.store.writer_lease import WriterLease, WriterRole


@dataclass(frozen=True)
class StoreLocation:
    """The embedded store at `path`, or the store an engine (`engine`, at `url`) holds."""

    path: Path | None = None
    engine: str | None = None
    url: str | None = None

    @classmethod
    def given(cls, path: Path | None, engine: str | None, url: str | None) -> StoreLocation:
        """The location a command was given (an engine also from LDNKG_ENGINE/LDNKG_ENGINE_URL); InputError if unclear."""
        engine = engine or os.environ.get("LDNKG_ENGINE") or None
        url = url or os.environ.get("LDNKG_ENGINE_URL") or None
        if engine is None and url is None:
            if path is None:
                raise InputError("no store given: pass --store DIR, or --engine NAME --engine-url URL")
            return cls(path=path)
        if path is not None:
            raise InputError("give --store DIR or --engine with --engine-url, not both")
        if engine is None:
            raise InputError(f"--engine-url needs --engine NAME, the engine's kind: one of {', '.join(sorted(DIALECTS))}")
        if engine not in DIALECTS:
            raise InputError(f"unknown engine {engine!r}: kgserver speaks to {', '.join(sorted(DIALECTS))}")
        if url is None:
            raise InputError(f"--engine {engine} needs --engine-url (the engine's base URL, such as http://host:8890)")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018  (read for its check: a port out of range or not a number raises)
        except ValueError:
            raise InputError(f"--engine-url must be an http(s) URL of the engine, not {url!r}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"--engine-url must be an http(s) URL of the engine, not {url!r}")
        if parts.username or parts.password:
            raise InputError("--engine-url must not carry credentials: set LDNKG_ENGINE_USER and LDNKG_ENGINE_PASSWORD")
        return cls(engine=engine, url=url.rstrip("/"))

    @classmethod
    def of(cls, place: StoreLocation | Path) -> StoreLocation:
        """A location from a store's directory (the embedded store) or a location already made."""
        return place if isinstance(place, StoreLocation) else cls(path=place)

    @property
    def embedded(self) -> bool:
        return self.path is not None

    @property
    def local_path(self) -> Path:
        """Where this machine keeps what lies beside a store (dump files, an embedded store's curators) as if it were one.

        The store's own directory when embedded; for an engine, a directory named after the engine
        and its URL under LDNKG_STATE_DIR, or the system's temporary directory when that is not set
        (a writer should set it: WRITER.lock and the search index live there; an engine keeps its
        curators itself, curation/engine_curators.py). LDNKG_DUMP_DIR
        may put the dumps elsewhere.
        """
        if self.path is not None:
            return self.path
        digest = hashlib.sha256(f"{self.engine} {self.url}".encode()).hexdigest()[:12]
        parent = Path(os.environ.get("LDNKG_STATE_DIR") or tempfile.gettempdir())
        return parent / f"kgserver-{self.engine}-{digest}" / "store"

    def __str__(self) -> str:
        return str(self.path) if self.path is not None else f"{self.engine} at {self.url}"

    def require(self) -> None:
        """Fail in one line unless the data is there: a built store, or an engine that answers a query."""
        if self.path is not None:
            require_store(self.path)
            return
        store = self.open_reader(read_seconds=10.0)
        try:
            store.query("ASK { ?s ?p ?o }")
        finally:
            store.close()  # type: ignore[attr-defined]

    def hold_writer_role(self) -> WriterRole:
        """The writer role for an engine: an exclusive lock on WRITER.lock beside the local files, and the engine's
        lease (writer_lease.py) for writers on other machines; InputError if either is another's.

        Neither Virtuoso nor Oxigraph's server makes a guarded version bump safe under
        concurrent updates, so the one writer is made one here, not by the engine's transactions.
        The role lasts until the returned role is closed (at the latest, until the process ends).
        """
        path = self.local_path.with_name("WRITER.lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = try_lock(path)
        if handle is None:
            raise InputError(f"another server holds the writer role for {self} ({path} is locked)")
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        lease = WriterLease(self.open_reader(read_seconds=10.0), str(self))
        try:
            lease.take()
        except BaseException:
            handle.close()
            raise
        role = WriterRole(handle, lease)
        atexit.register(role.close)
        return role

    def open_reader(self, read_seconds: float = 60.0, researchers: bool = False) -> GraphStore:
        """The store, for reading: the embedded one read-only, or a connection pool to the engine.

        `read_seconds` bounds the wait for an engine's answer, and is the time limit the engine
        is asked to keep (so it is never lower than the caller's). What kgserver reads and
        publishes itself (dumps, VoID, pages, search, checks) names the dataset's graphs on every
        engine, so kgserver's private graphs (curators' token hashes, the writer's lease) are in
        none of it. Researchers' own queries (`researchers`: the endpoint, `kgserver query`) get
        an engine's union where it has one, as Oxigraph's server does, at no cost per graph.
        """
        if self.path is not None:
            return open_read_only(self.path)
        assert self.engine is not None and self.url is not None
        dialect = DIALECTS[self.engine]
        if not researchers:
            dialect = dataclasses.replace(dialect, names_dataset_graphs=True)
        return RemoteStore(self.url, dialect, credentials(), read_seconds=read_seconds)


def credentials() -> Credentials | None:
    """The engine's user and password, from LDNKG_ENGINE_USER/_PASSWORD or the LDNKG_ENGINE_CREDENTIALS file."""
    user, password = os.environ.get("LDNKG_ENGINE_USER"), os.environ.get("LDNKG_ENGINE_PASSWORD")
    if user and password is not None:
        return Credentials(user, password)
    named = os.environ.get("LDNKG_ENGINE_CREDENTIALS")
    if not named:
        return None
    try:
        line = Path(named).read_text(encoding="utf-8").strip().splitlines()[0]
    except (OSError, IndexError):
        raise InputError(f"{named}: cannot read the engine's credentials (one line, user:password)") from None
    user, _, password = line.partition(":")
    if not user or not _:
        raise InputError(f"{named}: the engine's credentials must be one line, user:password")
    return Credentials(user, password)


def try_lock(path: Path) -> TextIO | None:
    """An exclusive lock on the file `path` (made if missing), held while the returned file stays open; None if taken."""
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle
