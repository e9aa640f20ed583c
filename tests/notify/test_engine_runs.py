"""A reopened alert is a new escalation run from the first level; an attempt a channel reports
delivered at once (SCAIP's 200 from the receiving centre) carries its delivery time. On a real
SQLite store and a real webhook server."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from notify_support import *  # noqa: F403  (pytest fixtures, by name)
from notify_support import Hook, open_store, raise_offline, running_notifier, until

from hof.alertstore import AlertStore, Category, make_engine, migrate
from hof.alertstore import notifications as n
from hof.alertstore.models import AttemptStatus, JobPurpose, NotifyJob
from hof.settings import NotifySettings
from notify.policy import Level, NotifyConfig, Person, Policy, Target


async def test_a_reopened_alert_escalates_again_from_the_first_level(
    tmp_path: Path, hook: Hook
) -> None:
    url, store = open_store(tmp_path, "H-7")
    sam = (Target(person="sam", via=("webhook",)),)
    jo = (Target(person="jo", via=("webhook",)),)
    config = NotifyConfig(
        people={
            "sam": Person(name="Sam", webhook=f"{hook.url}/sam"),
            "jo": Person(name="Jo", webhook=f"{hook.url}/jo"),
        },
        policies=(
            Policy(
                name="offline",
                kinds=(Category.DEVICE_OFFLINE,),
                levels=(Level(wait_s=0, to=sam), Level(wait_s=0.6, to=jo)),
                ack_timeout_s=None,
            ),
        ),
    )
    settings = NotifySettings(client_id="runs", poll_s=0.05, retry_backoff_s=0.05)
    try:
        async with running_notifier(url, config, settings):
            alert = await asyncio.to_thread(raise_offline, store, "H-7")
            assert await until(lambda: len(hook.posts("/jo")) == 1)
            assert len(hook.posts("/sam")) == 1
            # The pendant came back (the alert clears itself), then went quiet again: reopened.
            await asyncio.to_thread(lambda: store.clear(home="H-7", rule="device_offline"))
            again = await asyncio.to_thread(raise_offline, store, "H-7")
            assert again == alert, "the same case, reopened"
            assert await until(lambda: len(hook.posts("/sam")) == 2), "a new run's first level"
            assert await until(lambda: len(hook.posts("/jo")) == 2), "and its second"
            first, second = (p.json() for p in hook.posts("/sam"))
            assert first["level"] == second["level"] == 0
            assert second["repeat"] == 0, "shown as the first level, not a repeat"
            keys = {p.headers.get("Idempotency-Key") for p in hook.posts()}
            assert len(keys) == 4, "each run's sends have keys of their own"
    finally:
        store.close()


def test_an_attempt_delivered_at_once_has_its_delivery_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    store = AlertStore(engine)
    alert = raise_offline(store, "H-7")
    at = dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC)
    with n.transaction(engine) as s:
        n.schedule(s, alert, [n.Step(JobPurpose.ESCALATE, 0, 0, at)], at)
        job = s.scalars(sa.select(NotifyJob.id)).one()
        common = dict(alert_id=alert, job_id=job, level=0, repeat=0, recipient_name="ARC")
        delivered = n.record_attempt(
            s,
            **common,  # type: ignore[arg-type]
            channel="scaip",
            recipient_address="sip:arc@127.0.0.1",
            attempt=1,
            status=AttemptStatus.DELIVERED,
            detail="200 OK",
            provider_ref=None,
            idempotency_key="k1",
            at=at,
        )
        sent = n.record_attempt(
            s,
            **common,  # type: ignore[arg-type]
            channel="email",
            recipient_address="sam@example.invalid",
            attempt=1,
            status=AttemptStatus.SENT,
            detail="250",
            provider_ref=None,
            idempotency_key="k2",
            at=at,
        )
    with n.transaction(engine, write=False) as s:
        views = {v.id: v for v in n.attempts_for(s, [alert])[alert]}
    assert views[delivered].delivered_at == at
    assert views[sent].delivered_at is None, "sent is not delivered"
    store.close()
    engine.dispose()
