"""Issue 12, item 9: the estate summary fills from history that lands just after the dashboard
starts (hof demo's backfill, a gateway's queue), instead of counting those hours empty for a day."""

from __future__ import annotations

import datetime as dt
import uuid

from dashboard.climate_summary import WEEK_H, ClimateTracker
from hof.influx import InfluxClient
from hof.settings import Settings

HOUR = 3600


def _point(home: str, t: int, temperature: float) -> str:
    return f"reading,device=env-1,home={home},room=bedroom temperature={temperature} {t * 1000}"


async def test_history_that_lands_after_the_first_pass_is_counted_within_minutes(
    settings: Settings,
) -> None:
    home = f"FILL-{uuid.uuid4().hex[:8]}"
    hour = int(dt.datetime.now(dt.UTC).timestamp()) // HOUR * HOUR
    start = dt.datetime.fromtimestamp(hour + HOUR // 2, dt.UTC)
    tracker = ClimateTracker(cold_c=18.0, hot_c=26.0)
    async with InfluxClient(settings.influx) as influx:
        climate, _ = await tracker.run_pass(influx, [home], start)  # the dashboard starts
        assert climate.cold_hours == {}
        assert tracker.filling(start)
        # A day of a cold bedroom arrives (the simulator's backfill), and a mould index.
        lines = [_point(home, hour - h * HOUR + 60, 14.0) for h in range(1, 25)]
        lines.append(f"mould,home={home},room=bedroom mould_index=1.5 {(hour - HOUR) * 1000}")
        await influx.write(lines)
        # Today the next pass reads no hour again for a day: "0 hours too cold this week".
        soon = start + dt.timedelta(seconds=70)
        assert len(tracker.due(soon)) == WEEK_H
        climate, _ = await tracker.run_pass(influx, [home], soon)
        assert climate.cold_hours == {home: 24}
        assert climate.mould == {home: (1.5, "bedroom")}
        assert climate.last_reading[home] == dt.datetime.fromtimestamp(hour - HOUR + 60, dt.UTC)
        # Re-read at the marks only: not again until the next one, and never after the first
        # half hour (then the usual rules: new hours, late points, the daily rebuild).
        assert tracker.due(soon + dt.timedelta(seconds=30)) == []
        later = start + dt.timedelta(hours=1)
        assert not tracker.filling(later)
        assert tracker.due(later) == [
            hour - 2 * HOUR,
            hour,
        ]  # a recheck for late points, a new hour
