"""A token bucket per client, in this process: how often one address may try to sign in.

It is per process: several dashboard processes behind a balancer each keep their own buckets,
so a client gets `burst` tries from each. Behind a reverse proxy every client has the proxy's
address (uvicorn runs with proxy headers off): limit sign-in at the proxy too.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["TokenBuckets"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """`burst` tries at once per key, refilled at `per_minute`; at most `max_keys` keys held.

    Past `max_keys` the least recently used bucket is forgotten (that client starts full
    again): memory stays bounded however many addresses an attacker uses.
    """

    def __init__(
        self,
        *,
        burst: int,
        per_minute: float,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = float(burst)
        self.rate_s = per_minute / 60.0
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str) -> float:
        """Take one try for `key`: 0.0 if allowed, else the seconds until one is available."""
        now = self._clock()
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate_s)
            bucket.at = now
        self._buckets[key] = bucket
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        if self.rate_s <= 0:
            return float("inf")
        return (1.0 - bucket.tokens) / self.rate_s
