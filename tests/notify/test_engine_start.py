"""A notifier that starts as an alert is raised (or reopened) makes that alert's levels due from
when it was raised, never from the moment the notifier read its clock before it read the store.
On a real SQLite store and a real webhook server.

The e2e telecare loop failed so once in CI: its notifier reports ready (MQTT subscribed) while
its start-up pass may still be on its way to the store, the test's fall follows within about
100 ms, and the second level went out 1.923 s after the alert's `first_raised_at` where the
policy waits 2 s."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from notify_support import *  # noqa: F403  (pytest fixtures, by name)
from notify_support import (
    Hook,
    open_store,
    raise_fall,
    raise_offline,
    running_notifier,
    until,
)

from hof.alertstore import AlertStore, Category
from hof.alertstore import notifications as n
from hof.alertstore.models import NotifyJob
from hof.alertstore.vocabulary import Action
from hof.settings import NotifySettings
from notify.policy import Level, NotifyConfig, Person, Policy, Target

WAIT_S = 1.0  # the second level's wait
STALL_S = 0.3  # how long the notifier's start-up is held between reading its clock and the store


def _config(hook: Hook) -> NotifyConfig:
    sam = (Target(person="sam", via=("webhook",)),)
    alex = (Target(person="alex", via=("webhook",)),)
    levels = (Level(wait_s=0, to=sam), Level(wait_s=WAIT_S, to=alex))
    return NotifyConfig(
        people={
            "sam": Person(name="Sam", webhook=f"{hook.url}/sam"),
            "alex": Person(name="Alex", webhook=f"{hook.url}/alex"),
        },
        policies=(
            Policy(name="fall", kinds=(Category.FALL,), levels=levels),
            Policy(
                name="offline",
                kinds=(Category.DEVICE_OFFLINE,),
                levels=levels,
                ack_timeout_s=None,
            ),
        ),
    )


def _raised_while_starting(raise_it: Callable[[], object]) -> Callable[[], dt.datetime]:
    """The notifier's clock (the real one), whose first reading (the start-up pass's, before it
    opens its transaction) is followed by `raise_it()` committing in the store: an alert the
    rules engine raised just after the notifier read the time."""
    done: list[object] = []

    def clock() -> dt.datetime:
        now = dt.datetime.now(dt.UTC)
        if not done:
            time.sleep(STALL_S)  # the start-up held up (the GIL, the write lock)
            done.append(raise_it())
        return now

    return clock


async def _second_level(url: str, hook: Hook, clock: Callable[[], dt.datetime]) -> float:
    """Run a notifier until the second level has gone out; when it arrived."""
    settings = NotifySettings(client_id="start-test", poll_s=0.05)
    async with running_notifier(url, _config(hook), settings, clock=clock):
        assert await until(lambda: bool(hook.posts("/alex")), 5 + WAIT_S)
    return hook.posts("/alex")[0].at


def _due(store: AlertStore, alert_id: int) -> dict[tuple[int, int], dt.datetime]:
    with n.transaction(store.engine, write=False) as s:
        rows = s.execute(
            sa.select(NotifyJob.level, NotifyJob.repeat, NotifyJob.due_at).where(
                NotifyJob.alert_id == alert_id
            )
        ).all()
    return {(level, repeat): due for level, repeat, due in rows}


async def test_a_fall_raised_as_the_notifier_starts_escalates_from_when_it_was_raised(
    tmp_path: Path, hook: Hook
) -> None:
    url, store = open_store(tmp_path)
    ids: list[int] = []
    clock = _raised_while_starting(lambda: ids.append(raise_fall(store, "H-1")))
    second = await _second_level(url, hook, clock)
    (alert_id,) = ids
    raised = store.get(alert_id).alert.first_raised_at
    assert _due(store, alert_id)[(1, 0)] >= raised + dt.timedelta(seconds=WAIT_S), (
        "the second level is due no sooner than its wait after the alert was raised"
    )
    assert second - raised.timestamp() >= WAIT_S
    store.close()


async def test_an_alert_reopened_as_the_notifier_starts_escalates_from_its_reopening(
    tmp_path: Path, hook: Hook
) -> None:
    url, store = open_store(tmp_path, "H-7")
    # Raised and cleared an hour ago, while no notifier ran; it comes back as one starts.
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    alert_id = raise_offline(store, "H-7", an_hour_ago)
    store.clear(home="H-7", rule="device_offline", at=an_hour_ago + dt.timedelta(minutes=5))
    second = await _second_level(
        url, hook, _raised_while_starting(lambda: raise_offline(store, "H-7"))
    )
    detail = store.get(alert_id)
    assert detail.alert.reopen_count == 1
    (reopened,) = [h.at for h in detail.history if h.action is Action.REOPENED]
    # The reopened run's second level (repeat 1000: run 1), from the reopening.
    assert _due(store, alert_id)[(1, 1000)] >= reopened + dt.timedelta(seconds=WAIT_S)
    assert second - reopened.timestamp() >= WAIT_S
    store.close()
