"""Whether a home is occupied, from its own movement data, for the rules that count only
occupied hours (excess cold: a home empty by day is not a hazard to anyone)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from alerts.thresholds import Thresholds

__all__ = ["assumed_in", "occupied"]


def occupied(last_motion: float | None, t: float, th: Thresholds) -> bool | None:
    """True when someone moved recently enough, False when the home looks empty, None when it
    is not known (no motion sensor has reported, or the tenant has not consented to its use:
    `occupancy_from_motion = false` in the home's settings).

    By day a person at home is seen within a few hours (`occupied_after_motion_h`); at night
    (`night_start_hour`-`night_end_hour`) a sleeper is not, so the evening's last movement
    holds for `occupied_night_after_motion_h`.
    """
    if not th.occupancy_from_motion or not last_motion:
        return None
    since_h = (t - last_motion) / 3600
    if since_h < 0:
        return True
    hour = datetime.fromtimestamp(t, ZoneInfo(th.timezone)).hour
    if th.night_start_hour > th.night_end_hour:
        night = hour >= th.night_start_hour or hour < th.night_end_hour
    else:
        night = th.night_start_hour <= hour < th.night_end_hour
    limit = th.occupied_night_after_motion_h if night else th.occupied_after_motion_h
    return since_h <= limit


def assumed_in(t: float, th: Thresholds) -> bool:
    """With occupancy unknown, whether the hour of `t` is judged as occupied: every hour but a
    weekday's working hours (`assumed_out_from_hour` to `assumed_out_to_hour`, local time),
    when SAP's standard occupancy takes a home to be empty and unheated."""
    # Every room of an estate asks of the same few times: the answer is kept for the quarter
    # hour (every zone's offset from UTC is whole quarter hours), by the settings asked with.
    key = (int(t // 900), th.timezone, th.assumed_out_from_hour, th.assumed_out_to_hour)
    found = _ASSUMED.get(key)
    if found is None:
        local = datetime.fromtimestamp(t, ZoneInfo(th.timezone))
        found = local.weekday() >= 5 or not (
            th.assumed_out_from_hour <= local.hour < th.assumed_out_to_hour
        )
        if len(_ASSUMED) >= 4096:
            _ASSUMED.clear()
        _ASSUMED[key] = found
    return found


_ASSUMED: dict[tuple[int, str, int, int], bool] = {}
