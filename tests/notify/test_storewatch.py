"""A raised responder alert is heard from the SQLite store's own commit (inotify on its log),
not only from the rules engine's MQTT message, which waits its turn in a busy broker. On a real
SQLite store, a real webhook server, and the real notifier."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from notify_support import *  # noqa: F403  (pytest fixtures, by name)
from notify_support import Hook, open_store, raise_fall, running_notifier, until

from hof.alertstore import AlertStore, Category, make_engine
from hof.alertstore.vocabulary import Audience, Severity
from hof.settings import NotifySettings
from notify.policy import RESPONDER_KINDS, Level, NotifyConfig, Person, Policy, Target
from notify.storewatch import StoreWatch


def _raise_damp(store: AlertStore, home: str) -> int:
    return store.raise_or_update(
        home=home,
        rule="damp_mould",
        rule_version=1,
        category=Category.DAMP_MOULD,
        audience=Audience.HOUSING_OFFICER,
        severity=Severity.SIGNIFICANT,
        summary="Bedroom humidity above 75 %.",
        room="bedroom",
    ).alert.id


async def test_a_committed_fall_is_heard_at_once_and_nothing_else_is(tmp_path: Path) -> None:
    url, store = open_store(tmp_path)
    before = raise_fall(store, "H-old")  # there before the watch: the history round's
    heard: list[int] = []
    engine = make_engine(url)
    watch = StoreWatch(engine, RESPONDER_KINDS, heard.append)
    task = asyncio.create_task(watch.run())
    try:
        await asyncio.wait_for(watch.watching.wait(), 10)  # its mark past `before`
        damp = await asyncio.to_thread(_raise_damp, store, "H-damp")
        began = time.monotonic()
        fall = await asyncio.to_thread(raise_fall, store, "H-new")
        assert await until(lambda: fall in heard, 10.0), heard
        assert time.monotonic() - began < 5.0  # at once, not a poll's 30 s
        assert before not in heard
        assert damp not in heard  # not a responder alert
        again = await asyncio.to_thread(raise_fall, store, "H-next")
        assert await until(lambda: again in heard, 10.0), heard
        assert heard == [fall, again]  # each once, in order
    finally:
        task.cancel()
        engine.dispose()
        store.close()


async def test_without_its_mqtt_message_a_fall_still_reaches_the_webhook_at_once(
    tmp_path: Path, hook: Hook
) -> None:
    """The rules engine's "raised" message lost (or stuck in a broker's queue), and the next
    history round 30 s away: the store's own commit brings the first level out."""
    url, store = open_store(tmp_path)
    sam = (Target(person="sam", via=("webhook",)),)
    config = NotifyConfig(
        people={"sam": Person(name="Sam", webhook=f"{hook.url}/sam")},
        policies=(Policy(name="fall", kinds=(Category.FALL,), levels=(Level(wait_s=0, to=sam),)),),
    )
    settings = NotifySettings(client_id="watch-test", poll_s=30.0)
    async with running_notifier(url, config, settings) as notifier:
        watch = StoreWatch(
            notifier.engine, RESPONDER_KINDS, lambda a: notifier.heard_raised(a, "raised")
        )
        task = asyncio.create_task(watch.run())
        try:
            await asyncio.wait_for(watch.watching.wait(), 10)
            await asyncio.sleep(0.5)  # the notifier's first round is done; the next in 30 s
            began = time.time()
            fall = await asyncio.to_thread(raise_fall, store, "H-1")
            assert await until(lambda: bool(hook.posts("/sam")), 10.0), "no webhook"
            assert hook.posts("/sam")[0].at - began < 5.0  # not the round's 30 s
            await asyncio.sleep(0.5)
            notifier.heard_raised(fall, "raised")  # the MQTT message, late: nothing more
            await asyncio.sleep(0.5)
            assert len(hook.posts("/sam")) == 1
        finally:
            task.cancel()
    store.close()


async def test_a_store_that_is_not_sqlite_is_not_watched() -> None:
    engine = make_engine("postgresql+psycopg://u:p@127.0.0.1:9/x")
    watch = StoreWatch(engine, RESPONDER_KINDS, lambda a: None)
    await asyncio.wait_for(watch.run(), 1.0)  # returns at once
    engine.dispose()


class _BehindTheIndex(StoreWatch):
    """A watch that, for `stale_s` from `behind()`, reads the store as it was: what a reader
    sees when it slips in between a writer's last write to the log (its event) and the
    writer's update of the log's index (an mmap'd page, which makes no event), as a loaded
    machine lets it."""

    stale_until = 0.0

    def behind(self, stale_s: float) -> None:
        self.stale_until = time.monotonic() + stale_s

    def _read(self) -> tuple[list[int], bool]:
        if time.monotonic() < self.stale_until:
            return [], False  # nothing new committed, as far as this read could see
        return super()._read()


async def test_a_commit_not_yet_visible_at_its_event_is_read_again(tmp_path: Path) -> None:
    """CI, loaded: the watch read at the log's events, saw no new alert, and waited for the
    next write to the log, which never came (the fall waited for the 10-minute poll)."""
    url, store = open_store(tmp_path)
    heard: list[int] = []
    engine = make_engine(url)
    watch = _BehindTheIndex(engine, RESPONDER_KINDS, heard.append)
    task = asyncio.create_task(watch.run())
    try:
        await asyncio.wait_for(watch.watching.wait(), 10)
        watch.behind(0.2)
        fall = await asyncio.to_thread(raise_fall, store, "H-late")
        assert await until(lambda: fall in heard, 5.0), heard
    finally:
        task.cancel()
        engine.dispose()
        store.close()
