"""One recipient's delivery: attempts with backoff, each recorded, stopped once no longer wanted.

Each recipient of a level runs its own `deliver` concurrently with the others, so a channel
that times out and retries delays nobody else's message.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import structlog

from notify.channels.base import Channel, Delivery, DeliveryStatus, Message

__all__ = ["deliver"]

log = structlog.get_logger(__name__)


async def deliver(
    channel: Channel,
    message: Message,
    *,
    attempts: int,
    backoff_s: float,
    record: Callable[[int, Delivery], Awaitable[None]],
    wanted: Callable[[], bool] = lambda: True,
) -> Delivery | None:
    """Try up to `attempts` times; the last outcome, or None when stopped before any attempt
    (the alert was acknowledged or resolved meanwhile)."""
    last: Delivery | None = None
    for number in range(1, attempts + 1):
        if not wanted():
            return last
        try:
            last = await channel.send(message)
        except Exception as exc:  # an adapter must not raise; one that does stops nobody else
            log.exception("notify_channel_raised", channel=channel.name)
            last = Delivery(DeliveryStatus.FAILED, f"{type(exc).__name__}: {exc}", retryable=True)
        await record(number, last)
        if last.status is not DeliveryStatus.FAILED or not last.retryable:
            return last
        if number < attempts:
            await asyncio.sleep(backoff_s * 2 ** (number - 1) * random.uniform(0.8, 1.2))
    return last
