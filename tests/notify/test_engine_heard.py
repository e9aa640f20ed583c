"""Alerts the rules engine says it raised (`Notifier.heard_raised`, from its MQTT message): the
first level is claimed as the alert's jobs are made, in one write transaction, and sent at once
without waiting for the history's poll; each is still sent once with two notifiers hearing it,
a fall withdrawn before it is heard is not sent, and a claim made so by a notifier that dies
before sending is taken over when its lease runs out. On a real SQLite store and a real
webhook server."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from notify_support import *  # noqa: F403  (pytest fixtures, by name)
from notify_support import Hook, raise_fall, until
from sqlalchemy import event

from hof.alertstore import AlertStore, make_engine, migrate
from hof.alertstore import notifications as n
from hof.alertstore.engine import WRITE
from hof.alertstore.models import AttemptStatus, JobPurpose, JobState, NotifyAttempt, NotifyJob
from hof.settings import NotifySettings
from notify.channels.base import Channel
from notify.channels.webhook import WebhookChannel
from notify.engine import Notifier
from notify.policy import default_config

SLOW_POLL_S = 30.0  # the history round would find nothing within a test: only hearing sends


class Writes:
    """Write transactions begun on an engine's SQLite connections, and when: as SQLite sees
    them, whether SQLAlchemy began them or they were begun below it (hof.alertstore.direct)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.at: list[float] = []
        self.threads: list[str] = []  # the thread of each: the notifier's are "notify-..."
        event.listen(engine, "checkout", self._checkout)

    def _checkout(self, dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.set_trace_callback(self._statement)

    def _statement(self, sql: str) -> None:
        if sql.startswith("BEGIN IMMEDIATE"):
            self.at.append(time.time())
            self.threads.append(threading.current_thread().name)


Start = Callable[..., Awaitable[tuple[Notifier, Writes]]]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AlertStore]:
    url = f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
    migrate(url)
    opened = AlertStore(make_engine(url))
    yield opened
    opened.close()


@pytest.fixture
async def start(store: AlertStore, hook: Hook) -> AsyncIterator[Start]:
    """`await start(name, poll_s=..., lease_s=...)`: a running notifier on the store, telling
    the hook of every fall (the default policy, as a harness runs it)."""
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    made: list[Notifier] = []

    async def started(
        name: str, *, poll_s: float = SLOW_POLL_S, lease_s: float = 60.0
    ) -> tuple[Notifier, Writes]:
        notifier = _notifier(store, hook, name, poll_s=poll_s, lease_s=lease_s)
        writes = Writes(notifier.engine)
        made.append(notifier)
        tasks.append(asyncio.create_task(notifier.run(stop)))
        await asyncio.sleep(0.2)  # started: its cursor is at the history's end
        return notifier, writes

    yield started
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 20)
    for notifier in made:
        for channel in notifier.channels.values():
            await channel.aclose()
        notifier.engine.dispose()


def _notifier(
    store: AlertStore, hook: Hook, name: str, *, poll_s: float, lease_s: float
) -> Notifier:
    channels: dict[str, Channel] = {"webhook": WebhookChannel(b"k", timeout_s=5)}
    settings = NotifySettings(
        client_id=name, poll_s=poll_s, lease_s=lease_s, webhook_url=f"{hook.url}/alert"
    )
    return Notifier(
        settings,
        default_config(),
        channels,
        make_engine(str(store.engine.url)),
        ack_secret=b"s",
        public_url="http://127.0.0.1:1",
    )


def _homes(hook: Hook) -> Counter[str]:
    return Counter(str(p.json()["home"]) for p in hook.posts("/alert"))


def _jobs(store: AlertStore) -> list[tuple[int, tuple[int, int], JobState, str | None]]:
    """Each escalation job: (alert, (level, repeat), state, owner)."""
    with n.transaction(store.engine, write=False) as s:
        rows = s.execute(
            sa.select(
                NotifyJob.alert_id,
                NotifyJob.level,
                NotifyJob.repeat,
                NotifyJob.state,
                NotifyJob.owner,
            ).where(NotifyJob.purpose == JobPurpose.ESCALATE)
        )
        return [(a, (level, repeat), state, owner) for a, level, repeat, state, owner in rows]


def _sent(store: AlertStore) -> list[int]:
    with n.transaction(store.engine, write=False) as s:
        return list(
            s.scalars(
                sa.select(NotifyAttempt.alert_id).where(NotifyAttempt.status == AttemptStatus.SENT)
            )
        )


async def test_a_heard_fall_goes_out_in_one_write_before_its_post(
    store: AlertStore, hook: Hook, start: Start
) -> None:
    """No poll for 30 s: the POST comes from hearing alone, after one write transaction (its
    jobs made, the first level's claimed), and the level's later jobs are in the store."""
    notifier, writes = await start("heard")
    alert = await asyncio.to_thread(raise_fall, store, "H-1")
    before = len(writes.at)
    notifier.heard_raised(alert, "raised")
    assert await until(lambda: bool(hook.posts("/alert")), 5), "not sent without the poll"
    (post,) = hook.posts("/alert")
    assert post.json()["home"] == "H-1"
    assert len([t for t in writes.at[before:] if t <= post.at]) == 1
    jobs = [j for j in _jobs(store) if j[0] == alert]
    assert len(jobs) == len({j[1] for j in jobs}) > 1, "every level once"
    assert await until(lambda: _sent(store) == [alert], 5)
    done = [(alert, (0, 0), JobState.DONE, "heard")]
    assert await until(lambda: [j for j in _jobs(store) if j[1] == (0, 0)] == done, 5)


async def test_a_fall_the_round_finds_first_goes_out_in_the_heard_claims_one_lean_write(
    store: AlertStore, hook: Hook, start: Start
) -> None:
    """Not heard (no MQTT, no store watch in time): the history round comes upon the fall's
    "raised" row. It hands the alert to the heard alerts' claim, whose one write below
    SQLAlchemy makes the jobs and claims the first level; the round itself writes nothing
    through the models on the way to the POST (its write of the jobs took 10-15 ms in the
    harness, and the fall's claim waited for it)."""
    notifier, writes = await start("round", poll_s=0.05)
    orm_writes: list[float] = []

    @event.listens_for(notifier.engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        if connection.get_execution_options().get(WRITE, False):
            orm_writes.append(time.time())

    await asyncio.sleep(0.3)  # the start-up rounds, and their cursor's save, are done
    before, orm_before = len(writes.at), len(orm_writes)
    alert = await asyncio.to_thread(raise_fall, store, "R-1")
    assert await until(lambda: bool(hook.posts("/alert")), 5), "the round did not find it"
    (post,) = hook.posts("/alert")
    mine = [
        t
        for t, thread in zip(writes.at[before:], writes.threads[before:], strict=True)
        if thread.startswith("notify-") and t <= post.at
    ]
    assert len(mine) == 1
    assert [t for t in orm_writes[orm_before:] if t <= post.at] == []
    jobs = [j for j in _jobs(store) if j[0] == alert]
    assert len(jobs) == len({j[1] for j in jobs}) > 1, "every level once"
    assert await until(lambda: _sent(store) == [alert], 5)


async def test_two_notifiers_hearing_the_same_falls_send_each_once(
    store: AlertStore, hook: Hook, start: Start
) -> None:
    """Both hear every fall (as both subscribe) and poll often too: one POST, one attempt row
    and one set of jobs a fall."""
    first, _ = await start("one", poll_s=0.05)
    second, _ = await start("two", poll_s=0.05)
    alerts = []
    for i in range(20):
        alert = await asyncio.to_thread(raise_fall, store, f"T-{i}")
        alerts.append(alert)
        for notifier in (first, second) if i % 2 else (second, first):
            notifier.heard_raised(alert, "raised")
    assert await until(lambda: len(_homes(hook)) == 20, 10)
    assert await until(lambda: len(_sent(store)) >= 20, 5)
    await asyncio.sleep(0.5)  # a second send would have come by now
    assert _homes(hook) == {f"T-{i}": 1 for i in range(20)}
    assert sorted(_sent(store)) == alerts
    levels = Counter((j[0], j[1]) for j in _jobs(store))
    assert set(levels.values()) == {1}


async def test_a_fall_withdrawn_before_it_is_heard_is_not_sent(
    store: AlertStore, hook: Hook, start: Start
) -> None:
    # No poll within the test: a round between the raise and the withdrawal would rightly
    # send it (it was open then); hearing of it after the withdrawal must not.
    notifier, _ = await start("withdrawn")
    alert = await asyncio.to_thread(raise_fall, store, "W-1", "wear-1")
    await asyncio.to_thread(store.withdraw, home="W-1", rule="fall")
    notifier.heard_raised(alert, "raised")
    kept = await asyncio.to_thread(raise_fall, store, "W-2", "wear-1")
    notifier.heard_raised(kept, "raised")
    assert await until(lambda: "W-2" in _homes(hook), 5)
    await asyncio.sleep(0.5)
    assert _homes(hook) == {"W-2": 1}
    assert [j for j in _jobs(store) if j[0] == alert] == [], "no escalation for it"


async def test_a_claim_made_on_hearing_by_a_notifier_that_died_is_taken_over(
    store: AlertStore, hook: Hook, start: Start
) -> None:
    """A notifier claims the first level as it makes the jobs and dies before its POST (the
    claim is all it did): the other notifier sends it once the lease has run out, not before."""
    dead = _notifier(store, hook, "dead", poll_s=SLOW_POLL_S, lease_s=1.5)
    alert = await asyncio.to_thread(raise_fall, store, "D-1")
    claimed = await asyncio.to_thread(dead._claim_raised, [alert])
    assert [(job.alert_id, job.level) for job, _ in claimed] == [(alert, 0)]
    claimed_at = time.time()
    await start("alive", poll_s=0.05)
    assert await until(lambda: bool(hook.posts("/alert")), 5)
    (post,) = hook.posts("/alert")
    assert post.at - claimed_at >= 1.4, "sent while the dead notifier's lease still held"
    await asyncio.sleep(0.3)
    assert _homes(hook) == {"D-1": 1}
    dead.engine.dispose()


@contextlib.asynccontextmanager
async def _impatient(
    store: AlertStore, hook: Hook, name: str, *, poll_s: float
) -> AsyncIterator[tuple[Notifier, asyncio.Task[None]]]:
    """A running notifier whose store calls give up on a locked store after 0.3 s."""
    notifier = _notifier(store, hook, name, poll_s=poll_s, lease_s=60)
    notifier.engine.dispose()
    notifier.engine = make_engine(str(store.engine.url), sqlite_busy_timeout_s=0.3)
    notifier.writes.engine = notifier.engine
    stop = asyncio.Event()
    task = asyncio.create_task(notifier.run(stop))
    try:
        await asyncio.sleep(0.3)
        yield notifier, task
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 20)
        for channel in notifier.channels.values():
            await channel.aclose()
        notifier.engine.dispose()


@contextlib.contextmanager
def _write_locked(store: AlertStore) -> Iterator[None]:
    """The store's write lock held by another connection, past any busy timeout."""
    locker = sqlite3.connect(str(store.engine.url.database), isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        locker.execute("ROLLBACK")
        locker.close()


async def test_a_heard_fall_whose_claim_fails_is_claimed_again_once_the_store_is_back(
    store: AlertStore, hook: Hook
) -> None:
    """The store's write lock is held for longer than the notifier's busy timeout as a fall is
    heard: its claim fails, and is tried again until it goes through (the history round leaves
    a heard fall to its claim). No poll within the test, so that only the claim can send it."""
    async with _impatient(store, hook, "locked-out", poll_s=SLOW_POLL_S) as (notifier, _):
        alert = await asyncio.to_thread(raise_fall, store, "L-1")
        with _write_locked(store):
            notifier.heard_raised(alert, "raised")
            await asyncio.sleep(1.2)
            assert hook.posts("/alert") == [], "sent while the store was locked"
        assert await until(lambda: _homes(hook) == {"L-1": 1}, 10)
        await asyncio.sleep(0.5)
        assert _homes(hook) == {"L-1": 1}


async def test_a_round_the_store_refuses_is_tried_again_and_the_notifier_keeps_running(
    store: AlertStore, hook: Hook
) -> None:
    """The history round finds a fall nobody heard of while the store's write lock is held
    past the notifier's busy timeout: its write fails. The notifier logs it, backs off and
    tries again; once the store is free the fall is sent, once. It used to end `run`, and
    the process with it, leaving every later fall to nobody."""
    async with _impatient(store, hook, "round-locked", poll_s=0.1) as (_, task):
        await asyncio.to_thread(raise_fall, store, "R-1")  # not heard: only the round finds it
        with _write_locked(store):
            await asyncio.sleep(1.5)
            assert hook.posts("/alert") == [], "sent while the store was locked"
            assert not task.done(), task.exception() if task.done() else None
        assert await until(lambda: _homes(hook) == {"R-1": 1}, 10)
        await asyncio.sleep(0.5)
        assert _homes(hook) == {"R-1": 1}
        assert not task.done()
