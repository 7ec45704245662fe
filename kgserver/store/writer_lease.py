"""The writer role across machines: a lease kept in the engine, beside the lock file that guards one machine.

Frontends on several machines share one engine, and exactly one of them may commit. A lock
file (location.py) settles that on one machine at once; across machines the writer also
holds a lease in kgserver's private graph (`urn:x-kgserver:writer`): who holds it and until
when. A writer takes it on start only if no other holder's lease is running, renews it every
third of its length, checks it is still its own before every commit, and gives it up when it
stops; a writer that died leaves a lease that runs out after `LEASE_SECONDS`.

Neither Virtuoso nor Oxigraph's server can make "take it if free" one atomic step (a guarded
update is not safe under concurrent updates on either, measured), so the lease is taken, then
read back after `SETTLE_SECONDS`: of two writers started on two machines in the same moment,
the one whose lease the engine kept goes on and the other refuses to start. A writer that
finds at a renewal or before a commit that the lease is another's stops committing (503).
The clocks of the machines are compared through the lease's end (UTC): keep them in step (NTP).
/health tells whether the lease is held, was not renewed (the engine refused the write, as it
does credentials it no longer takes, or did not answer) or was lost to another writer.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TextIO

from pyoxigraph import Literal, NamedNode

from kgserver.errors import InputError, KgError, UnavailableError
from kgserver.store.dialects import LEASE_GRAPH, PRIVATE_GRAPHS
from kgserver.store.interface import GraphStore

LEASE_SECONDS = 30.0  # how long a writer that died blocks another from starting
SETTLE_SECONDS = 0.5  # how long a new lease is left before it is read back: far longer than two requests

_LEASE = f"<{LEASE_GRAPH}>"
_HELD = f"<{PRIVATE_GRAPHS}writer-lease>"  # one literal, "UNTIL HOLDER": two leases written at once stay two, whole
_READ = f"SELECT ?lease WHERE {{ GRAPH {_LEASE} {{ {_LEASE} {_HELD} ?lease }} }}"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lease:
    """Who holds the writer role and until when (seconds since the epoch, UTC)."""

    holder: str
    until: float

    def running(self, now: float) -> bool:
        return self.until > now


class WriterLease:
    """This process's lease on the writer role of one engine: taken, renewed in the background, checked, released."""

    def __init__(self, store: GraphStore, where: str, seconds: float = LEASE_SECONDS) -> None:
        self._store = store
        self._where = where
        self._seconds = seconds
        self.holder = f"pid {os.getpid()}, started {_stamp(time.time())}, {secrets.token_hex(4)}"
        self._lost: str | None = None
        self._until = 0.0  # when the lease this writer last wrote runs out (seconds since the epoch)
        self.written_at = 0.0  # when it last wrote it
        self._write_error: str | None = None  # why its last write of the lease failed, until one succeeds
        self._stop = threading.Event()
        self._renewing: threading.Thread | None = None

    def take(self, settle: float = SETTLE_SECONDS) -> None:
        """Hold the lease, or InputError naming the running lease of another writer."""
        current = self.read()
        if current is not None and current.holder != self.holder and current.running(time.time()):
            raise InputError(f"another server holds the writer role for {self._where} ({current.holder}; "
                             f"its lease runs to {_stamp(current.until)} unless renewed)")
        self._write()
        time.sleep(settle)
        kept = self.read()
        if kept is None or kept.holder != self.holder:
            raise InputError(f"another server took the writer role for {self._where} at the same time "
                             f"({kept.holder if kept else 'no lease kept'})")
        self._renewing = threading.Thread(target=self._renew_until_stopped, name="writer-lease", daemon=True)
        self._renewing.start()

    def check(self) -> None:
        """Before a commit: UnavailableError unless the lease is still this writer's.

        A lease of its own that ran out (the engine was away past a renewal) or is gone
        (the engine's data was wiped) is taken again: no other writer holds one.
        """
        if self._lost:
            raise UnavailableError(f"this server no longer holds the writer role ({self._lost}); nothing was committed")
        current = self.read()
        if current is None or (current.holder == self.holder and not current.running(time.time())):
            self._write()
            current = self.read()
        if current is None or current.holder != self.holder:
            self._lost = f"the engine's lease is {current.holder if current else 'gone'}"
            log.error("writer role lost: %s", self._lost)
            raise UnavailableError(f"this server no longer holds the writer role ({self._lost}); nothing was committed")

    def release(self) -> None:
        """Stop renewing and give the lease up, if it is still this writer's."""
        self._stop.set()
        if self._renewing is not None:
            self._renewing.join(timeout=5)
        try:
            self._store.update(
                f"DELETE {{ GRAPH {_LEASE} {{ {_LEASE} {_HELD} ?lease }} }} WHERE {{ GRAPH {_LEASE} {{ {_LEASE} {_HELD} ?lease "
                f"FILTER(STRENDS(?lease, {Literal(' ' + self.holder)})) }} }}"
            )
        except KgError as error:  # it runs out by itself
            log.warning("the writer's lease in %s was not given up (%s); it runs out in %.0f s",
                        self._where, error.message, self._seconds)

    def status(self) -> dict[str, str]:
        """What /health says of the lease: held, not renewed (and why), or lost to another writer."""
        if self._lost:
            return {"lease": "lost", "lease_error": self._lost}
        said = {"lease": "held" if self._write_error is None else "not renewed", "lease_runs_to": _stamp(self._until)}
        return said | ({"lease_error": self._write_error} if self._write_error else {})

    def problem(self) -> str | None:
        """Why this writer cannot count on committing now (its lease lost, or its last renewal refused); None if it can."""
        if self._lost:
            return f"this server no longer holds the writer role ({self._lost})"
        if self._write_error:
            return f"this writer's lease in the engine was not renewed ({self._write_error})"
        return None

    def read(self) -> Lease | None:
        """The lease as the engine holds it now (the latest, if two were written at once)."""
        leases = []
        for row in self._store.query(_READ, named_graphs=[NamedNode(LEASE_GRAPH)]):  # type: ignore[union-attr]
            until, _, holder = row["lease"].value.partition(" ")  # type: ignore[index, union-attr]
            leases.append(Lease(holder, float(until)))
        return max(leases, key=lambda lease: lease.until, default=None)

    def _write(self) -> None:
        """Replace whatever lease the engine holds with this writer's, running `seconds` from now.

        Two operations in one request (Virtuoso inserts nothing for a DELETE/INSERT whose WHERE
        matches nothing, even under OPTIONAL); where they are not applied together (Virtuoso)
        a lease deleted but not written is read back as none, and the writer does not start.
        """
        until = time.time() + self._seconds
        try:
            self._store.update(
                f"DELETE WHERE {{ GRAPH {_LEASE} {{ {_LEASE} ?p ?o }} }} ; "
                f"INSERT DATA {{ GRAPH {_LEASE} {{ {_LEASE} {_HELD} {Literal(f'{until:.3f} {self.holder}')} }} }}"
            )
        except KgError as error:
            self._write_error = error.message
            raise
        self._until, self.written_at, self._write_error = until, time.time(), None

    def _renew_until_stopped(self) -> None:
        """Renew every third of the lease's length; stop for good once another writer holds it."""
        while not self._stop.wait(self._seconds / 3):
            try:
                current = self.read()
                if current is not None and current.holder != self.holder:
                    self._lost = f"the engine's lease is {current.holder}"
                    log.error("writer role lost: %s; this server commits no more", self._lost)
                    return
                self._write()
            except KgError as error:  # the engine is away: try again at the next turn; a commit checks first
                log.warning("the writer's lease in %s was not renewed: %s", self._where, error.message)


def _stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))



class WriterRole:
    """The writer role for an engine as one process holds it: the lock file on this machine and the lease in the engine."""

    def __init__(self, lock: TextIO, lease: WriterLease) -> None:
        self._lock = lock
        self._lease = lease

    @property
    def lease(self) -> WriterLease:
        """The lease in the engine, whose state /health reports."""
        return self._lease

    def check(self) -> None:
        """Before a commit: UnavailableError unless this process still holds the role."""
        self._lease.check()

    def close(self) -> None:
        """Give the role up: the lease first (another machine's writer may start at once), then the lock file."""
        if self._lock.closed:
            return
        self._lease.release()
        self._lock.close()
