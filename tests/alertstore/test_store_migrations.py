"""Migrations take an empty database to head on both backends, and match the models exactly."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alertstore_fixtures import *  # noqa: F403  (pytest fixtures, by name)

from hof.alertstore import make_engine, migrate
from hof.alertstore.migrate import current_revision, downgrade, head_revision
from hof.alertstore.models import Base

_INDEXES = {
    "sqlite": sa.text("SELECT name FROM sqlite_master WHERE type = 'index'"),
    "postgresql": sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'alert'"),
}


def _not_open_index(obj: object, name: str | None, kind: str, *_: object) -> bool:
    return not (kind == "index" and name == "uq_alert_open")


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings(
    "ignore:autogenerate skipping metadata-specified expression-based index"
)
def test_upgrade_from_empty_to_head(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        assert current_revision(engine) is None
        migrate(empty_url)
        assert current_revision(engine) == head_revision()
        tables = set(sa.inspect(engine).get_table_names())
        assert {"alert", "alert_history", "alembic_version"} <= tables
        migrate(empty_url)  # at head already: nothing to do, no error
        assert current_revision(engine) == head_revision()

        # What the migrations built is what the models describe (columns, types, indexes).
        # SQLAlchemy cannot reflect the expression index, so it is checked by name below.
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_object": _not_open_index}
            )
            assert compare_metadata(context, Base.metadata) == []
            assert (
                "uq_alert_open" in connection.execute(_INDEXES[engine.dialect.name]).scalars().all()
            )
    finally:
        engine.dispose()


def test_downgrade_to_empty_and_back(empty_url: str) -> None:
    migrate(empty_url)
    downgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate(empty_url)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/store/alerts.sqlite3"
    migrate(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def _migrate_at_once(url: str, services: int = 3) -> list[BaseException]:
    """`services` threads migrating the store at `url` at the same moment; their errors."""
    start = threading.Barrier(services)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            migrate(url)
        except BaseException as exc:  # collected and reported in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(services)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def test_services_starting_together_migrate_once(empty_url: str) -> None:
    errors = _migrate_at_once(empty_url)
    assert not errors, errors
    engine = make_engine(empty_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_services_starting_together_on_a_new_sqlite_store_all_start(tmp_path: Path) -> None:
    """Three services connecting at once to a new SQLite file each switch it to WAL mode; the
    losers got "database is locked" at once (SQLite does not wait on its busy timeout there),
    in 9 of 40 trials. Twenty new stores, three services each: all migrate."""
    for trial in range(20):
        errors = _migrate_at_once(f"sqlite:///{tmp_path}/{trial}/alerts.sqlite3")
        assert not errors, (trial, errors)
