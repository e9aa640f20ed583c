"""The escalation engine: alert history -> jobs in the store -> claimed, sent, recorded.

Every timer is a row (`notify_job`): when a responder alert is raised, all of its policy's
levels are created at once with their due times, so a notifier killed between two levels
leaves the later ones in the store and a restarted (or another) notifier sends each at its
time. A job is taken under a lease with a conditional UPDATE, so of several notifiers exactly
one sends it; a recipient already reached by a job taken over after a crash is not sent to
again. Acknowledging (link, SMS, dashboard) cancels the alert's pending jobs in the store and
the sends in flight here; every send checks that the alert is still open just before it goes.

The engine learns of changes from the append-only alert history (ids only grow), read every
`poll_s`. When the rules engine says it raised an alert (MQTT, see hof/alertstore/raised.py;
notify/service.py calls `heard_raised`), or the SQLite store's commit shows it
(notify/storewatch.py), the alert's jobs are made straight from its row, the
first level's already claimed, in one short transaction (`_claim_raised`), and its POST goes
out at once; the history round that reads that alert's "raised" row later finds its jobs made
and writes nothing for it. A notifier that misses the message makes them from the history.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import hashlib
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from hof.alertstore import Category, State, direct
from hof.alertstore import notifications as n
from hof.alertstore.models import Alert, AlertHistory, JobPurpose, JobState, NotifyJob
from hof.alertstore.vocabulary import Action
from hof.metrics import Registry
from hof.registry.models import Home
from hof.settings import NotifySettings
from hof.waiting import within
from notify import store
from notify.channels.base import Channel, Delivery, DeliveryStatus, Message, Recipient
from notify.deliver import deliver
from notify.policy import (
    RESPONDER_KINDS,
    HomeInfo,
    NotifyConfig,
    Policy,
    Target,
    recipients,
    steps_for,
)
from notify.writes import WriteQueue

__all__ = ["AlertFacts", "Notifier"]

log = structlog.get_logger(__name__)

LONDON = ZoneInfo("Europe/London")
HISTORY_BATCH = 2000
ROUND_RETRY_MAX_S = 5.0  # the longest pause after a round the store refused
HOME_CACHE_S = 60.0
DEVICES_KEPT = 200_000  # homes whose devices are remembered (oldest forgotten first)
STOPPED_KEPT = 100_000
CLAIM_BATCH = 50  # jobs taken by one claim (more when a round made more that are due)
# Threads for store calls, the notifier's own: a send in a thread (SMTP) never holds one up.
STORE_THREADS = 3
CURSOR_SAVE_S = 5.0  # the cursor of rounds that wrote nothing else is saved this often
HEARD_BATCH = 500  # alerts heard of on MQTT whose first levels one transaction claims at most
RETRY_FIRST_S = 0.2  # a heard batch whose claim failed is tried again after this, doubling
RETRY_MOST_S = 5.0
HEARD_KEPT = 100_000  # alerts whose jobs were made on hearing of them, until the round sees them
# A reopened alert's jobs are a new run, numbered by its reopen count in `repeat`'s thousands,
# so the store's one-job-per-(alert, purpose, level, repeat) rule keeps the old run's rows.
RUN_STRIDE = 1000
STOPPING = frozenset({Action.ACKNOWLEDGED, Action.ASSIGNED})
ENDING = frozenset({Action.RESOLVED, Action.WITHDRAWN, Action.CLEARED})
NOTICE_TEXT = {
    "check": "Are you all right? Press your button if you are.",
    "acknowledged": "Help is on the way",
    "resolved": "Your alert is closed",
    "raised": "Your alert has been raised",
}


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """What a send needs of an alert, read in one transaction."""

    id: int
    home: str
    room: str | None
    category: Category
    severity: str
    state: State
    summary: str
    evidence: dict[str, Any]
    raised_at: dt.datetime
    acknowledged_by: str | None
    acknowledged_at: dt.datetime | None

    @classmethod
    def of(cls, row: Any) -> AlertFacts:
        """From the ORM's row or a Core row of the same columns."""
        return cls(
            row.id,
            row.home,
            row.room,
            row.category,
            row.severity.value,
            row.state,
            str(row.evidence.get("summary", "")),
            dict(row.evidence),
            row.first_raised_at,
            row.acknowledged_by,
            row.acknowledged_at,
        )


# What a job needs before it sends: the alert, its home, its policy, whom it reached already.
Loaded = tuple[AlertFacts, HomeInfo, Policy | None, set[str]]
# Jobs taken, each with what it needs when that was read along with the claim.
Claimed = list[tuple[n.ClaimedJob, Loaded | None]]


def _in_run(steps: list[n.Step], run: int) -> list[n.Step]:
    """The steps of escalation run `run` (0: as first raised; n: after the n-th reopening)."""
    if not run:
        return steps
    return [n.Step(s.purpose, s.level, s.repeat + run * RUN_STRIDE, s.due_at) for s in steps]


def _runs_began(s: Any, alerts: list[Alert]) -> dict[int, dt.datetime]:
    """When each alert's current escalation run began: when it was raised, or its latest
    reopening (the history's time, which the round's jobs for that run are due from)."""
    began = {alert.id: alert.first_raised_at for alert in alerts}
    reopened = [alert.id for alert in alerts if alert.reopen_count]
    if reopened:
        latest = (
            sa.select(AlertHistory.alert_id, sa.func.max(AlertHistory.at))
            .where(AlertHistory.alert_id.in_(reopened), AlertHistory.action == Action.REOPENED)
            .group_by(AlertHistory.alert_id)
        )
        began.update({alert_id: at for alert_id, at in s.execute(latest)})
    return began


def _key(job: n.ClaimedJob, channel: str, recipient: Recipient) -> str:
    who = hashlib.sha256(f"{channel}|{recipient.address}".encode()).hexdigest()[:16]
    return f"hof-{job.alert_id}-{job.purpose.value}-{job.level}-{job.repeat}-{who}"


class Notifier:
    """One notifier process's engine; `run(stop)` until `stop` is set."""

    def __init__(
        self,
        settings: NotifySettings,
        config: NotifyConfig,
        channels: Mapping[str, Channel],
        engine: Engine,
        *,
        ack_secret: bytes,
        public_url: str,
        metrics: Registry | None = None,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self.settings = settings
        self.config = config
        self.channels = dict(channels)
        self.engine = engine
        self.ack_secret = ack_secret
        self.public_url = public_url.rstrip("/")
        self.clock = clock
        self.owner = settings.client_id
        self.lease = dt.timedelta(seconds=settings.lease_s)
        self._wake = asyncio.Event()
        # Set once the first round has read the history: the notifier is ready after it, so an
        # alert stored after readiness is one the first round did not see (tests rely on it).
        self.caught_up = asyncio.Event()
        # Alerts the rules engine said it raised, for `_claim_heard_forever`: queued, and
        # until their claim is committed `_pending`; then `_made`. The history round leaves
        # the "raised" row of either to it (in a burst its writes for them held the SQLite
        # write lock that the rules engine and the claims were waiting for).
        self._heard: list[int] = []
        self._pending: set[int] = set()
        self._heard_more = asyncio.Event()
        self._made: OrderedDict[int, None] = OrderedDict()
        self._heard_recent: OrderedDict[int, None] = OrderedDict()
        self._claim_at = 0.0  # monotonic time of the next claim: at most poll_s, or a job's due
        self._cursor: int | None = None  # how far the history is read (saved with each write)
        self._cursor_saved = 0.0
        self._db = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="notify-store")
        # A thread of their own for heard alerts' claims: in a burst the shared ones can all
        # be waiting for the write lock (the write queue, a round, lease renewals).
        self._heard_db = ThreadPoolExecutor(1, thread_name_prefix="notify-heard")
        # Attempt rows, finishes and ack tokens: batched, off the way to the first send.
        self.writes = WriteQueue(engine, self._call)
        self.running: dict[int, tuple[n.ClaimedJob, asyncio.Task[None]]] = {}
        # Alerts acknowledged ("acknowledged": no more levels) or closed ("ended": nothing more).
        self.stopped: OrderedDict[int, str] = OrderedDict()
        self.devices: OrderedDict[str, dict[str, None]] = OrderedDict()
        self._homes: dict[str, tuple[float, HomeInfo, bool]] = {}
        m = self.metrics = metrics or Registry()
        self.m_sends = m.counter(
            "hof_notify_attempts_total", "Delivery attempts, by channel/status"
        )
        self.m_jobs = m.counter("hof_notify_jobs_total", "Jobs finished, by purpose and outcome")
        self.m_latency = m.gauge(
            "hof_notify_last_first_send_seconds", "Alert raised to its first level's first send"
        )

    # -- waking ---------------------------------------------------------------------------

    def wake(self) -> None:
        """Look at the store now (an acknowledgement came in, or an alert reopened)."""
        self._wake.set()

    def heard_raised(self, alert_id: int, action: str) -> None:
        """The rules engine says it opened (`raised`) or reopened an alert just now: a new
        alert's jobs are made and its first level claimed at once, without the history round;
        a reopened one (its run depends on the history) wakes the round."""
        if action != "raised":
            self.wake()
            return
        # Heard twice (the store's own watch, then MQTT): the second is nothing to do.
        if alert_id in self._pending or alert_id in self._heard_recent:
            return
        self._heard_recent[alert_id] = None
        while len(self._heard_recent) > HEARD_KEPT:
            self._heard_recent.popitem(last=False)
        self._pending.add(alert_id)
        self._heard.append(alert_id)
        self._heard_more.set()

    def saw_device(self, home: str, device: str) -> None:
        """A device of a home spoke (an event or a status): it may be sent notices."""
        known = self.devices.get(home)
        if known is None:
            known = self.devices[home] = {}
            if len(self.devices) > DEVICES_KEPT:
                self.devices.popitem(last=False)
        known[device] = None

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    # -- life -----------------------------------------------------------------------------

    async def _pause(self, stop: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await within(stop.wait(), seconds)

    async def run(self, stop: asyncio.Event) -> None:
        await self._call(self._start)
        renewer = asyncio.create_task(self._renew_forever())
        writer = asyncio.create_task(self.writes.run())
        heard = asyncio.create_task(self._claim_heard_forever())
        failures = 0
        try:
            while not stop.is_set():
                self._wake.clear()  # a wake from here on is seen by the wait below
                try:
                    claimed, handed = await self._call(self._watch_once)
                    self._spawn(claimed)
                    for alert_id in handed:
                        self.heard_raised(alert_id, "raised")
                    if time.monotonic() >= self._claim_at:
                        await self._dispatch_once()
                    failures = 0
                    self.caught_up.set()
                except Exception:
                    # The store locked past the busy timeout, or unreachable: every job is safe
                    # in it (claimed under a lease, or still to be scheduled from the history
                    # after the cursor), so the round is tried again, backing off; a notifier
                    # that stopped here would leave every later fall to nobody.
                    failures += 1
                    log.warning("notify_round_failed", failures=failures, exc_info=True)
                    await self._pause(stop, min(ROUND_RETRY_MAX_S, 0.2 * 2 ** (failures - 1)))
                    continue
                wait = max(0.0, min(self.settings.poll_s, self._claim_at - time.monotonic()))
                stopping = asyncio.create_task(stop.wait())
                woken = asyncio.create_task(self._wake.wait())
                await asyncio.wait(
                    {stopping, woken}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                )
                stopping.cancel()
                woken.cancel()
        finally:
            renewer.cancel()
            heard.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heard  # a claim in its thread is committed or not: either is safe
            # Sends in flight end here; their jobs stay claimed and are taken over (skipping
            # whoever was reached) by the next notifier once the lease runs out, or at once by
            # this one when it starts again with the same client id.
            for _job, task in list(self.running.values()):
                task.cancel()
            await asyncio.gather(*(t for _, t in self.running.values()), return_exceptions=True)
            # What the sends recorded (attempts made) goes into the store before we stop.
            self.writes.close()
            with contextlib.suppress(Exception):
                await within(writer, 30)
            self._db.shutdown(wait=False)
            self._heard_db.shutdown(wait=False)

    def _start(self) -> None:
        now = self.clock()
        with n.transaction(self.engine) as s:
            # Our own claims from before a crash: ours to take again at once.
            s.execute(
                sa.update(NotifyJob)
                .where(NotifyJob.owner == self.owner, NotifyJob.state == JobState.CLAIMED)
                .values(state=JobState.PENDING, owner=None, lease_until=None)
            )
            if n.read_cursor(s, self.owner) is None:
                newest = s.scalar(sa.select(sa.func.max(AlertHistory.id))) or 0
                n.write_cursor(s, self.owner, newest)
            # Open responder alerts, however we missed them: their levels exist already (and
            # this changes nothing), or nobody has been told yet, and their escalation starts
            # now from the first level with its full waits, not every level at once.
            rows = list(
                s.scalars(
                    sa.select(Alert).where(
                        Alert.state == State.OPEN, Alert.category.in_(list(RESPONDER_KINDS))
                    )
                )
            )
            began = _runs_began(s, rows)
            for row in rows:
                # Never from before the run began: an alert raised (or reopened) after `now`
                # was read, while this waited for the write lock or the GIL, is found open
                # here, and its levels from `now` would come due before their time.
                planned = self._raised_steps(s, row, max(now, began[row.id]))
                if planned is not None:
                    n.schedule(s, row.id, _in_run(planned[1], row.reopen_count), now)

    # -- alerts heard of on MQTT ----------------------------------------------------------

    async def _claim_heard_forever(self) -> None:
        """Make the jobs of alerts heard of, a batch at a time (the ones heard while a batch
        is in its transaction go in the next), and send each first level claimed. A batch
        that fails (the store unreachable) is tried again, backing off: the history round
        leaves these alerts to it."""
        backoff = RETRY_FIRST_S
        while True:
            await self._heard_more.wait()
            self._heard_more.clear()
            ids, self._heard = self._heard[:HEARD_BATCH], self._heard[HEARD_BATCH:]
            if self._heard:
                self._heard_more.set()
            loop = asyncio.get_running_loop()
            try:
                claim = functools.partial(self._claim_raised, ids, time.perf_counter())
                claimed = await loop.run_in_executor(self._heard_db, claim)
            except Exception:
                log.exception("notify_heard_claim_failed", alerts=ids[:20])
                self._heard[:0] = ids
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MOST_S)
                self._heard_more.set()
                continue
            backoff = RETRY_FIRST_S
            self._pending.difference_update(ids)
            self._spawn(claimed)

    def _claim_raised(self, ids: list[int], taken: float | None = None) -> Claimed:
        """Make the jobs of newly raised alerts, each first level that is due created claimed,
        in one write transaction: a read of the alerts and their homes and one INSERT, where
        the history round reads the history, then schedules, claims and moves its cursor.

        What the round does with an alert's "raised" row, which it leaves to this: the jobs of
        an open alert whose policy is known. One no longer open was closed (its end cancels
        whatever the round would have made) or taken by someone (the round makes nothing then
        either); one reopened since gets its new run's jobs from its "reopened" row. The state
        is read under the write lock, so a fall withdrawn before this is not sent; one
        withdrawn after it is stopped as always.
        """
        now = self.clock()
        began, cpu = time.perf_counter(), time.thread_time()
        taken = began if taken is None else taken
        plans: list[tuple[int, list[n.Step]]] = []
        fresh: dict[int, tuple[AlertFacts, HomeInfo, Policy]] = {}
        with direct.write(self.engine) as tx:  # on SQLite, the write lock is waited for here
            locked = time.perf_counter()
            for row in store.heard_rows(tx, sorted(set(ids))):
                if row.state is not State.OPEN or row.reopen_count:
                    continue
                if row.category not in RESPONDER_KINDS:
                    continue
                info, telecare = self._home_of(row)
                if row.category is Category.DEVICE_OFFLINE and not telecare:
                    continue  # calls nobody out
                policy = self.config.policy_for(row.category, info.estate)
                if policy is None:
                    log.warning("notify_no_policy", alert=row.id, kind=row.category.value)
                    continue
                facts = AlertFacts.of(row)
                plans.append((row.id, steps_for(policy, row.first_raised_at)))
                fresh[row.id] = (facts, self._with_evidence_device(info, facts), policy)
            if not plans:
                return []
            claimed = store.claim_new_direct(tx, plans, now, self.owner, now + self.lease)
        # Their jobs exist now (made here, or by another notifier first): the round skips them.
        for alert_id in fresh:
            self._made[alert_id] = None
        while len(self._made) > HEARD_KEPT:
            self._made.popitem(last=False)
        log.debug(
            "notify_heard_claim",
            alerts=sorted(fresh),
            jobs=[job.id for job in claimed],
            thread_ms=round((began - taken) * 1000, 1),  # waiting for its thread
            lock_ms=round((locked - began) * 1000, 1),
            write_ms=round((time.perf_counter() - locked) * 1000, 1),
            cpu_ms=round((time.thread_time() - cpu) * 1000, 1),
        )
        return [(job, (*fresh[job.alert_id], set())) for job in claimed]

    def _home_of(self, row: Any) -> tuple[HomeInfo, bool]:
        """The alert's home from the cache, or from the registry's row read with it."""
        cached = self._homes.get(row.home)
        if cached is None or time.monotonic() - cached[0] >= HOME_CACHE_S:
            known = row.registered is not None
            info = HomeInfo(row.home, row.estate, row.patch, ())
            cached = self._homes[row.home] = (time.monotonic(), info, known and bool(row.telecare))
        devices = tuple(self.devices.get(row.home, {}))
        return HomeInfo(row.home, cached[1].estate, cached[1].patch, devices), cached[2]

    # -- watching the history -------------------------------------------------------------

    def _watch_once(self) -> tuple[Claimed, list[int]]:
        """Read the history since the cursor, then write what it means in one short
        transaction; jobs it made that are due now come back claimed (a fall's first level
        goes out without another round), with the new open alerts it leaves to
        `_claim_raised` (below).

        Everything that can be read is read first, outside the write lock: the rules engine
        writes to the same store, and on SQLite a writer that finds the lock taken sleeps in
        steps of up to 100 ms, so every millisecond we hold it can cost it far more.
        """
        # In history order: ("cancel", alert, (purposes, note)) or ("schedule", alert, steps).
        ops: list[tuple[str, int, Any]] = []
        stopped: list[tuple[int, str]] = []
        # A new alert still open is made by the heard alerts' claim, as if it had been heard
        # of: the round that came upon a fall's "raised" row before its MQTT message or the
        # store's watch did made its jobs through the models in a write of 10-15 ms, and the
        # fall's own claim waited for it (docs/notify.md, "The round's share of a fall").
        handed: list[int] = []
        fresh: dict[int, tuple[AlertFacts, HomeInfo, Policy]] = {}
        now = self.clock()
        began = time.perf_counter()
        with n.transaction(self.engine, write=False) as s:
            if self._cursor is None:
                self._cursor = n.read_cursor(s, self.owner) or 0
            rows = s.execute(
                sa.select(AlertHistory.id, AlertHistory.action, AlertHistory.at, Alert)
                .join(Alert, Alert.id == AlertHistory.alert_id)
                .where(AlertHistory.id > self._cursor)
                .order_by(AlertHistory.id)
                .limit(HISTORY_BATCH)
            ).all()
            if not rows:
                return [], []
            self._read_homes(s, {alert.home for *_, alert in rows})
            last = self._cursor
            # Each row's run: the alert's reopen count less its reopenings later in this batch.
            later = Counter(alert.id for _, action, _, alert in rows if action is Action.REOPENED)
            for history_id, action, at, alert in rows:
                last = history_id
                if alert.category not in RESPONDER_KINDS:
                    continue
                if action is Action.REOPENED:
                    later[alert.id] -= 1
                run = max(0, alert.reopen_count - later[alert.id])
                if action is Action.RAISED and (
                    self._made.pop(alert.id, 0) is None or alert.id in self._pending
                ):
                    stopped.append((alert.id, "open"))  # `_claim_raised`'s to make its jobs
                elif action is Action.RAISED and alert.state is State.OPEN and not run:
                    handed.append(alert.id)
                    stopped.append((alert.id, "open"))
                elif action in (Action.RAISED, Action.REOPENED):
                    planned = self._raised_steps(s, alert, at)
                    if planned is not None:
                        policy, steps = planned
                        ops.append(("schedule", alert.id, _in_run(steps, run)))
                        stopped.append((alert.id, "open"))  # after an end in this batch
                        info = self._with_evidence_device(self._home(s, alert.home)[0], alert)
                        fresh[alert.id] = (AlertFacts.of(alert), info, policy)
                elif action in STOPPING:
                    stopped.append((alert.id, "acknowledged"))
                    note = f"acknowledged by {alert.acknowledged_by}"
                    ops.append(("cancel", alert.id, ((JobPurpose.ESCALATE,), note)))
                    steps = self._ack_steps(s, alert, at, now)
                    ops.append(("schedule", alert.id, _in_run(steps, run)))
                elif action in ENDING:
                    stopped.append((alert.id, "ended"))
                    purposes = (JobPurpose.ESCALATE, JobPurpose.ACK_TIMEOUT)
                    ops.append(("cancel", alert.id, (purposes, f"alert {action.value}")))
                    if self._telecare(s, alert):
                        notice = [self._notice(JobPurpose.NOTICE_RESOLVED, now)]
                        ops.append(("schedule", alert.id, _in_run(notice, run)))
        ops = [op for op in ops if op[0] == "cancel" or op[2]]
        if not ops:
            # Saved now and then, never ahead of a handed alert's claim (the write lock): a
            # cursor saved late makes a restarted notifier read a few rows again, and a row
            # read again makes nothing twice.
            if not handed and time.monotonic() - self._cursor_saved > CURSOR_SAVE_S:
                with n.transaction(self.engine) as s:
                    n.write_cursor(s, self.owner, last)
                self._cursor_saved = time.monotonic()
            # Only now: a round whose write failed reads these rows again, handed ones too.
            self._cursor = last
            self._unstop(stopped)
            return [], handed
        created: set[int] = set()
        claimed: list[n.ClaimedJob] = []
        read = time.perf_counter()
        with n.transaction(self.engine) as s:
            s.connection()  # BEGIN IMMEDIATE: the write lock, waited for here
            locked = time.perf_counter()
            plans: list[tuple[int, list[n.Step]]] = []  # scheduled together, in order
            for kind, alert_id, what in ops:
                if kind == "cancel":
                    created |= store.schedule_many(s, plans, now)
                    plans = []
                    purposes, note = what
                    n.cancel_pending(s, alert_id, now, purposes=purposes, note=note)
                else:
                    plans.append((alert_id, what))
            created |= store.schedule_many(s, plans, now)
            n.write_cursor(s, self.owner, last)
            if created:
                # Every first level made here, however many alerts came together.
                limit = CLAIM_BATCH + len(created)
                claimed = n.claim_due(s, self.owner, now, self.lease, limit=limit)
        self._cursor = last
        self._cursor_saved = time.monotonic()
        log.debug(
            "notify_round",
            alerts=sorted(created),
            read_ms=round((read - began) * 1000, 1),
            lock_ms=round((locked - read) * 1000, 1),
            write_ms=round((time.perf_counter() - locked) * 1000, 1),
        )
        for alert_id in created:
            log.info("notify_scheduled", alert=alert_id)
        self._unstop(stopped)
        # A job of an alert whose jobs were made just now has reached nobody yet.
        claims: Claimed = [
            (job, (*fresh[job.alert_id], set()) if job.alert_id in created & fresh.keys() else None)
            for job in claimed
        ]
        return claims, handed

    def _unstop(self, stopped: list[tuple[int, str]]) -> None:
        for alert_id, how in stopped:
            if how == "open":
                self.stopped.pop(alert_id, None)
            else:
                self._stop_alert(alert_id, how)

    def _stop_alert(self, alert_id: int, how: str) -> None:
        if self.stopped.get(alert_id) != "ended":
            self.stopped[alert_id] = how
        if len(self.stopped) > STOPPED_KEPT:  # the store says the same; this only saves a read
            self.stopped.popitem(last=False)
        purposes = {JobPurpose.ESCALATE}
        if how == "ended":
            purposes.add(JobPurpose.ACK_TIMEOUT)
        for job, task in list(self.running.values()):
            if job.alert_id == alert_id and job.purpose in purposes:
                task.cancel()

    @staticmethod
    def _notice(purpose: JobPurpose, now: dt.datetime) -> n.Step:
        return n.Step(purpose, 0, 0, now)

    def _read_homes(self, s: Any, home_ids: set[str]) -> None:
        """The registry's rows of the homes not in the cache, in one query (a burst's falls are
        in as many homes, and a read each was most of a round's read)."""
        now = time.monotonic()
        kept = self._homes
        wanted = [h for h in home_ids if h not in kept or now - kept[h][0] >= HOME_CACHE_S]
        if not wanted:
            return
        found = {
            row.id: row
            for row in s.execute(
                sa.select(Home.id, Home.estate, Home.patch, Home.telecare).where(
                    Home.id.in_(wanted)
                )
            )
        }
        for home_id in wanted:
            row = found.get(home_id)
            info = HomeInfo(home_id, row.estate if row else None, row.patch if row else None, ())
            self._homes[home_id] = (now, info, bool(row.telecare) if row else False)

    def _home(self, s: Any, home_id: str) -> tuple[HomeInfo, bool]:
        cached = self._homes.get(home_id)
        if cached is not None and time.monotonic() - cached[0] < HOME_CACHE_S:
            devices = tuple(self.devices.get(home_id, {}))
            return HomeInfo(home_id, cached[1].estate, cached[1].patch, devices), cached[2]
        row = s.get(Home, home_id)
        info = HomeInfo(
            home_id,
            row.estate if row else None,
            row.patch if row else None,
            tuple(self.devices.get(home_id, {})),
        )
        telecare = bool(row.telecare) if row else False
        self._homes[home_id] = (time.monotonic(), info, telecare)
        return info, telecare

    def _telecare(self, s: Any, alert: Alert) -> bool:
        """Whether the alert calls people out: every responder kind, and a device offline
        only in a home that has telecare (a dead pendant matters; a damp sensor can wait)."""
        if alert.category is not Category.DEVICE_OFFLINE:
            return alert.category in RESPONDER_KINDS
        return self._home(s, alert.home)[1]

    def _policy(self, s: Any, alert: Alert | AlertFacts) -> Policy | None:
        info, _ = self._home(s, alert.home)
        return self.config.policy_for(alert.category, info.estate)

    def _raised_steps(
        self, s: Any, alert: Alert, at: dt.datetime
    ) -> tuple[Policy, list[n.Step]] | None:
        """The jobs of an alert raised at `at`, or None when it calls nobody out."""
        if alert.state is not State.OPEN or not self._telecare(s, alert):
            return None
        self.stopped.pop(alert.id, None)
        policy = self._policy(s, alert)
        if policy is None:
            log.warning("notify_no_policy", alert=alert.id, kind=alert.category.value)
            return None
        return policy, steps_for(policy, at)

    def _ack_steps(self, s: Any, alert: Alert, at: dt.datetime, now: dt.datetime) -> list[n.Step]:
        """Tell the home's devices help is coming; remind people if it is not resolved."""
        if not self._telecare(s, alert):
            return []
        steps = [self._notice(JobPurpose.NOTICE_ACKNOWLEDGED, now)]
        policy = self._policy(s, alert)
        if policy is not None and policy.ack_timeout_s is not None and policy.ack_repeats:
            due = (alert.acknowledged_at or at) + dt.timedelta(seconds=policy.ack_timeout_s)
            steps.append(n.Step(JobPurpose.ACK_TIMEOUT, 0, 0, due))
        return steps

    @staticmethod
    def _with_evidence_device(info: HomeInfo, alert: Alert | AlertFacts) -> HomeInfo:
        device = alert.evidence.get("device")
        if isinstance(device, str) and device not in info.devices:
            return HomeInfo(info.id, info.estate, info.patch, (device, *info.devices))
        return info

    # -- sending --------------------------------------------------------------------------

    async def _dispatch_once(self) -> None:
        def claim() -> tuple[Claimed, dt.datetime | None]:
            # Look first (a read), take only when something is due (a write): the store's
            # writers are few and busy (the rules engine among them).
            with n.transaction(self.engine, write=False) as s:
                due = n.next_takeable(s)
            now = self.clock()
            if due is None or due > now:
                return [], due
            with n.transaction(self.engine) as s:
                claimed, due = n.claim_due(s, self.owner, now, self.lease), n.next_takeable(s)
            # What the jobs need, read here in one transaction rather than one each.
            with n.transaction(self.engine, write=False) as s:
                return [(job, self._try_load_in(s, job)) for job in claimed], due

        claimed, due = await self._call(claim)
        until_due = (due - self.clock()).total_seconds() if due else self.settings.poll_s
        self._claim_at = time.monotonic() + max(0.0, min(self.settings.poll_s, until_due))
        self._spawn(claimed)

    def _try_load_in(self, s: Any, job: n.ClaimedJob) -> Loaded | None:
        """The job's needs, or None to leave it to the job's own read (and its error)."""
        try:
            return self._load_in(s, job)
        except Exception:
            return None

    def _spawn(self, claimed: Claimed) -> None:
        if claimed:
            log.debug("notify_claimed", jobs=[j.id for j, _ in claimed])
        for job, loaded in claimed:
            if job.id in self.running:
                continue
            task = asyncio.create_task(self._run_job(job, loaded))
            self.running[job.id] = (job, task)
            task.add_done_callback(self._forget(job.id))

    def _forget(self, job_id: int) -> Callable[[asyncio.Task[None]], None]:
        def done(_task: asyncio.Task[None]) -> None:
            self.running.pop(job_id, None)

        return done

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_s / 3)
            if self.running:  # nothing held: nothing to write
                await self._call(self._renew, list(self.running))

    def _renew(self, ids: list[int]) -> int:
        with n.transaction(self.engine) as s:
            return n.renew(s, ids, self.owner, self.clock() + self.lease)

    def _load(self, job: n.ClaimedJob) -> Loaded:
        with n.transaction(self.engine, write=False) as s:
            return self._load_in(s, job)

    def _load_in(self, s: Any, job: n.ClaimedJob) -> Loaded:
        row = s.get(Alert, job.alert_id)
        assert row is not None  # jobs cascade with their alert
        info = self._with_evidence_device(self._home(s, row.home)[0], row)
        return AlertFacts.of(row), info, self._policy(s, row), n.sent_keys(s, job.id)

    async def _finish(self, job: n.ClaimedJob, state: JobState, note: str | None = None) -> bool:
        at = self.clock()
        return await self.writes.write(
            lambda s: store.finish(s, job.id, self.owner, at, state=state, note=note)
        )

    async def _run_job(self, job: n.ClaimedJob, loaded: Loaded | None = None) -> None:
        log_ = log.bind(alert=job.alert_id, purpose=job.purpose.value, step=job.level)
        try:
            if loaded is None:
                loaded = await self._call(self._load, job)
            facts, home, policy, done = loaded
            log_.debug("notify_job_loaded")
            outcome = await self._perform(job, facts, home, policy, done)
            state = JobState.CANCELLED if outcome.startswith("cancelled") else JobState.DONE
            await self._finish(job, state, outcome[:300])
            self.m_jobs.inc(purpose=job.purpose.value, outcome=state.value)
            log_.info("notify_job_done", outcome=outcome)
        except asyncio.CancelledError:
            log_.info("notify_job_stopped")  # acknowledged or resolved meanwhile, or shutdown
            raise
        except Exception:
            # Left claimed: the lease runs out and the job is tried again (skipping whoever
            # was reached), rather than a level lost to one bad moment.
            log_.exception("notify_job_failed")

    async def _perform(
        self,
        job: n.ClaimedJob,
        facts: AlertFacts,
        home: HomeInfo,
        policy: Policy | None,
        done: set[str],
    ) -> str:
        if job.purpose is JobPurpose.NOTICE_ACKNOWLEDGED:
            return await self._notices(job, facts, home, "acknowledged", done)
        if job.purpose is JobPurpose.NOTICE_RESOLVED:
            return await self._notices(job, facts, home, "resolved", done)
        if policy is None:
            return "cancelled: no policy"
        if job.purpose is JobPurpose.ACK_TIMEOUT:
            if facts.state not in (State.ACKNOWLEDGED, State.ASSIGNED):
                return f"cancelled: alert {facts.state.value}"
            # Told again: the level after the first (the next responder and the lead).
            targets = policy.levels[min(1, len(policy.levels) - 1)].to
            sent = await self._send_level(job, facts, home, targets, done)
            if job.repeat % RUN_STRIDE + 1 < policy.ack_repeats and policy.ack_timeout_s:
                due = self.clock() + dt.timedelta(seconds=policy.ack_timeout_s)
                step = n.Step(JobPurpose.ACK_TIMEOUT, 0, job.repeat + 1, due)

                now = self.clock()
                await self.writes.write(lambda s: n.schedule(s, facts.id, [step], now))
            return sent
        if facts.state is not State.OPEN or facts.id in self.stopped:
            return f"cancelled: alert {facts.state.value}"
        if job.level >= len(policy.levels):
            return "cancelled: the policy has fewer levels now"
        return await self._send_level(job, facts, home, policy.levels[job.level].to, done)

    async def _notices(
        self, job: n.ClaimedJob, facts: AlertFacts, home: HomeInfo, state: str, done: set[str]
    ) -> str:
        targets = (Target(devices=True, via=("device_notice",)),)
        return await self._send_level(job, facts, home, targets, done, notice=state)

    async def _issue(
        self, facts: AlertFacts, people: list[Recipient]
    ) -> dict[str, tuple[str, str]]:
        now = self.clock()
        ttl = dt.timedelta(seconds=self.settings.ack_ttl_s)

        def issue(s: Any) -> dict[str, tuple[str, str]]:
            return {
                r.address: n.issue_ack(
                    s, facts.id, r.name, r.address, secret=self.ack_secret, now=now, ttl=ttl
                )
                for r in people
            }

        return await self.writes.write(issue, urgent=True)

    async def _send_level(
        self,
        job: n.ClaimedJob,
        facts: AlertFacts,
        home: HomeInfo,
        targets: tuple[Target, ...],
        done: set[str],
        *,
        notice: str | None = None,
    ) -> str:
        now = self.clock()
        pairs = [
            pair
            for target in targets
            for pair in recipients(
                self.config, target, home, now, hook_url=self.settings.webhook_url
            )
        ]
        if not pairs:
            log.warning("notify_nobody_to_tell", alert=facts.id, level=job.level)
            return "done: nobody to tell at this level"
        todo = [(c, r, _key(job, c, r)) for c, r in pairs]
        todo = [(c, r, k) for c, r, k in todo if k not in done]
        # Machines (the settings' webhook, devices) get no ack link, and go out at once;
        # people's links are issued meanwhile.
        machine = {"device_notice"}
        hook = self.settings.webhook_url
        first = [t for t in todo if t[0] in machine or t[1].address == hook]
        rest = [t for t in todo if t not in first]
        log.debug("notify_sending", alert=facts.id, step=job.level, recipients=len(todo))
        sends = [
            asyncio.create_task(self._send_one(job, facts, c, r, k, {}, notice))
            for c, r, k in first
        ]
        if rest:
            tokens = await self._issue(facts, [r for _, r, _ in rest])
            sends += [
                asyncio.create_task(self._send_one(job, facts, c, r, k, tokens, notice))
                for c, r, k in rest
            ]
        try:
            outcomes = await asyncio.gather(*sends)
        except asyncio.CancelledError:
            for task in sends:
                task.cancel()
            raise
        sent = sum(1 for o in outcomes if o)
        if job.level == 0 and job.repeat == 0 and job.purpose is JobPurpose.ESCALATE and sent:
            self.m_latency.set((self.clock() - facts.raised_at).total_seconds())
        return f"done: {sent} of {len(todo)} reached ({len(pairs) - len(todo)} earlier)"

    def _message(
        self,
        job: n.ClaimedJob,
        facts: AlertFacts,
        recipient: Recipient,
        key: str,
        token: tuple[str, str] | None,
        notice: str | None,
    ) -> Message:
        kind = facts.category.value.replace("_", " ")
        local = facts.raised_at.astimezone(LONDON).strftime("%H:%M:%S on %d %b")
        if notice is not None:
            subject, text = f"{kind} {notice}", NOTICE_TEXT.get(notice, notice)
        elif job.purpose is JobPurpose.ACK_TIMEOUT:
            subject = f"Still open: {kind} at {facts.home}"
            text = (
                f"{facts.summary} Acknowledged by {facts.acknowledged_by} but not resolved. "
                f"Home {facts.home}, raised at {local}."
            )
        else:
            subject = f"{kind.capitalize()} at {facts.home}"
            if job.level or job.repeat % RUN_STRIDE:
                subject = f"Not yet acknowledged: {subject}"
            text = f"{facts.summary} Home {facts.home}, raised at {local} (UK time)."
        data: dict[str, Any] = {
            "name": facts.evidence.get("name", facts.category.value),
            "ts": facts.evidence.get("time"),
            "device": facts.evidence.get("device"),
            "value": facts.evidence.get("value"),
            "room": facts.room,
            "severity": facts.severity,
            "state": facts.state.value,
            "repeat": job.repeat % RUN_STRIDE,
            "purpose": job.purpose.value,
        }
        if notice is not None:
            data["notice"] = notice
        return Message(
            alert_id=facts.id,
            home=facts.home,
            kind=facts.category.value,
            level=job.level,
            subject=subject,
            text=text,
            recipient=recipient,
            idempotency_key=key,
            raised_at=facts.raised_at,
            ack_url=f"{self.public_url}/ack/{token[0]}" if token else None,
            ack_code=token[1] if token else None,
            data=data,
        )

    async def _send_one(
        self,
        job: n.ClaimedJob,
        facts: AlertFacts,
        channel_name: str,
        recipient: Recipient,
        key: str,
        tokens: dict[str, tuple[str, str]],
        notice: str | None,
    ) -> bool:
        if job.purpose is JobPurpose.ESCALATE:
            stop_on = {"acknowledged", "ended"}
        elif job.purpose is JobPurpose.ACK_TIMEOUT:
            stop_on = {"ended"}
        else:
            stop_on = set()  # notices go out whatever happens next
        if channel_name == "device_notice" and notice is None:
            # A policy level that names the home's devices asks the tenant (inactivity), or
            # tells the device its alert was raised.
            notice = "check" if facts.category is Category.INACTIVITY else "raised"
        message = self._message(job, facts, recipient, key, tokens.get(recipient.address), notice)

        async def record(number: int, outcome: Delivery) -> None:
            self.m_sends.inc(channel=channel_name, status=outcome.status.value)
            since = (self.clock() - facts.raised_at).total_seconds() * 1000
            log.debug("notify_attempt", alert=facts.id, channel=channel_name, ms=round(since, 1))

            repeat = job.repeat % RUN_STRIDE
            at = self.clock()
            row = store.attempt_row(job, repeat, channel_name, recipient, number, outcome, key, at)
            await self.writes.write(lambda s: store.record_attempts(s, [row]))

        channel = self.channels.get(channel_name)
        if channel is None:
            await record(1, _unconfigured(channel_name))
            return False
        outcome = await deliver(
            channel,
            message,
            attempts=self.settings.attempts,
            backoff_s=self.settings.retry_backoff_s,
            record=record,
            wanted=lambda: self.stopped.get(facts.id) not in stop_on,
        )
        return outcome is not None and outcome.status is not DeliveryStatus.FAILED


def _unconfigured(channel: str) -> Delivery:
    return Delivery(DeliveryStatus.FAILED, f"channel {channel} is not configured")
