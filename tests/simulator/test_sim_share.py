"""A share of an estate simulated alone is, home for home and bit for bit, what the whole
estate's simulation gives those homes (bench/cases' workers each simulate their own share)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from simulator.dwelling import Archetype, Simulation, draw_dwellings
from simulator.weather import Weather

SEED = 11


def test_a_share_of_the_estate_simulates_as_in_the_whole() -> None:
    d = draw_dwellings(37, seed=SEED, mix={kind: 1.0 for kind in Archetype})
    weather = Weather(SEED)
    # Across a midnight and a clock change (29 March 2026), with showers, cooking and washing.
    start = datetime(2026, 3, 27, 18, tzinfo=UTC).timestamp()
    shares = [np.arange(37)[i::3] for i in range(3)] + [np.array([36, 0, 17])]
    whole = Simulation(d, weather, seed=SEED, start=start)
    parts = [Simulation(d, weather, seed=SEED, start=start, homes=share) for share in shares]
    for k in range(1, 3 * 48 + 1):
        t = start + k * 1800.0
        c = whole.advance(t)
        surface = whole.surface()
        for share, part in zip(shares, parts, strict=True):
            p = part.advance(t)
            assert p.time == c.time
            for name in ("temperature", "humidity", "co2", "awake_home", "asleep_home"):
                assert np.array_equal(getattr(p, name), getattr(c, name)[share]), (k, name)
            for mine, all_ in zip(part.surface(), surface, strict=True):
                assert np.array_equal(mine, all_[share]), k
    assert parts[-1].d.homes == 3
    assert np.array_equal(parts[-1].d.f_rsi, d.f_rsi[[36, 0, 17]])
