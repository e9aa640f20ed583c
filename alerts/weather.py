"""A weather service adapter: hourly outdoor temperature from Open-Meteo's forecast API.

    GET {base}/v1/forecast?latitude=53.80&longitude=-1.55&hourly=temperature_2m
        &past_days=2&forecast_days=1&timezone=GMT&timeformat=unixtime

answers (open-meteo.com/en/docs) `{"latitude": ..., "longitude": ..., "utc_offset_seconds": 0,
"hourly_units": {"time": "unixtime", "temperature_2m": "°C"}, "hourly": {"time": [...],
"temperature_2m": [...]}}`; a value may be null. With the default `timeformat=iso8601` the
times are local ISO strings without a zone (`"2022-07-01T00:00"`), in the `timezone` asked for:
both forms are read. The platform cannot reach the internet in tests; a local server that
speaks this format stands in (tests/alerts/test_outdoor.py).
"""

from __future__ import annotations

import datetime as dt

import httpx
from pydantic import BaseModel, ValidationError

from hof.errors import HofError

__all__ = ["WeatherError", "fetch_open_meteo"]


class WeatherError(HofError):
    """The weather service could not be read, or answered something else than its format."""


class _Hourly(BaseModel):
    time: list[int | str]
    temperature_2m: list[float | None]


class _Units(BaseModel):
    temperature_2m: str = "°C"


class _Forecast(BaseModel):
    utc_offset_seconds: int = 0
    hourly_units: _Units = _Units()
    hourly: _Hourly


def _epoch(stamp: int | str, offset_s: int) -> float:
    if isinstance(stamp, int):
        return float(stamp)
    local = dt.datetime.fromisoformat(stamp)
    if local.tzinfo is None:
        local = local.replace(tzinfo=dt.UTC) - dt.timedelta(seconds=offset_s)
    return local.timestamp()


async def fetch_open_meteo(
    client: httpx.AsyncClient,
    base_url: str,
    latitude: float,
    longitude: float,
    *,
    past_days: int = 2,
    timeout_s: float = 10.0,
) -> dict[int, float]:
    """Hourly temperatures (clock hour since the epoch -> °C) around now; WeatherError if not."""
    params: dict[str, str | int | float] = {
        "latitude": round(latitude, 4),
        "longitude": round(longitude, 4),
        "hourly": "temperature_2m",
        "past_days": past_days,
        "forecast_days": 1,
        "timezone": "GMT",
        "timeformat": "unixtime",
    }
    url = base_url.rstrip("/") + "/v1/forecast"
    try:
        answer = await client.get(url, params=params, timeout=timeout_s)
        answer.raise_for_status()
        forecast = _Forecast.model_validate_json(answer.content)
    except httpx.HTTPError as exc:
        raise WeatherError(f"weather service: {exc}") from exc
    except ValidationError as exc:
        raise WeatherError(f"weather service answered another format: {exc}"[:300]) from exc
    unit = forecast.hourly_units.temperature_2m
    if unit not in ("°C", "C", "degC"):
        raise WeatherError(f"weather service answered temperatures in {unit!r}, not °C")
    hourly = forecast.hourly
    if len(hourly.time) != len(hourly.temperature_2m):
        raise WeatherError("weather service: times and temperatures differ in length")
    out: dict[int, float] = {}
    for stamp, value in zip(hourly.time, hourly.temperature_2m, strict=True):
        if value is not None and -60.0 < value < 60.0:
            out[int(_epoch(stamp, forecast.utc_offset_seconds) // 3600)] = value
    return out
