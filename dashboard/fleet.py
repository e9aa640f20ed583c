"""Device status (firmware, battery, signal, last seen) for the fleet pages (being built)."""

from __future__ import annotations

from dashboard.context import Context


async def watch_forever(ctx: Context) -> None:
    return None
