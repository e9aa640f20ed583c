"""The durable queue: SQLite in WAL mode, batched commits, events apart from routine readings.

Everything accepted from a device is committed here before it is acknowledged to the local
broker, and deleted only once the platform broker has acknowledged it (PUBACK). Rows are
compact: a series table holds (device, channel, name, unit, kind) once, and each record is
(series, time, value, queued-at). The bound counts records: past it the oldest routine readings
are deleted and counted, never events (events may exceed the bound; they are rare and vital).
All methods block: call them from one thread (`Store` in gateway.service does).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hof.senml import Record, Value

__all__ = ["Chunk", "PutResult", "QueueStats", "QueueStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY, device TEXT NOT NULL, channel TEXT NOT NULL, name TEXT NOT NULL,
    unit TEXT NOT NULL, kind TEXT NOT NULL, UNIQUE (device, channel, name, unit, kind));
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, series INTEGER NOT NULL, t INTEGER NOT NULL, v, queued INTEGER NOT NULL,
    UNIQUE (series, t));
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY, series INTEGER NOT NULL, t INTEGER NOT NULL, v, queued INTEGER NOT NULL,
    UNIQUE (series, t));
CREATE TABLE IF NOT EXISTS status (
    device TEXT PRIMARY KEY, payload BLOB NOT NULL, pending INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

TABLES = {"event": "events", "reading": "readings"}


@dataclass(frozen=True, slots=True)
class PutResult:
    """What one committed batch did: records new to the queue, and readings dropped for room."""

    inserted: int
    duplicates: int
    dropped: int


@dataclass(frozen=True, slots=True)
class Chunk:
    """Queued records of one channel, oldest first, with their row ids."""

    channel: str
    ids: list[int]
    records: list[Record]


@dataclass(frozen=True, slots=True)
class QueueStats:
    """The queue's depth, age and size, for the gateway's status."""

    events: int
    readings: int
    oldest_queued: float | None
    dropped_readings: int
    file_bytes: int


def _kind(value: Value) -> str:
    if isinstance(value, bool):
        return "vb"
    return "vs" if isinstance(value, str) else "v"


def _decode(kind: str, raw: object) -> Value:
    if kind == "vb":
        return bool(raw)
    if kind == "vs":
        return str(raw)
    assert isinstance(raw, int | float)
    return float(raw)


class QueueStore:
    """One gateway's durable queue; one fsync per committed batch (synchronous=FULL in WAL)."""

    def __init__(self, path: Path, *, home: str, max_records: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.home = home
        self.max_records = max_records
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is synced at every commit, so an acknowledged record survives a power
        # cut. Batching commits (gateway.commit_*) keeps that to one fsync per batch.
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        self._series: dict[tuple[str, str, str, str, str], int] = {
            (d, c, n, u, k): i
            for i, d, c, n, u, k in self.db.execute(
                "SELECT id, device, channel, name, unit, kind FROM series"
            )
        }
        self._names = {i: key for key, i in self._series.items()}
        self.counts = {
            channel: int(self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            for channel, table in TABLES.items()
        }
        row = self.db.execute("SELECT value FROM counters WHERE name='dropped_readings'").fetchone()
        self.dropped = int(row[0]) if row else 0

    def close(self) -> None:
        self.db.close()

    def _series_id(self, channel: str, record: Record) -> int:
        key = (record.device, channel, record.name, record.unit or "", _kind(record.value))
        found = self._series.get(key)
        if found is None:
            cur = self.db.execute(
                "INSERT INTO series (device, channel, name, unit, kind) VALUES (?, ?, ?, ?, ?)",
                key,
            )
            found = int(cur.lastrowid or 0)
            self._series[key] = found
            self._names[found] = key
        return found

    def put(
        self,
        batches: Iterable[tuple[str, Sequence[Record]]],
        statuses: Iterable[tuple[str, bytes]] = (),
    ) -> PutResult:
        """Commit records (by channel) and device statuses in one transaction."""
        now = int(time.time())
        inserted = total = dropped = 0
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for channel, records in batches:
                rows = [(self._series_id(channel, r), r.time_ms, r.value, now) for r in records]
                before = self.db.total_changes
                self.db.executemany(
                    f"INSERT OR IGNORE INTO {TABLES[channel]} (series, t, v, queued) "
                    "VALUES (?, ?, ?, ?)",
                    rows,
                )
                added = self.db.total_changes - before
                self.counts[channel] += added
                inserted += added
                total += len(rows)
            excess = self.counts["event"] + self.counts["reading"] - self.max_records
            if excess > 0 and self.counts["reading"]:
                before = self.db.total_changes
                self.db.execute(
                    "DELETE FROM readings WHERE id IN "
                    "(SELECT id FROM readings ORDER BY id LIMIT ?)",
                    (excess,),
                )
                dropped = self.db.total_changes - before
                self.counts["reading"] -= dropped
                self.dropped += dropped
                self.db.execute(
                    "INSERT OR REPLACE INTO counters (name, value) VALUES ('dropped_readings', ?)",
                    (self.dropped,),
                )
            self.db.executemany(
                "INSERT OR REPLACE INTO status (device, payload, pending) VALUES (?, ?, 1)",
                list(statuses),
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return PutResult(inserted, total - inserted, dropped)

    def peek(self, limit: int) -> Chunk | None:
        """The oldest queued records, events before any reading; None when the queue is empty."""
        for channel, table in TABLES.items():
            if not self.counts[channel]:
                continue
            rows = self.db.execute(
                f"SELECT id, series, t, v FROM {table} ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
            if not rows:
                self.counts[channel] = 0
                continue
            ids: list[int] = []
            records: list[Record] = []
            for row_id, series, t, v in rows:
                device, _channel, name, unit, kind = self._names[series]
                ids.append(row_id)
                records.append(Record(self.home, device, name, t, _decode(kind, v), unit or None))
            return Chunk(channel, ids, records)
        return None

    def delete(self, channel: str, ids: Sequence[int]) -> int:
        """Remove records the platform has acknowledged (one commit)."""
        self.db.execute("BEGIN IMMEDIATE")
        before = self.db.total_changes
        self.db.executemany(f"DELETE FROM {TABLES[channel]} WHERE id = ?", [(i,) for i in ids])
        gone = self.db.total_changes - before
        self.db.execute("COMMIT")
        self.counts[channel] -= gone
        return gone

    def pending_statuses(self) -> list[tuple[str, bytes]]:
        """Device statuses not yet forwarded."""
        rows = self.db.execute("SELECT device, payload FROM status WHERE pending = 1")
        return [(str(d), bytes(p)) for d, p in rows]

    def status_sent(self, device: str, payload: bytes) -> None:
        """Mark a status forwarded, unless a newer one arrived meanwhile."""
        self.db.execute(
            "UPDATE status SET pending = 0 WHERE device = ? AND payload = ?", (device, payload)
        )

    def stats(self) -> QueueStats:
        oldest: float | None = None
        for table in TABLES.values():
            row = self.db.execute(f"SELECT queued FROM {table} ORDER BY id LIMIT 1").fetchone()
            if row is not None:
                oldest = row[0] if oldest is None else min(oldest, row[0])
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        size = self.db.execute("PRAGMA page_size").fetchone()[0]
        return QueueStats(
            self.counts["event"], self.counts["reading"], oldest, self.dropped, pages * size
        )
