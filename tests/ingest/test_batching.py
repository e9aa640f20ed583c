"""An ingest worker's batches, on its own Mosquitto and InfluxDB."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hofsupport import Device, IngestProcess, wait_until

from hof.settings import Settings
from hof.stack import Stack

pytestmark = pytest.mark.e2e


def test_a_batch_is_bounded_by_points_not_records(
    make_stack: Callable[[], tuple[Stack, Settings]],
) -> None:
    # A reading of temperature and humidity is two records and one point (one line): a batch
    # of `batch_max_points` closed at half that many points when records were counted.
    stack, settings = make_stack()
    worker = IngestProcess(
        settings.state_dir,
        "batching",
        HOF_INGEST__BATCH_MAX_POINTS="20",
        HOF_INGEST__FLUSH_INTERVAL_S="30",  # so that only the bound closes a batch
    )
    worker.start()
    sensor = Device(stack, "BATCH-1", "env-1")
    try:
        start = int(time.time()) - 3600
        for pack in range(6):  # 10 readings a pack, 20 records, 10 points
            records: list[dict[str, object]] = []
            for i in range(10):
                when = {"bn": "env-1/", "bt": start + 600 * pack} if i == 0 else {"t": 60 * i}
                records.append({**when, "n": "temperature", "u": "Cel", "v": 20.5})
                offset = {"t": 60 * i} if i else {}
                records.append({**offset, "n": "humidity", "u": "%RH", "v": 50.0})
            sensor.publish("reading", records)
        written = "hof_ingest_points_written_total"
        assert wait_until(lambda: worker.metrics().get(written, 0) >= 60, 20), worker.metrics()
        metrics = worker.metrics()
        assert metrics[written] == 60
        assert metrics["hof_ingest_records_total"] == 120
        assert metrics["hof_ingest_batches_total"] == 3  # two packs a batch
    finally:
        sensor.close()
        assert worker.stop() == 0
