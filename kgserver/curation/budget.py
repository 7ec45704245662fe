"""How much checking a client may use: seconds of CPU per minute, as the Wikidata Query Service meters query time.

Checks run one at a time (pySHACL's parsed queries are shared: curation/checks.py), so a client
that sends additions in a loop, each within the limits of curation/payloads.py (about 2 s at
most), would hold the checker and make every curator wait. Each client (its token, else its
address and User-Agent, as sparql/scheduling.py counts them) has a bucket of `budget` seconds
that refills at budget/60 a second. What a check costs is the CPU time of the thread that read,
parsed and checked the addition: the time it waited for another client's check is not its own.
It is taken from the bucket afterwards, and while the bucket is empty a check is refused with
429 and Retry-After, before its body is parsed.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from kgserver.errors import TooManyRequestsError

_WINDOW_SECONDS = 60.0
_KEPT_BEFORE_SWEEP = 1024  # a client may name itself anew with each request (its User-Agent): its entry must not stay


class CheckBudget:
    """Every client's bucket of checking seconds; a full bucket is not kept (it is where a new client starts)."""

    def __init__(self, budget: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._budget = budget
        self._clock = clock
        self._spent: dict[str, tuple[float, float]] = {}  # client: (seconds owed below a full bucket, as of when)
        self._lock = threading.Lock()

    @contextmanager
    def spending(self, client: str) -> Iterator[None]:
        """Run a check on `client`'s account: refused (429) while its bucket is empty, charged its CPU seconds after."""
        if self._budget <= 0:  # 0: no limit
            yield
            return
        self._admit(client)
        started = time.thread_time()
        try:
            yield
        finally:
            self._charge(client, time.thread_time() - started)

    def _owed(self, client: str, now: float) -> float:
        """What `client` owes now, the refill since it was last charged taken off; a client owing nothing is forgotten."""
        owed, when = self._spent.get(client, (0.0, now))
        owed -= (now - when) * self._budget / _WINDOW_SECONDS
        if owed <= 0:
            self._spent.pop(client, None)
            return 0.0
        return owed

    def _admit(self, client: str) -> None:
        with self._lock:
            now = self._clock()
            overdrawn = self._owed(client, now) - self._budget
        if overdrawn >= 0:
            wait = max(1, math.ceil(overdrawn * _WINDOW_SECONDS / self._budget))
            raise TooManyRequestsError(
                f"this client has used its {self._budget:g} s of checking per minute (additions checked or submitted "
                f"run one at a time, so each client has a share); retry in {wait} s",
                retry_after=wait,
            )

    def _charge(self, client: str, seconds: float) -> None:
        with self._lock:
            now = self._clock()
            self._spent[client] = (self._owed(client, now) + seconds, now)
            if len(self._spent) > _KEPT_BEFORE_SWEEP:  # clients that never came back: forget those whose bucket is full
                for other in list(self._spent):
                    self._owed(other, now)
