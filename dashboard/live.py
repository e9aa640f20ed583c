"""Changes in the alert store pushed to open queues (being built)."""

from __future__ import annotations

from dashboard.context import Context


async def watch_forever(ctx: Context) -> None:
    return None
