"""Sign-in throttling: an exponential delay after failed attempts, per client and per account.

Nothing is locked: after :attr:`LoginThrottle.free_failures` failures within
``failure_window_s``, each further failure makes the next attempt wait
``base_delay_s * 2 ** (failures - free_failures)`` seconds (capped at ``max_delay_s``). The
client address and the account (a staff user name, a participant id) are counted apart:

- a client that is waiting is refused at once (HTTP 429 with ``Retry-After``), before any
  password is checked, so a guessing client slows to a crawl;
- an account that is waiting still admits its owner when the password *and* the second factor
  are right (the attacker does not hold the second factor), so knowing a user name is not
  enough to keep its owner out.

The counters live in a :mod:`limits` storage (``memory://`` for one process; ``redis://host``
when several processes serve the API, so they share the counts). Counters and delays use the
storage's own clock (wall time), not the application clock.

>>> t = LoginThrottle("memory://", free_failures=2, base_delay_s=1, max_delay_s=8)
>>> [t.failed("client", "10.0.0.9") for _ in range(4)]
[1, 2, 3, 4]
>>> 1.5 < t.wait_s("client", "10.0.0.9") <= 4.0   # 2 ** (4 - 2) seconds
True
"""

from __future__ import annotations

import time

from limits import parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from openatd.errors import TooManyAttempts

__all__ = ["LoginThrottle", "TooManyAttempts"]


class LoginThrottle:
    """Failure counters and delays for one kind of sign-in (staff log-in, participant codes).

    Args:
        storage_uri: a :mod:`limits` storage URI (``memory://``, ``redis://host:6379``).
        prefix: keeps the counters of different sign-ins apart in a shared storage.
        free_failures: failures allowed before any delay.
        base_delay_s: the first delay, seconds; doubles with each further failure.
        max_delay_s: the longest delay, seconds.
        failure_window_s: failures are forgotten this long after the first one, seconds.
        client_rate: a plain ceiling on attempts per client whatever their outcome, in the
            :mod:`limits` notation ("30/minute").
    """

    def __init__(
        self,
        storage_uri: str = "memory://",
        *,
        prefix: str = "openatd:login",
        free_failures: int = 5,
        base_delay_s: float = 5.0,
        max_delay_s: float = 900.0,
        failure_window_s: float = 3600.0,
        client_rate: str = "30/minute",
    ) -> None:
        storage = (
            MemoryStorage() if storage_uri == "memory://" else storage_from_string(storage_uri)
        )
        if not isinstance(storage, Storage):
            raise ValueError(f"{storage_uri!r} is an asynchronous storage; use a synchronous one")
        self.storage: Storage = storage
        self.prefix = prefix
        self.free_failures = free_failures
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.failure_window_s = failure_window_s
        self.client_rate = parse(client_rate)
        self._rate = MovingWindowRateLimiter(self.storage)

    def _key(self, scope: str, key: str, kind: str) -> str:
        return f"{self.prefix}:{scope}:{kind}:{key[:200]}"

    def failures(self, scope: str, key: str) -> int:
        """Failures counted for *key* in *scope* (``"client"``, ``"account"``)."""
        return int(self.storage.get(self._key(scope, key, "fails")) or 0)

    def wait_s(self, scope: str, key: str) -> float:
        """Seconds *key* must still wait (0.0 when it may try now)."""
        block = self._key(scope, key, "block")
        if not self.storage.get(block):
            return 0.0
        return max(0.0, float(self.storage.get_expiry(block)) - time.time())

    def delay_for(self, failures: int) -> float:
        """The delay after the *failures*-th failure, seconds (0 while failures are free)."""
        if failures < self.free_failures:
            return 0.0
        return float(
            min(self.max_delay_s, self.base_delay_s * 2 ** (failures - self.free_failures))
        )

    def failed(self, scope: str, key: str) -> int:
        """Count one failure for *key* and start its delay; returns the failures counted."""
        n = int(self.storage.incr(self._key(scope, key, "fails"), int(self.failure_window_s)))
        delay = self.delay_for(n)
        if delay > 0:
            block = self._key(scope, key, "block")
            self.storage.clear(block)
            self.storage.incr(block, max(1, int(delay + 0.999)))
        return n

    def succeeded(self, scope: str, key: str) -> int:
        """Forget *key*'s failures and delay; returns how many failures there were."""
        n = self.failures(scope, key)
        self.storage.clear(self._key(scope, key, "fails"))
        self.storage.clear(self._key(scope, key, "block"))
        return n

    def hit_client(self, client: str) -> bool:
        """Count one attempt of *client* against :attr:`client_rate`; False when over it."""
        return bool(self._rate.hit(self.client_rate, self.prefix, "rate", client))

    def client_rate_reset_s(self, client: str) -> float:
        """Seconds until *client* is under :attr:`client_rate` again."""
        stats = self._rate.get_window_stats(self.client_rate, self.prefix, "rate", client)
        return max(1.0, float(stats.reset_time) - time.time())
