"""Failed logins, counted per client address: after too many, the login waits.

The dashboard's login form (``mltracker.server.dashboard``) asks :meth:`FailedLogins.wait`
before it checks a token, and tells it of each failure and success. After ``limit`` failures
of one address within ``window`` seconds, every attempt of that address (a right token too)
is answered 429 with ``Retry-After`` until the oldest of them is ``window`` seconds old; a
success forgets the address's failures. A guess costs an attacker a minute per ``limit``
tries, not a request.

The address is the connection's (behind a reverse proxy, the proxy's: all its users share
one count). Each server process counts its own (``--workers N``). Called from the server's
event loop only, so it takes no lock.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ["LIMIT", "WINDOW_SECONDS", "FailedLogins"]

#: Failed logins of one address allowed within the window.
LIMIT = 5
WINDOW_SECONDS = 60.0
#: The most addresses remembered; past it, those whose failures are oldest are forgotten.
_MOST_ADDRESSES = 10_000


class FailedLogins:
    """The failed logins of each client address within the last ``window`` seconds."""

    def __init__(
        self,
        limit: int = LIMIT,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def wait(self, address: str) -> float:
        """How many seconds ``address`` must wait before its next attempt (0: none)."""
        failures = self._failures.get(address)
        if failures is None:
            return 0.0
        now = self._clock()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return 0.0
        if len(failures) < self.limit:
            return 0.0
        return failures[0] + self.window - now

    def failed(self, address: str) -> None:
        """Count a failed login of ``address``."""
        failures = self._failures.pop(address, None) or deque(maxlen=self.limit)
        failures.append(self._clock())
        self._failures[address] = failures  # last in the dict: the most recent
        if len(self._failures) > _MOST_ADDRESSES:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, address: str) -> None:
        """Forget the failures of ``address``."""
        self._failures.pop(address, None)
