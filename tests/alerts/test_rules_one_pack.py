"""One pack of a room's readings (temperature and humidity at one time) is judged once, on
both of its figures: the wall's estimate, its windows, its month and its mould hour."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerts.outdoor import Outdoor
from alerts.rules.environment import RoomState, on_readings
from alerts.thresholds import Thresholds
from hof.climate import surface_humidity, surface_temperature
from hof.senml import Record

JANUARY = datetime(2026, 1, 12, tzinfo=UTC).timestamp()  # Monday 12 January 2026
OUTSIDE = Outdoor(5.0, "estate sensor")


def _pack(t: float, temperature: float, humidity: float, first: str) -> list[Record]:
    ms = round(t * 1000)
    records = [
        Record("H1", "env", "temperature", ms, temperature),
        Record("H1", "env", "humidity", ms, humidity),
    ]
    return records if first == "temperature" else records[::-1]


@pytest.mark.parametrize("first", ["temperature", "humidity"])
def test_a_pack_is_judged_once_on_its_own_temperature_and_humidity(first: str) -> None:
    """A bedroom at 20 °C whose air alternates, pack by pack, between 90 % and 40 %: its wall
    (fRsi 0.75, 5 °C outside) is wet at every other reading. Before, the damp rule ran once
    per record: after the temperature, on the pack's temperature and the previous pack's
    humidity (the wall's window took that stale figure for the next half hour, and the later
    judgement at the same time was ignored), and the month and the mould hour counted each
    pack twice, once stale."""
    th = Thresholds()
    state = RoomState("H1", "bedroom")
    wet: list[float] = []
    packs = 12
    for k in range(packs):
        t = JANUARY + k * 1800
        rh = 90.0 if k % 2 == 0 else 40.0
        # a temperature change too, so that a stale temperature would also show
        t_air = 20.0 + 0.1 * k
        on_readings(state, _pack(t, t_air, rh, first), th, OUTSIDE)
        t_si = float(surface_temperature(t_air, OUTSIDE.temperature, th.f_rsi))
        wet.append(float(surface_humidity(t_air, rh, t_si)))
    day = int(JANUARY // 86400)
    total, n = state.surface_days[day]
    assert n == packs, "each pack counted once in the wall's month"
    assert total == pytest.approx(sum(wet))
    # Every pack at 90 % holds the wall above the surface band's limit for its half hour: of
    # the 11 half hours passed (the last pack's has not), 6 wet and 5 dry.
    limit = th.surface_rh.bands[0].limit
    assert sum(1 for w in wet if w > limit) == 6
    assert state.signals["surface_rh_band"].hours[0] == pytest.approx(6 * 0.5)
    # The mould model's hour so far (the last two packs), each pack once.
    assert state.hour_sums[2] == 2
    assert state.hour_sums[1] == pytest.approx(wet[-2] + wet[-1])
