"""The durable queue on a real SQLite file: batches, identity, events first, the bound."""

from __future__ import annotations

from pathlib import Path

from gateway.store import QueueStore
from hof.senml import Record

T0 = 1_763_841_600_000


def readings(device: str, n: int, start: int = 0) -> list[Record]:
    return [
        Record("H-1", device, "temperature", T0 + (start + i) * 300_000, 18.0 + i % 5, "Cel")
        for i in range(n)
    ]


def fall(device: str, at: int) -> Record:
    return Record("H-1", device, "fall", T0 + at, "detected")


def test_events_come_out_before_older_readings(tmp_path: Path) -> None:
    q = QueueStore(tmp_path / "q.sqlite", home="H-1", max_records=1000)
    q.put([("reading", readings("env-1", 10))])
    q.put([("event", [fall("pendant-1", 5)])])
    chunk = q.peek(100)
    assert chunk is not None
    assert chunk.channel == "event"
    assert chunk.records == [fall("pendant-1", 5)]
    assert q.delete("event", chunk.ids) == 1
    chunk = q.peek(100)
    assert chunk is not None
    assert chunk.channel == "reading"
    assert chunk.records == readings("env-1", 10)


def test_a_record_received_twice_is_queued_once(tmp_path: Path) -> None:
    q = QueueStore(tmp_path / "q.sqlite", home="H-1", max_records=1000)
    first = q.put([("reading", readings("env-1", 10))])
    again = q.put([("reading", readings("env-1", 10))])
    assert (first.inserted, again.inserted, again.duplicates) == (10, 0, 10)
    assert q.counts["reading"] == 10


def test_values_keep_their_kind_and_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    q = QueueStore(path, home="H-1", max_records=1000)
    records = [
        Record("H-1", "door-1", "contact", T0, True),
        Record("H-1", "door-1", "contact", T0 + 1, False),
        Record("H-1", "env-1", "co2", T0, 600.0, "ppm"),
        Record("H-1", "env-1", "mystery", T0, "x"),
    ]
    q.put([("reading", records)])
    q.close()
    reopened = QueueStore(path, home="H-1", max_records=1000)
    chunk = reopened.peek(10)
    assert chunk is not None
    assert chunk.records == records
    assert [type(r.value) for r in chunk.records] == [bool, bool, float, str]


def test_a_full_queue_drops_the_oldest_readings_never_events(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    q = QueueStore(path, home="H-1", max_records=100)
    q.put([("event", [fall("pendant-1", i) for i in range(5)])])
    result = q.put([("reading", readings("env-1", 150))])
    assert result.dropped == 55
    assert (q.counts["event"], q.counts["reading"], q.dropped) == (5, 95, 55)
    q.put([("event", [fall("pendant-1", 10 + i) for i in range(3)])])
    assert (q.counts["event"], q.counts["reading"]) == (8, 92)
    q.delete("event", q.peek(100).ids)  # type: ignore[union-attr]
    chunk = q.peek(1000)
    assert chunk is not None
    assert chunk.records == readings("env-1", 150)[58:]  # the newest kept
    q.close()
    assert QueueStore(path, home="H-1", max_records=100).stats().dropped_readings == 58


def test_statuses_are_kept_until_sent(tmp_path: Path) -> None:
    q = QueueStore(tmp_path / "q.sqlite", home="H-1", max_records=100)
    q.put([], [("env-1", b'{"state":"online"}')])
    assert q.pending_statuses() == [("env-1", b'{"state":"online"}')]
    q.put([], [("env-1", b'{"state":"offline"}')])
    q.status_sent("env-1", b'{"state":"online"}')  # an older one: the newer stays pending
    assert q.pending_statuses() == [("env-1", b'{"state":"offline"}')]
    q.status_sent("env-1", b'{"state":"offline"}')
    assert q.pending_statuses() == []
