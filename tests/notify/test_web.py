"""The acknowledgement link's app over HTTP (in process, a real SQLite store): a GET only shows
a confirm page, a POST acknowledges once and wakes the engine, and bad or old links say why."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hof.alertstore import AlertStore, State, make_engine, migrate
from hof.alertstore import notifications as n
from notify.web import WebContext, create_app

SECRET = b"ack-secret"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AlertStore]:
    url = f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
    migrate(url)
    opened = AlertStore(make_engine(url))
    yield opened
    opened.close()


def _alert_and_token(store: AlertStore, ttl_s: float = 60) -> tuple[int, str]:
    alert = store.raise_or_update(
        home="H-1",
        rule="fall",
        rule_version=1,
        category="fall",
        audience="responder",
        severity="emergency",
        summary="Fall detected by wear-1.",
    ).alert.id
    with n.transaction(store.engine) as s:
        token, _ = n.issue_ack(
            s,
            alert,
            "Sam <b>",
            "sam@example.org",
            secret=SECRET,
            now=dt.datetime.now(dt.UTC),
            ttl=dt.timedelta(seconds=ttl_s),
        )
    return alert, token


def _client(ctx: WebContext) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(ctx)), base_url="http://notify.test"
    )


async def test_get_confirms_and_post_acknowledges_once(store: AlertStore) -> None:
    woken: list[int] = []
    alert, token = _alert_and_token(store)
    async with _client(WebContext(store.engine, SECRET, wake=lambda: woken.append(1))) as client:
        page = await client.get(f"/ack/{token}")
        assert page.status_code == 200
        assert "Acknowledge this alert" in page.text
        assert "Sam &lt;b&gt;" in page.text, "names are escaped"
        assert page.headers["Cache-Control"] == "no-store"
        assert store.get(alert).alert.state is State.OPEN
        done = await client.post(f"/ack/{token}")
        assert done.status_code == 200
        assert store.get(alert).alert.state is State.ACKNOWLEDGED
        assert woken == [1], "the engine is woken to tell the device and stop the levels"
        again = await client.post(f"/ack/{token}")
        assert again.status_code == 409
        assert "used already" in again.text
        assert (await client.get(f"/ack/{token}")).status_code == 410


async def test_forged_and_expired_links_acknowledge_nothing(store: AlertStore) -> None:
    alert, token = _alert_and_token(store, ttl_s=0.001)
    async with _client(WebContext(store.engine, SECRET)) as client:
        assert "expired" in (await client.get(f"/ack/{token}")).text
        assert (await client.post(f"/ack/{token}")).status_code == 409
        forged = await client.post(f"/ack/{token[:-3]}abc")
        assert forged.status_code == 409
        assert "not valid" in forged.text
    assert store.get(alert).alert.state is State.OPEN
