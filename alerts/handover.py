"""Homes changing hands between rules-engine workers: what a worker keeps of the messages of
homes it does not own, and what it holds for homes it is taking over while it rebuilds them.

A worker sees every message (plain subscriptions) and judges only its own homes'. When a
member dies, the message its owner took but never judged is nowhere else: readings are in
InfluxDB, which the new owner's rebuild reads, but an event is replayed from `Recent`, and the
alert store's one-alert-per-event check makes judging it twice harmless.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from hof.mqtt import Delivery

__all__ = ["HELD_MAX", "Recent", "Takeover", "home_of"]

HELD_MAX = 100_000  # messages held for homes being rebuilt; past it the oldest go (counted)


def home_of(topic: str) -> str | None:
    """The home level of a contract topic, without validating it (None if it has none)."""
    parts = topic.split("/", 4)
    return parts[2] if len(parts) == 5 else None


class Recent:
    """Messages of other workers' homes from the last `window_s`, at most `limit` of them."""

    def __init__(self, window_s: float, limit: int) -> None:
        self.window_s = window_s
        self._kept: deque[tuple[str, Delivery]] = deque(maxlen=limit)

    def add(self, home: str, delivery: Delivery) -> None:
        if self.window_s <= 0:
            return
        self._kept.append((home, delivery))
        self._expire(delivery.received_at)

    def _expire(self, now: float) -> None:
        while self._kept and now - self._kept[0][1].received_at > self.window_s:
            self._kept.popleft()

    def take(self, wants: Callable[[str], bool]) -> list[Delivery]:
        """The kept messages of the homes `wants`, oldest first (they stay kept)."""
        self._expire(time.time())
        return [d for home, d in self._kept if wants(home)]

    def __len__(self) -> int:
        return len(self._kept)


@dataclass(eq=False)
class Takeover:
    """Homes this worker has gained (`gained(home)`) and is rebuilding; what arrives for them
    meanwhile is held, and judged in order once their state is rebuilt."""

    gained: Callable[[str], bool]
    started: float = field(default_factory=time.monotonic)
    held: deque[Delivery] = field(default_factory=deque)
    dropped: int = 0

    def hold(self, delivery: Delivery) -> None:
        if len(self.held) >= HELD_MAX:
            self.held.popleft()  # a reading: it is in InfluxDB, which the rebuild reads
            self.dropped += 1
        self.held.append(delivery)
