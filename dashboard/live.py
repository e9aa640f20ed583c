"""Changes in the alert store pushed to open pages and API clients (Server-Sent Events).

The rules engine is another process, so the dashboard looks for changes where they land: the
append-only history, whose ids only grow. One poll a dashboard process (not one per open
queue) reads what is new and fans it out to each subscriber's bounded queue; a subscriber too
slow to keep up gets a `resync` (reload everything) instead of a growing backlog.

The notifier's sends and receipts change no alert, so the same poll follows the attempts too:
new ones by id, and those still `sent` (awaiting a receipt) by their status, each becoming a
change (`attempt`) of its alert.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from dashboard.access import Principal, audiences_for, categories_for
from dashboard.context import Context
from dashboard.db import reading
from hof.alertstore import Audience, Category
from hof.alertstore.models import Alert, AlertHistory, AttemptStatus, NotifyAttempt
from hof.registry import Home
from hof.waiting import within

__all__ = ["Change", "Hub", "read_attempts", "sse_stream", "watch_forever"]

log = structlog.get_logger(__name__)
SUBSCRIBER_QUEUE = 200
HEARTBEAT_S = 15.0
UNSETTLED_KEPT = 5000  # attempts awaiting a receipt that are watched (the oldest forgotten)


@dataclass(frozen=True, slots=True)
class Change:
    alert: int
    home: str
    patch: str | None
    action: str
    category: str
    audience: str
    severity: str
    state: str

    def visible_to(self, who: Principal) -> bool:
        if not who.may_see_home(self.home, self.patch):
            return False
        audiences = audiences_for(who)
        if audiences and self.audience not in {*audiences, Audience.BOTH}:
            return False
        categories = categories_for(who)
        return not categories or Category(self.category) in categories


@dataclass
class Hub:
    subscribers: set[asyncio.Queue[Change | None]] = field(default_factory=set)
    last_id: int = -1
    stopping: bool = False
    attempt_id: int = -1  # the newest attempt seen
    unsettled: OrderedDict[int, str] = field(default_factory=OrderedDict)  # id -> status

    def subscribe(self) -> asyncio.Queue[Change | None]:
        queue: asyncio.Queue[Change | None] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Change | None]) -> None:
        self.subscribers.discard(queue)

    def publish(self, change: Change) -> None:
        for queue in list(self.subscribers):
            try:
                queue.put_nowait(change)
            except asyncio.QueueFull:
                # Too slow: drop its backlog and tell it to reload everything instead.
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)


def _read_changes(ctx: Context, after: int) -> tuple[int, list[Change]]:
    with reading(ctx.engine) as session:
        if after < 0:
            return int(session.scalar(sa.select(sa.func.max(AlertHistory.id))) or 0), []
        rows = session.execute(
            sa.select(
                AlertHistory.id,
                AlertHistory.action,
                Alert.id,
                Alert.home,
                Home.patch,
                Alert.category,
                Alert.audience,
                Alert.severity,
                Alert.state,
            )
            .join(Alert, Alert.id == AlertHistory.alert_id)
            .outerjoin(Home, Home.id == Alert.home)
            .where(AlertHistory.id > after)
            .order_by(AlertHistory.id)
            .limit(5000)
        ).all()
    changes = [
        Change(a, home, patch, str(action), str(cat), str(aud), str(sev), str(state))
        for _, action, a, home, patch, cat, aud, sev, state in rows
    ]
    return (rows[-1][0] if rows else after), changes


def _watch(engine: Engine, hub: Hub) -> None:
    """Start following attempts from now: the newest id, and the latest still awaiting a
    receipt (a receipt for one of them is news too)."""
    with reading(engine) as session:
        hub.attempt_id = int(session.scalar(sa.select(sa.func.max(NotifyAttempt.id))) or 0)
        waiting = session.scalars(
            sa.select(NotifyAttempt.id)
            .where(NotifyAttempt.status == AttemptStatus.SENT)
            .order_by(NotifyAttempt.id.desc())
            .limit(UNSETTLED_KEPT)
        ).all()
    hub.unsettled = OrderedDict((i, AttemptStatus.SENT.value) for i in sorted(waiting))


def read_attempts(engine: Engine, hub: Hub) -> list[Change]:
    """One change per alert whose attempts are new or whose awaited receipt came, since the
    last call; the first call only takes its bearings."""
    if hub.attempt_id < 0:
        _watch(engine, hub)
        return []
    columns = (
        NotifyAttempt.id,
        NotifyAttempt.status,
        Alert.id,
        Alert.home,
        Home.patch,
        Alert.category,
        Alert.audience,
        Alert.severity,
        Alert.state,
    )

    def query(where: Any) -> Any:
        return (
            sa.select(*columns)
            .join(Alert, Alert.id == NotifyAttempt.alert_id)
            .outerjoin(Home, Home.id == Alert.home)
            .where(where)
            .order_by(NotifyAttempt.id)
        )

    touched: dict[int, Change] = {}
    watched = list(hub.unsettled)
    with reading(engine) as session:
        fresh = session.execute(query(NotifyAttempt.id > hub.attempt_id).limit(5000)).all()
        again = [
            row
            for start in range(0, len(watched), 500)
            for row in session.execute(
                query(NotifyAttempt.id.in_(watched[start : start + 500]))
            ).all()
        ]
    for attempt, status, a, home, patch, cat, aud, sev, state in fresh:
        hub.attempt_id = max(hub.attempt_id, attempt)
        touched[a] = Change(a, home, patch, "attempt", str(cat), str(aud), str(sev), str(state))
        if status is AttemptStatus.SENT:
            hub.unsettled[attempt] = status.value
            if len(hub.unsettled) > UNSETTLED_KEPT:
                hub.unsettled.popitem(last=False)
    for attempt, status, a, home, patch, cat, aud, sev, state in again:
        if status is AttemptStatus.SENT:
            continue
        hub.unsettled.pop(attempt, None)  # a receipt: delivered or failed, final either way
        touched[a] = Change(a, home, patch, "attempt", str(cat), str(aud), str(sev), str(state))
    return list(touched.values())


async def watch_forever(ctx: Context) -> None:
    hub = ctx.hub
    while True:
        try:
            hub.last_id, changes = await run_in_threadpool(_read_changes, ctx, hub.last_id)
            changes += await run_in_threadpool(read_attempts, ctx.engine, hub)
            for change in changes:
                hub.publish(change)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the store is away: say so, keep polling
            log.warning("dashboard_live_poll_failed", error=f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(ctx.settings.dashboard.live_poll_s)


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def sse_stream(ctx: Context, who: Principal) -> AsyncIterator[str]:
    """`change` events for alerts this person may see, `resync` when they fell behind,
    comments as heartbeats; ends when the dashboard stops."""
    hub = ctx.hub
    queue = hub.subscribe()
    # Open streams, so an operator (and a test) can see that closed ones really end.
    subscribers = ctx.metrics.gauge("hof_dashboard_live_subscribers", "open alert streams")
    subscribers.set(len(hub.subscribers))
    try:
        yield "retry: 3000\n\n"
        yield _event("ready", {"after": hub.last_id})
        idle = 0.0
        while not hub.stopping:
            try:
                change = await within(queue.get(), 1.0)
            except TimeoutError:
                idle += 1.0
                if idle >= HEARTBEAT_S:
                    idle = 0.0
                    yield ": keep-alive\n\n"
                continue
            idle = 0.0
            if change is None:
                ctx.metrics.counter(
                    "hof_dashboard_live_resyncs_total", "streams that fell behind and resynced"
                ).inc()
                yield _event("resync", {})
            elif change.visible_to(who):
                yield _event(
                    "change",
                    {
                        "alert": change.alert,
                        "home": change.home,
                        "action": change.action,
                        "category": change.category,
                        "severity": change.severity,
                        "state": change.state,
                    },
                )
    finally:
        hub.unsubscribe(queue)
        subscribers.set(len(hub.subscribers))
