"""Light and heavy queries: who may hold the query processes, so light queries are never starved.

Every query starts light. One whose process has spent `heavy_after` seconds of CPU on it is
heavy from then on (waiting for a CPU on a busy machine does not make a query heavy): it is
counted against the server's heavy share (at most `heavy_share` heavy queries at once, fewer
than the query processes, so a light query always finds a process) and against its client's
limits: at most `heavy_per_client` heavy queries at once, and `heavy_budget` seconds of heavy
query time per minute, refilled continuously (the Wikidata Query Service's 60 s per 60 s is
the model). A query that turns heavy past a limit is stopped and its client told why: 429
with Retry-After for the client's own limits, 503 for the server's share. A light query is
never refused for a budget.

A client is its address and User-Agent, as the Wikidata Query Service keys it, or its token
when it sends an Authorization header. Shapes (lexer.shape: the text without its constants)
of queries that turned heavy are remembered, so the next query of that shape starts at low
CPU priority at once, counted heavy from its start where the limits allow (its process then
leaves the light queries' places to them, instead of holding one at low priority until it has
used `heavy_after` seconds of CPU); the scheduler never refuses a query for its shape, only for
what it did.
The time each shape's light runs take is remembered too: when every query process is busy,
the waiting queries are served in the order of their arrival plus that expected time, and
those expected to take longer than QUICK_SECONDS leave the last process to quicker ones (pool.py).
Light queries all run at the same priority: a light aggregation made to yield to lookups
(tried at nice 5) was what set the light queries' p99 under load.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from kgserver.config import ServerSettings
from kgserver.errors import TooManyRequestsError, UnavailableError

_WINDOW_SECONDS = 60.0
_SHAPES_REMEMBERED = 1024
_UNKNOWN_SECONDS = 0.01  # what a query of a shape never seen is expected to take
_SMOOTHING = 0.3  # weight of the newest run in a shape's expected time
QUICK_SECONDS = 0.02  # a light query expected to take longer may not hold the last process light queries use


@dataclass(frozen=True)
class Limits:
    """The scheduling limits, read from the server's settings."""

    heavy_after: float
    heavy_share: int
    heavy_per_client: int
    heavy_budget: float  # seconds of heavy query time per client per minute

    @classmethod
    def of(cls, settings: ServerSettings) -> Limits:
        return cls(
            settings.heavy_after, settings.effective_heavy_share, settings.heavy_per_client, settings.heavy_budget
        )


def client_key(remote_addr: str | None, user_agent: str | None, authorization: str | None) -> str:
    """Who a request is from, for fairness: its token when it sends one, else its address and User-Agent."""
    if authorization:
        return "token " + hashlib.sha256(authorization.encode("utf-8", "replace")).hexdigest()[:16]
    return f"{remote_addr or '-'} {user_agent or '-'}"


@dataclass(eq=False)
class Ticket:
    """One query being answered: whose it is, its shape, when it started and must end, and whether it turned heavy."""

    client: str
    shape: str
    started: float
    deadline: float
    heavy: bool = False
    finished: bool = False
    check_heavy: float = 0.0  # when the gate next looks at whether the query has turned heavy
    cpu_start: float = 0.0  # CPU seconds its process had used when it began
    presumed: bool = False  # counted heavy from its start for its shape, not for the CPU it used
    cpu_used: float | None = None  # CPU seconds its process spent on it, known when it ends normally


@dataclass
class _Client:
    """A client's heavy queries now running and its budget, a bucket refilled continuously up to its size."""

    balance: float
    updated: float
    running: list[Ticket] = field(default_factory=list)


class Scheduler:
    """Decides, when a query turns heavy, whether it may go on; keeps each client's heavy time."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._clients: dict[str, _Client] = {}
        self._heavy: list[Ticket] = []
        self._shapes: OrderedDict[str, None] = OrderedDict()  # shapes whose last run turned heavy
        self._costs: OrderedDict[str, float] = OrderedDict()  # seconds a shape's light runs take, smoothed

    @property
    def heavy_running(self) -> int:
        return len(self._heavy)

    def predicted_heavy(self, shape: str) -> bool:
        """Whether the last query of this shape turned heavy (and none has run light since)."""
        with self._lock:
            return bool(shape) and shape in self._shapes

    def promote_predicted(self, ticket: Ticket) -> bool:
        """Count a query of a shape presumed heavy as heavy from its start, if every limit allows it now.

        Where a limit is reached it stays light (never refused for its shape) and is judged by
        the CPU it then uses, as any other query is.
        """
        if not self.predicted_heavy(ticket.shape):
            return False
        try:
            self.promote(ticket, refusable=True, charge_refusal=False)
        except (TooManyRequestsError, UnavailableError):
            return False
        ticket.presumed = True
        return True

    def expected_seconds(self, shape: str) -> float:
        """How long a query of this shape is expected to hold its process: what orders the queries that wait."""
        with self._lock:
            if shape in self._shapes:
                return self.limits.heavy_after
            return self._costs.get(shape, _UNKNOWN_SECONDS)

    def promote(self, ticket: Ticket, refusable: bool = True, charge_refusal: bool = True) -> None:
        """Count a query that has run `heavy_after` seconds as heavy, or refuse it (when `refusable`) past a limit.

        A query whose answer has started to stream cannot be refused any more; it is counted.
        A refusal ends the query and charges the time it ran, unless `charge_refusal` is false
        (a query only presumed heavy, which goes on light).
        """
        with self._lock:
            now = self._clock()
            self._remember(ticket.shape)
            client = self._client(ticket.client, now)
            if refusable:
                try:
                    self._admit(client, ticket, now)
                except (TooManyRequestsError, UnavailableError):
                    if charge_refusal:
                        ticket.finished = True  # stopped now: the time it ran is charged, as for any heavy query
                        client.balance -= now - ticket.started
                    raise
            client.running.append(ticket)
            self._heavy.append(ticket)
            ticket.heavy = True

    def _remember(self, shape: str) -> None:
        if shape:
            self._shapes[shape] = None
            self._shapes.move_to_end(shape)
            while len(self._shapes) > _SHAPES_REMEMBERED:
                self._shapes.popitem(last=False)

    def finish(self, ticket: Ticket) -> None:
        """A query ended (answered, refused, stopped): charge a heavy one's time to its client."""
        with self._lock:
            if ticket.finished:
                return
            ticket.finished = True
            now = self._clock()
            if not ticket.heavy:
                self._shapes.pop(ticket.shape, None)  # this shape ran light: no longer presumed heavy
                self._learn(ticket.shape, now - ticket.started)
                return
            if ticket.presumed and ticket.cpu_used is not None and ticket.cpu_used < self.limits.heavy_after:
                self._shapes.pop(ticket.shape, None)  # presumed heavy, yet it ran light: no longer presumed
            self._heavy.remove(ticket)
            client = self._client(ticket.client, now)
            client.running.remove(ticket)
            client.balance -= now - ticket.started
            if not client.running and client.balance >= self.limits.heavy_budget:
                del self._clients[ticket.client]

    def _learn(self, shape: str, seconds: float) -> None:
        if not shape:
            return
        before = self._costs.pop(shape, None)
        self._costs[shape] = seconds if before is None else before + _SMOOTHING * (seconds - before)
        while len(self._costs) > _SHAPES_REMEMBERED:
            self._costs.popitem(last=False)

    def _client(self, key: str, now: float) -> _Client:
        """The client's record, its bucket refilled for the time since it was last looked at."""
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = _Client(self.limits.heavy_budget, now)
            return client
        rate = self.limits.heavy_budget / _WINDOW_SECONDS
        client.balance = min(self.limits.heavy_budget, client.balance + (now - client.updated) * rate)
        client.updated = now
        return client

    def _admit(self, client: _Client, ticket: Ticket, now: float) -> None:
        """Raise the refusal a query turning heavy gets, if any limit is reached."""
        limits = self.limits
        if len(client.running) >= limits.heavy_per_client:
            raise TooManyRequestsError(
                f"too many heavy queries at once from this client: {len(client.running)} running, the most one client "
                f"may run at once is {limits.heavy_per_client}; retry when one has finished "
                f"(a heavy query is one that uses more than {limits.heavy_after:g} s of CPU)",
                retry_after=_seconds(min(t.deadline for t in client.running) - now),
            )
        spent = sum(now - t.started for t in [*client.running, ticket]) - client.balance
        if spent >= 0:
            rate = limits.heavy_budget / _WINDOW_SECONDS
            raise TooManyRequestsError(
                f"this client has used its {limits.heavy_budget:g} s of heavy query time per minute; light queries "
                f"(under {limits.heavy_after:g} s of CPU) are still answered, heavy ones again in a while",
                retry_after=_seconds(spent / rate if rate > 0 else _WINDOW_SECONDS),
            )
        if len(self._heavy) >= limits.heavy_share:
            raise UnavailableError(
                f"server busy: {len(self._heavy)} heavy queries are running, the most it runs at once; retry shortly",
                retry_after=_seconds(min(t.deadline for t in self._heavy) - now),
            )


def _seconds(value: float) -> int:
    """A Retry-After value: whole seconds, at least one."""
    return max(1, math.ceil(value))
