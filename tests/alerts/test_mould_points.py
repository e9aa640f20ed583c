"""The rules engine's mould-index points in InfluxDB: one per room and clock hour, batched,
idempotent, kept while InfluxDB is down and never in the way of the rules."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

from alerts.service import AlertsWorker, mould_line
from hof.influx import InfluxClient
from hof.senml import Record
from hof.settings import InfluxSettings, Settings

HOUR = 3600


def _damp_hours(home: str, device: str, start: float, hours: float) -> list[Record]:
    """A cold, wet bathroom every 15 minutes: the mould model steps at each clock hour."""
    out = []
    for k in range(int(hours * 4) + 1):
        t_ms = round((start + k * 900) * 1000)
        out += [
            Record(home, device, "temperature", t_ms, 15.0),
            Record(home, device, "humidity", t_ms, 92.0),
        ]
    return out


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_point_is_its_room_and_hour() -> None:
    line = mould_line("H 1", "bed,room", 490_000, 1.23456, 88.04, 12.5)
    assert line == (
        r"mould,home=H\ 1,room=bed\,room mould_index=1.2346,surface_rh=88.04,dry_hours=12.500 "
        "1764000000000"
    )


async def test_readings_put_the_mould_index_in_influxdb(
    settings: Settings, home_id: str, query: Callable[[str], list[dict[str, Any]]]
) -> None:
    worker = AlertsWorker(settings)
    worker.room_watcher.rooms[(home_id, "env-1")] = "bathroom"
    start = (time.time() // HOUR - 5) * HOUR
    worker._judge(home_id, "env-1", _damp_hours(home_id, "env-1", start, 4.5))
    queued = list(worker.mould_out)
    # Four complete clock hours, four steps; and the room's overheating counts once (its last
    # hour's: what a restart takes back, tests/e2e/test_rules_restart.py).
    assert [line.split(",")[0] for line in queued] == ["mould"] * 4 + ["overheat_counts"]

    def points() -> list[list[Any]]:
        found = query(f"SELECT mould_index, surface_rh FROM mould WHERE home = '{home_id}'")
        return list(found[0]["values"]) if found else []

    # InfluxDB unreachable: the points stay queued, the failure is counted, nothing raises.
    down = settings.influx.model_copy(update={"url": f"http://127.0.0.1:{_closed_port()}"})
    async with InfluxClient(InfluxSettings.model_validate(down)) as influx:
        assert await worker.flush_mould(influx) is False
    assert list(worker.mould_out) == queued
    assert worker.m_mould.get(outcome="retry") == 1

    async with InfluxClient(settings.influx) as influx:
        assert await worker.flush_mould(influx) is True
        assert not worker.mould_out
        stamps = [row[0] for row in points()]
        assert stamps == [int(start + h * HOUR) * 1000 for h in range(4)]
        assert all(0 < row[1] < 6 and row[2] > 80 for row in points())

        # The same hours written again (a replay after a restart) are the same points.
        worker.mould_out.extend(queued)
        assert await worker.flush_mould(influx) is True
        assert len(points()) == 4
        assert worker.m_mould.get(outcome="written") == 10

        # A batch InfluxDB refuses (a field of another type) is dropped and counted, not
        # retried for ever in front of every later point.
        at = int(start) * 1000
        worker.mould_out.append(f'mould,home={home_id},room=bathroom mould_index="x" {at}')
        assert await worker.flush_mould(influx) is True
        assert worker.m_mould.get(outcome="rejected") == 1
