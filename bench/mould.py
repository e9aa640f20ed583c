"""VTT mould model throughput: room-hours per second, an estate's day, a year of history.

    .venv/bin/python bench/mould.py [--repeat 3]

Times `alerts.mould.mould_index_many` (the series kept) and `mould_state_many` (end state
only) on one core, best of `--repeat` runs, over synthetic surface conditions that cross
RH_crit often (diurnal temperature, wet and dry spells), so growth, levelling off and every
decline phase are all exercised:

1. 50,000 rooms x 24 hourly steps: the rules engine's day for a large landlord;
2. 50,000 rooms x 288 five-minute steps: the same day at the sensors' own rate;
3. 1,000 rooms x 8,760 hourly steps: a year of history, as rebuilt at start-up.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from functools import partial

import numpy as np
from numpy.typing import NDArray

from alerts.mould import mould_index_many, mould_state_many

Floats = NDArray[np.float64]


def surface_conditions(rooms: int, steps: int, dt_h: float, seed: int) -> tuple[Floats, Floats]:
    """Cold-wall conditions: 8-18 °C with a daily swing, RH 60-100 % in spells of hours."""
    rng = np.random.default_rng(seed)
    hours = np.arange(steps) * dt_h
    mean_t = rng.uniform(8, 18, (rooms, 1))
    t = mean_t + 3 * np.sin(2 * np.pi * (hours / 24 - rng.random((rooms, 1))))
    spell = rng.uniform(70, 100, (rooms, steps // max(1, round(6 / dt_h)) + 1))
    rh = np.repeat(spell, max(1, round(6 / dt_h)), axis=1)[:, :steps]
    rh = np.clip(rh + rng.normal(0, 3, (rooms, steps)), 0, 100)
    return t, rh


def best_of(repeat: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the best counts")
    args = parser.parse_args()

    print(
        f"numpy {np.__version__}, Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs (one used); best of {args.repeat}"
    )
    cases = [
        ("50,000 rooms x 24 h, hourly", 50_000, 24, 1.0),
        ("50,000 rooms x 24 h, 5-minute", 50_000, 288, 1 / 12),
        ("1,000 rooms x a year, hourly", 1_000, 8_760, 1.0),
    ]
    for label, rooms, steps, dt_h in cases:
        t, rh = surface_conditions(rooms, steps, dt_h, seed=rooms + steps)
        series = best_of(args.repeat, partial(mould_index_many, t, rh, dt_h))
        state = best_of(args.repeat, partial(mould_state_many, t, rh, dt_h))
        room_hours = rooms * steps * dt_h
        print(
            f"{label:32s} {series:7.3f} s  {room_hours / series / 1e6:6.1f} M room-h/s "
            f"({rooms * steps / series / 1e6:5.1f} M room-steps/s);  end state only "
            f"{state:7.3f} s"
        )


if __name__ == "__main__":
    main()
