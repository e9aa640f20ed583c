"""The store from the settings (SQLite under state_dir by default) and from asyncio services."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest
from alertstore_fixtures import *  # noqa: F403  (pytest fixtures, by name)
from pydantic import ValidationError

from hof.alertstore import (
    AlertFilter,
    AlertStore,
    AsyncAlertStore,
    StoreUnavailable,
    make_engine,
    migrate,
    store_url,
)
from hof.errors import HofError
from hof.settings import Settings
from hof.stack.ports import free_port

SMOKE = dict(
    home="H-3",
    rule="smoke",
    rule_version=1,
    category="smoke",
    audience="both",
    severity="emergency",
    summary="Smoke alarm sounding in the kitchen.",
)


def test_default_is_a_sqlite_file_under_the_state_dir(tmp_path: Path) -> None:
    settings = Settings(environment="test", state_dir=tmp_path)
    url = store_url(settings)
    assert url == f"sqlite:///{tmp_path.resolve()}/alerts/alerts.sqlite3"
    migrate(url)
    store = AlertStore.from_settings(settings)
    try:
        assert store.raise_or_update(**SMOKE).action == "raised"
        assert (tmp_path / "alerts" / "alerts.sqlite3").is_file()
        assert store.reopen_window == dt.timedelta(hours=72)
    finally:
        store.close()


def test_settings_name_the_database_and_policies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOF_ALERTSTORE__URL", "postgresql+psycopg://hof@db.example/hof")
    monkeypatch.setenv("HOF_ALERTSTORE__AWARE_FROM", "confirmed")
    monkeypatch.setenv("HOF_ALERTSTORE__REOPEN_WINDOW_S", "3600")
    settings = Settings(environment="test", state_dir=tmp_path)
    assert store_url(settings) == "postgresql+psycopg://hof@db.example/hof"
    store = AlertStore.from_settings(settings)  # no connection is made until used
    try:
        assert store.aware_from == "confirmed"
        assert store.reopen_window == dt.timedelta(hours=1)
    finally:
        store.close()


async def test_an_asyncio_service_calls_it_off_the_loop(store: AlertStore) -> None:
    aio = AsyncAlertStore(store, max_concurrency=2)
    results = await asyncio.gather(
        *(aio.call(store.raise_or_update, **{**SMOKE, "home": f"H-{n}"}) for n in range(6))
    )
    assert {r.action for r in results} == {"raised"}
    acked = await aio.call(store.acknowledge, results[0].alert.id, by="responder.eve")
    assert acked.acknowledged_by == "responder.eve"
    page = await aio.call(store.list, AlertFilter(categories=["smoke"]))
    assert page.total == 6


def test_the_database_password_stays_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOF_ALERTSTORE__URL", "postgresql+psycopg://hof@db.example:5432/hof")
    monkeypatch.setenv("HOF_ALERTSTORE__PASSWORD", "s3cret-Xy")
    settings = Settings(environment="test", state_dir=tmp_path)
    assert store_url(settings) == "postgresql+psycopg://hof:s3cret-Xy@db.example:5432/hof"
    assert "s3cret-Xy" not in json.dumps(settings.redacted())
    monkeypatch.setenv("HOF_ALERTSTORE__URL", "postgresql+psycopg://hof:pw@db.example/hof")
    with pytest.raises(ValidationError, match="HOF_ALERTSTORE__PASSWORD"):
        Settings(environment="test", state_dir=tmp_path)


def test_an_unreachable_database_is_a_clear_error() -> None:
    port = free_port()  # nothing listens there
    store = AlertStore(make_engine(f"postgresql+psycopg://hof@127.0.0.1:{port}/hof"))
    try:
        with pytest.raises(StoreUnavailable) as down:
            store.list()
        assert down.value.reason.value == "database"
        assert isinstance(down.value, HofError)
    finally:
        store.close()
