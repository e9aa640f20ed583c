"""The engine in-process on a real SQLite store and a real webhook server: inactivity asks the
tenant first and calls out only if the alert is still open; an acknowledged alert left
unresolved is escalated again after the ack timeout; resolving stops everything."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from notify_support import *  # noqa: F403  (pytest fixtures, by name)
from notify_support import Hook, running_notifier, until

from hof.alertstore import AlertStore, Outcome, make_engine, migrate
from hof.settings import NotifySettings
from notify.channels.base import Channel
from notify.channels.device_notice import DeviceNoticeChannel
from notify.channels.webhook import WebhookChannel
from notify.engine import Notifier
from notify.policy import Level, NotifyConfig, Person, Policy, Target

Published = list[tuple[str, dict[str, object]]]


def _config(hook: Hook) -> NotifyConfig:
    responder = (Target(person="sam", via=("webhook",)),)
    lead = (Target(person="jo", via=("webhook",)),)
    return NotifyConfig(
        people={
            "sam": Person(name="Sam", webhook=f"{hook.url}/sam"),
            "jo": Person(name="Jo", webhook=f"{hook.url}/jo"),
        },
        policies=(
            Policy(
                name="inactivity",
                kinds=("inactivity",),  # type: ignore[arg-type]
                levels=(
                    Level(wait_s=0, to=(Target(devices=True, via=("device_notice",)),)),
                    Level(wait_s=1.0, to=responder),
                ),
            ),
            Policy(
                name="fall",
                kinds=("fall",),  # type: ignore[arg-type]
                levels=(Level(wait_s=0, to=responder), Level(wait_s=30, to=lead)),
                ack_timeout_s=0.8,
                ack_repeats=2,
            ),
        ),
    )


@pytest.fixture
async def running(
    tmp_path: Path, hook: Hook
) -> AsyncIterator[tuple[AlertStore, Notifier, Published]]:
    url = f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
    migrate(url)
    store = AlertStore(make_engine(url))
    published: Published = []

    async def publish(topic: str, body: bytes) -> None:
        published.append((topic, json.loads(body)))

    channels: dict[str, Channel] = {
        "webhook": WebhookChannel(b"k", timeout_s=2),
        "device_notice": DeviceNoticeChannel(publish),
    }
    settings = NotifySettings(client_id="engine-test", poll_s=0.05, retry_backoff_s=0.05)
    notifier = Notifier(
        settings,
        _config(hook),
        channels,
        make_engine(url),
        ack_secret=b"s",
        public_url="http://127.0.0.1:1",
    )
    stop = asyncio.Event()
    task = asyncio.create_task(notifier.run(stop))
    yield store, notifier, published
    stop.set()
    await asyncio.wait_for(task, 10)
    for channel in channels.values():
        await channel.aclose()
    notifier.engine.dispose()
    store.close()


def _raise(store: AlertStore, category: str, home: str = "H-1") -> int:
    rule = {"inactivity": "inactivity", "fall": "fall"}[category]
    return store.raise_or_update(
        home=home,
        rule=rule,
        rule_version=1,
        category=category,
        audience="responder",
        severity="severe",
        summary=f"{category} test",
        evidence={"device": "hub-1", "name": category},
    ).alert.id


async def test_inactivity_asks_the_tenant_and_calls_nobody_once_they_answer(
    running: tuple[AlertStore, Notifier, Published], hook: Hook
) -> None:
    store, notifier, published = running
    notifier.saw_device("H-1", "pendant-1")
    alert = await asyncio.to_thread(_raise, store, "inactivity")
    assert await until(lambda: len(published) == 2)
    assert {t for t, _ in published} == {"hof/v1/H-1/hub-1/notice", "hof/v1/H-1/pendant-1/notice"}
    assert all(p["state"] == "check" and p["alert"] == f"A-{alert}" for _, p in published)
    # The tenant pressed the button: the rules close the alert before the call-out is due.
    await asyncio.to_thread(store.resolve, alert, outcome=Outcome.FALSE_ALARM, by="rules")
    await asyncio.sleep(1.5)
    assert hook.posts("/sam") == [], "no call-out once the tenant answered"
    assert [p["state"] for _, p in published[2:]] == ["resolved", "resolved"]


async def test_inactivity_calls_out_when_nobody_answers(
    running: tuple[AlertStore, Notifier, Published], hook: Hook
) -> None:
    store, _, published = running
    await asyncio.to_thread(_raise, store, "inactivity", "H-2")
    assert await until(lambda: bool(published))
    assert await until(lambda: bool(hook.posts("/sam")), 5)
    (post,) = hook.posts("/sam")
    assert post.json()["kind"] == "inactivity"
    assert post.json()["level"] == 1


async def test_acknowledged_but_unresolved_is_escalated_again_then_stops(
    running: tuple[AlertStore, Notifier, Published], hook: Hook
) -> None:
    store, _, published = running
    alert = await asyncio.to_thread(_raise, store, "fall", "H-3")
    assert await until(lambda: bool(hook.posts("/sam")))
    started = dt.datetime.now(dt.UTC)
    await asyncio.to_thread(store.acknowledge, alert, by="Sam")
    assert await until(lambda: any(p["state"] == "acknowledged" for _, p in published))
    # Two reminders to the second level's people (ack_timeout 0.8 s, 2 repeats), then no more.
    assert await until(lambda: len(hook.posts("/jo")) == 2, 5)
    await asyncio.sleep(1.2)
    reminders = hook.posts("/jo")
    assert len(reminders) == 2
    assert reminders[0].json()["purpose"] == "ack_timeout"
    assert "Acknowledged by Sam" in reminders[0].json()["text"]
    assert reminders[0].at - started.timestamp() >= 0.7
    assert len(hook.posts("/sam")) == 1, "the first level was not repeated"


async def test_a_dashboard_acknowledgement_stops_the_next_level(
    running: tuple[AlertStore, Notifier, Published], hook: Hook
) -> None:
    store, notifier, _ = running
    notifier.config = notifier.config.model_copy(
        update={
            "policies": (
                Policy(
                    name="quick",
                    kinds=("fall",),  # type: ignore[arg-type]
                    levels=(
                        Level(wait_s=0, to=(Target(person="sam", via=("webhook",)),)),
                        Level(wait_s=1.0, to=(Target(person="jo", via=("webhook",)),)),
                    ),
                    ack_timeout_s=None,
                ),
            )
        }
    )
    alert = await asyncio.to_thread(_raise, store, "fall", "H-5")
    assert await until(lambda: bool(hook.posts("/sam")))
    await asyncio.to_thread(store.acknowledge, alert, by="dashboard user")
    await asyncio.sleep(1.8)
    assert hook.posts("/jo") == [], "the acknowledgement (any channel) stopped the next level"


async def test_resolving_stops_the_reminders(
    running: tuple[AlertStore, Notifier, Published], hook: Hook
) -> None:
    store, _, _ = running
    alert = await asyncio.to_thread(_raise, store, "fall", "H-4")
    assert await until(lambda: bool(hook.posts("/sam")))
    await asyncio.to_thread(store.acknowledge, alert, by="Sam")
    await asyncio.to_thread(store.resolve, alert, outcome=Outcome.FIXED, by="Sam")
    await asyncio.sleep(2.0)
    assert hook.posts("/jo") == []


async def test_an_alert_nobody_was_told_of_starts_at_the_first_level_with_its_waits(
    tmp_path: Path, hook: Hook
) -> None:
    """Open before the notifier ever ran (or while it was down with no job made): level 0 now,
    level 1 after its wait, not every overdue level at once."""
    url = f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
    migrate(url)
    store = AlertStore(make_engine(url))
    ten_minutes_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    store.raise_or_update(
        home="H-9",
        rule="fall",
        rule_version=1,
        category="fall",
        audience="responder",
        severity="emergency",
        summary="fall test",
        at=ten_minutes_ago,
    )
    settings = NotifySettings(client_id="late-start", poll_s=0.05)
    try:
        async with running_notifier(url, _config(hook), settings):
            assert await until(lambda: bool(hook.posts("/sam")))
            await asyncio.sleep(1.5)
            assert hook.posts("/jo") == [], "the second level waits its 30 s from now"
    finally:
        store.close()
