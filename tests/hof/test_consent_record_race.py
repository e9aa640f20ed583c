"""Recording consent reads the current decisions, then appends: on SQLite that transaction
must take the write lock at its start. Begun deferred, a write another process committed
between its read and its insert made the insert fail at once with "database is locked" (a
WAL snapshot cannot be upgraded, and no busy timeout helps): `hof simulate --register` died
so in `hof demo` while the notifier and the telecare worker wrote the same store (CI, 1 Dec
2026)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event

from hof.alertstore import make_engine, migrate
from hof.consent import Stream
from hof.registry import upsert_homes
from hof.registry.consent import ConsentIn, current_consents, record_consents
from simulator.addresses import registry_rows
from simulator.estate import Estate


def test_a_write_committed_between_the_read_and_the_insert_does_not_fail_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    url = f"sqlite:///{path}"
    migrate(url)
    engine = make_engine(url)
    try:
        rows = registry_rows(Estate(2, 1))
        upsert_homes(engine, rows)
        other: list[str] = []

        @event.listens_for(engine, "before_cursor_execute")
        def another_writer(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if other or not statement.startswith("INSERT INTO home_consent"):
                return
            # Another process's write, committed now, between the read and the insert.
            raw = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                raw.execute("BEGIN IMMEDIATE")
                raw.execute("UPDATE home SET patch = patch")
                raw.execute("COMMIT")
                other.append("committed")
            except sqlite3.OperationalError as exc:
                other.append(f"waited: {exc}")  # this transaction held the lock first
            finally:
                raw.close()

        home = rows[0].id
        decision = ConsentIn(home=home, stream=Stream.ACTIVITY, granted=True, note="agreed")
        assert record_consents(engine, [decision], recorded_by="test") == [home]
        assert len(other) == 1, other
        assert other[0].startswith("waited"), other
        assert current_consents(engine, [home])[home][Stream.ACTIVITY].granted
    finally:
        engine.dispose()
