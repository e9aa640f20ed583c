"""The estate summary each home is ranked by (being built)."""

from __future__ import annotations

from dashboard.context import Context


async def refresh_forever(ctx: Context) -> None:
    return None
