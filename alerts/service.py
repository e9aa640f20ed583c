"""The rules engine worker: its homes' messages -> rules -> alert store -> acknowledge.

A message is acknowledged only after every finding it caused is in the alert store, so a
worker that dies mid-stream loses nothing; the store's one-open-alert-per-condition rule makes
a redelivery harmless. Rule state (the 24-hour windows) is rebuilt from InfluxDB at start-up
and reconciled with the open alerts, so a restart neither forgets a condition nor repeats it.
Several workers split the homes between them (alerts/partition.py, alerts/membership.py): each
sees every message and judges only its own homes', and takes over a dead member's homes with
their state rebuilt the same way (alerts/handover.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import random
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable
from itertools import groupby
from typing import Any, TypeVar

import httpx
import numpy as np
import structlog
from paho.mqtt.subscribeoptions import SubscribeOptions
from pydantic import ValidationError

from alerts.eventpath import Priority, favour_latency, tell_raised
from alerts.findings import Action, Finding, RuleInfo
from alerts.handover import Recent, Takeover, home_of
from alerts.membership import Membership
from alerts.mould import M_LIMIT, MouldState, mould_state_many
from alerts.occupancy import occupied
from alerts.outdoor import OUTDOOR_ROOM, OutdoorTemperatures
from alerts.overheating import Overheat, running_mean
from alerts.overrides import (
    Overrides,
    ThresholdBook,
    load_overrides,
    load_thresholds,
    unmatched,
)
from alerts.partition import Partition
from alerts.rules import activity, devices, environment, telecare
from alerts.rules.environment import RoomState
from alerts.thresholds import Thresholds
from alerts.weather import WeatherError, fetch_open_meteo
from hof.alertstore.aio import AsyncAlertStore
from hof.alertstore.api import AlertStore
from hof.alertstore.engine import store_url
from hof.alertstore.errors import AlertStoreError, StoreUnavailable
from hof.alertstore.eventraise import RaiseRequest
from hof.alertstore.migrate import migrate
from hof.alertstore.records import AlertFilter, AlertView, RaiseResult
from hof.alertstore.vocabulary import SELF_CLEARING, Category, State
from hof.climate import surface_humidity, surface_temperature
from hof.consent import ConsentWatcher, Stream
from hof.deadletter import deadletter_message
from hof.devicestatus import parse_status
from hof.errors import ConfigError, ContractError, Reason
from hof.heap import settle_heap
from hof.influx import InfluxClient, InfluxError, InfluxRejected
from hof.metrics import Registry, register_endpoint, serve_metrics
from hof.mqtt import Delivery, Link, LinkDownError
from hof.rooms import RoomWatcher
from hof.senml import Limits, Record, parse_pack
from hof.settings import Settings, readable
from hof.topic import Channel, Topic, subscription
from hof.waiting import first_of, within

__all__ = ["AlertsWorker", "serve"]

log = structlog.get_logger(__name__)

_T = TypeVar("_T")

OPEN_STATES = (State.OPEN, State.ACKNOWLEDGED, State.ASSIGNED)
ENVIRONMENTAL = frozenset(
    {
        r.category
        for r in (environment.DAMP, environment.COLD, environment.HEAT, environment.VENTILATION)
    }
)
SEEN_EVENTS = 100_000
MOULD_OUTBOX = 500_000  # two hours of steps for a 50,000-home estate, at about 120 bytes each
MOULD_FLUSH_S = 5.0
MOULD_BATCH = 5_000  # points a write: about 600 kB, well under InfluxDB's request limits
# Each room's TM59 / TM52 counts, hourly: what a restart takes back (`_seed_overheat`).
OVERHEAT_MEASUREMENT = "overheat_counts"
RECENT_EVENTS = 50_000  # other workers' events kept for a handover (falls are a few a day)
RECENT_TELEMETRY = 20_000  # and their readings and statuses, for the seconds ingest lags
URGENT_BATCH = 1_000  # urgent messages judged together at most: one store transaction


def _tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def mould_line(
    home: str, room: str, hour: int, index: float, surface_rh: float, dry_hours: float
) -> str:
    """A mould-index point at the start of its clock hour, the model's state once that hour
    is stepped (the index and the decline's clock: what a restart continues from). The same
    hour rewrites the same point, so a replay after a restart is harmless."""
    return (
        f"mould,home={_tag(home)},room={_tag(room)} "
        f"mould_index={index:.4f},surface_rh={surface_rh:.2f},dry_hours={dry_hours:.3f} "
        f"{hour * 3_600_000}"
    )


# How far back a restart looks for a room's last mould point: a year and a month, so that a
# room silent for months still continues from its own index.
MOULD_POINT_DAYS = 400


async def last_mould_points(
    influx: InfluxClient, before_hours: float, keep: Callable[[str], bool]
) -> dict[tuple[str, str], tuple[int, float, float]]:
    """Each room's last mould point at least `before_hours` old: (clock hour, index, hours
    since growth stopped), the model's state once that hour was stepped."""
    series = await influx.query(
        "SELECT mould_index, dry_hours FROM mould "
        f"WHERE time <= now() - {int(before_hours)}h AND time > now() - {MOULD_POINT_DAYS}d "
        'GROUP BY "home", "room" ORDER BY time DESC LIMIT 1'
    )
    found: dict[tuple[str, str], tuple[int, float, float]] = {}
    for s in series:
        tags = s.get("tags", {})
        home, room = str(tags.get("home", "")), str(tags.get("room", ""))
        if not (home and room and keep(home) and s.get("values")):
            continue
        stamp, index, dry = s["values"][0][:3]
        if not isinstance(index, int | float) or not 0.0 <= index <= M_LIMIT:
            continue  # not a point a worker wrote
        # A point written before the decline's clock was kept: as if growth had just stopped.
        clock = float(dry) if isinstance(dry, int | float) and dry >= 0 else 0.0
        found[(home, room)] = (int(stamp) // 3_600_000, float(index), clock)
    return found


def overheat_line(home: str, room: str, counts: Overheat) -> str:
    """A room's TM59 / TM52 counts at the start of the last hour they include: what a
    restarted worker takes back (`_seed_overheat`), the same hour rewriting the same point."""
    fields = ",".join(
        f"{k}={v}i" if isinstance(v, int) else f'{k}="{v}"' if isinstance(v, str) else f"{k}={v}"
        for k, v in counts.fields().items()
    )
    return (
        f"{OVERHEAT_MEASUREMENT},home={_tag(home)},room={_tag(room)} {fields} "
        f"{round(counts.last_start * 1000)}"
    )


def _surface_days(
    rh_surf: np.ndarray, known: np.ndarray, first: int, th: Thresholds
) -> dict[int, tuple[float, float]]:
    """A room's days (UTC) of the rebuilt history, for ISO 13788's month: (sum of the known
    hours' surface RH, hours), the last day of it and the `surface_month_days` days before
    (the last is in progress: the month is judged on the complete days before it)."""
    hours = np.flatnonzero(known & ~np.isnan(rh_surf))
    if th.surface_month_rh is None or not hours.size:
        return {}
    days = (first + hours) // 24
    recent = days >= days[-1] - th.surface_month_days
    sums = np.bincount(days[recent] - days[recent][0], weights=rh_surf[hours[recent]])
    counts = np.bincount(days[recent] - days[recent][0])
    start = int(days[recent][0])
    return {start + int(k): (float(sums[k]), float(counts[k])) for k in np.flatnonzero(counts)}


def _month_words(
    state: RoomState, rule: RuleInfo, th: Thresholds
) -> tuple[str, dict[str, float | int | None]]:
    """A damp case raised at a restart: the wall's month (ISO 13788), when it is known."""
    said = environment.month_words(state, th) if rule is environment.DAMP else ""
    return (f"; {said}", environment.month_evidence(state)) if said else ("", {})


def _raise_request(f: Finding) -> RaiseRequest:
    """What the store is asked to raise for a finding."""
    return RaiseRequest(
        home=f.home,
        rule=f.rule.name,
        rule_version=f.rule.version,
        category=f.rule.category,
        audience=f.rule.audience,
        severity=f.severity,
        summary=f.summary,
        evidence={**f.evidence, "rule_source": f.rule.source},
        room=f.room,
    )


def _signs_gone_at(alert: AlertView) -> float:
    """When an open case's signs were last known to hold: when they went, if its evidence says
    (a case in its hold), else its last evidence's time."""
    seen = alert.last_seen_at.timestamp()
    gone = alert.evidence.get(environment.SIGNS_GONE_AT)
    try:
        return min(dt.datetime.fromisoformat(str(gone)).timestamp(), seen)
    except ValueError:
        return seen  # not a case in its hold (None), or not a time a worker wrote


def _held(
    alert: AlertView, room: str, rule: RuleInfo, gone: float, hold_s: float, th: Thresholds
) -> Finding:
    """The hold of an open case whose signs went while no worker watched, with the evidence
    it had (its days counted, which a later restart takes back)."""
    own = {k: v for k, v in alert.evidence.items() if k not in ("summary", "rule_source")}
    return environment.hold_finding(
        alert.home, room, rule, alert.severity, gone, hold_s, th.timezone, own
    )


def _unread(state: RoomState) -> bool:
    """Whether no temperature or humidity of the room was replayed (its state is only what
    the mould history, the overheating counts or its open cases gave back)."""
    return state.temperature is None and state.humidity is None


class AlertsWorker:
    """One rules-engine worker; `run` until `stop` is set."""

    def __init__(self, settings: Settings, thresholds: Thresholds | None = None) -> None:
        self.settings = settings
        cfg = settings.alerts
        if thresholds is None and cfg.thresholds_file is not None:
            thresholds = load_thresholds(cfg.thresholds_file)
        self.th = thresholds or Thresholds()
        # Per-home, per-room and per-tenant settings over the estate's (alerts/overrides.py).
        overrides = Overrides()
        if cfg.overrides_file is not None:
            overrides = load_overrides(cfg.overrides_file)
        try:
            self.book = ThresholdBook(self.th, overrides)
        except ValidationError as exc:  # a home's figure the estate's model refuses
            raise ConfigError(readable(f"per-home settings {cfg.overrides_file}", exc)) from exc
        self.limits = Limits(
            min_time=settings.contract.min_time, max_future_s=settings.contract.max_future_s
        )
        self.stop = asyncio.Event()
        self.ready = asyncio.Event()
        self.store = AlertStore.from_settings(settings)
        self.aio = AsyncAlertStore(self.store)
        # Two sessions, two queues: a fall must never wait behind a backlog of readings (after
        # an outage, or a gateway replaying a day), neither at the broker nor in this process.
        self.inbox: asyncio.Queue[Delivery] = asyncio.Queue(cfg.receive_maximum + 1000)
        self.urgent: asyncio.Queue[Delivery] = asyncio.Queue(cfg.receive_maximum + 1000)
        self.priority = Priority(self.urgent)  # and readings wait for it (alerts/eventpath.py)
        # A telecare-only worker reads events alone: no readings, no statuses, no state.
        self.rules = cfg.rules
        self.judges_readings = self.rules != "telecare"
        self.data = self._link("readings", cfg.client_id, self.inbox, (Channel.READING,))
        urgent_channels = (
            (Channel.EVENT, Channel.STATUS) if self.judges_readings else (Channel.EVENT,)
        )
        self.events = self._link("events", f"{cfg.client_id}-events", self.urgent, urgent_channels)
        self.rooms: dict[tuple[str, str], RoomState] = {}
        self.outdoor = OutdoorTemperatures()
        self.trm: dict[tuple[str, int], tuple[float | None, int]] = {}
        self.devices: dict[tuple[str, str], devices.DeviceState] = {}
        self.activity: dict[str, activity.ActivityState] = {}
        self.seen: OrderedDict[tuple[str, str, str, int], None] = OrderedDict()
        self.raise_s = 0.0  # time in the store's batch raises, for the urgent path's log line
        # Mould-index steps waiting to be written to InfluxDB; bounded, oldest dropped first.
        self.mould_out: deque[str] = deque(maxlen=MOULD_OUTBOX)
        m = self.metrics = Registry()
        self.m_messages = m.counter("hof_alerts_messages_total", "Messages evaluated, by channel")
        self.m_findings = m.counter("hof_alerts_findings_total", "Findings, by rule and action")
        self.m_store_errors = m.counter("hof_alerts_store_errors_total", "Store calls retried")
        self.m_ignored = m.counter("hof_alerts_ignored_total", "Messages not evaluated, by why")
        self.m_ready = m.gauge("hof_alerts_ready", "1 once rebuilt and consuming")
        # Which rules this worker judges (AlertsSettings.rules): `hof status` warns when the
        # workers registered leave the telecare events to nobody.
        m.gauge("hof_alerts_rules", "1, labelled with the rules this worker judges").set(
            1.0, rules=cfg.rules
        )
        self.m_latency = m.gauge("hof_alerts_last_latency_seconds", "Receipt to stored finding")
        self.m_mould = m.counter("hof_alerts_mould_points_total", "Mould-index points, by outcome")
        self.m_unmatched = m.gauge(
            "hof_alerts_settings_unmatched",
            "Per-home settings (homes, rooms) that no device's room matched at start",
        )
        # Ingest dead-letters the configs it cannot read; here they are counted and logged.
        self.room_watcher = RoomWatcher(
            settings.mqtt, f"{cfg.client_id}-config", service="alerts", metrics=m
        )
        self._letters: set[asyncio.Task[None]] = set()
        # No rule runs on what the home has not consented to (hof/consent.py).
        self.m_refused = m.counter(
            "hof_alerts_records_refused_total", "Records not evaluated, by reason (consent)"
        )
        self.consent = ConsentWatcher(
            settings.mqtt,
            f"{cfg.client_id}-consent",
            unrecorded=[Stream(s) for s in settings.rights.unrecorded],
            service="alerts",
            metrics=m,
            on_change=self._consent_changed,
        )
        # The homes this worker owns: all of them, unless it is one of a pool.
        self.partition = Partition.alone(cfg.client_id)
        self.membership: Membership | None = None
        if cfg.share_group:
            self.membership = Membership(
                settings.mqtt,
                pool=cfg.share_group,
                member=cfg.client_id,
                heartbeat_s=cfg.heartbeat_s,
                timeout_s=cfg.member_timeout_s,
                on_change=self._members_changed,
            )
        self.recent_events = Recent(cfg.handover_window_s, RECENT_EVENTS)
        self.recent_telemetry = Recent(min(cfg.handover_window_s, 10.0), RECENT_TELEMETRY)
        self.takeovers: list[Takeover] = []
        self._started = False  # the start-up rebuild is done; later changes are handovers
        self._handovers: set[asyncio.Task[None]] = set()
        self.m_members = m.gauge("hof_alerts_members", "Live workers in this worker's pool")
        self.m_members.set(1.0)
        self.m_other = m.counter(
            "hof_alerts_other_homes_total", "Messages of homes another worker of the pool owns"
        )
        self.m_handovers = m.counter(
            "hof_alerts_handovers_total", "Homes changing hands, by direction (gained, lost)"
        )
        self.m_pending = m.gauge("hof_alerts_handovers_pending", "Takeovers still rebuilding")
        self.m_pending.set(0.0)
        self.m_handover_s = m.gauge(
            "hof_alerts_last_handover_seconds", "The last takeover: membership change to judged"
        )
        self.m_rebuilt = m.counter(
            "hof_alerts_rebuilt_rooms_total", "Rooms rebuilt from history, by why"
        )

    def _link(
        self,
        name: str,
        client_id: str,
        queue: asyncio.Queue[Delivery],
        channels: tuple[Channel, ...],
    ) -> Link:
        cfg = self.settings.alerts
        return Link(
            self.settings.mqtt,
            name=name,
            client_id=client_id,
            queue=queue,
            # Retain As Published on readings and events, so that one published retained is
            # seen as such and refused (CONTRACT.md); a status is retained by design, and its
            # live publication is the sign of life, so it keeps MQTT's default.
            # Plain, never $share: a pool's workers each see every message and keep their own
            # homes' (docs/rules.md, Scaling).
            subscriptions=[
                (
                    subscription(c),
                    SubscribeOptions(qos=1, retainAsPublished=c is not Channel.STATUS),
                )
                for c in channels
            ],
            clean_start=False,
            session_expiry_s=cfg.session_expiry_s,
            receive_maximum=cfg.receive_maximum,
        )

    # -- life ------------------------------------------------------------------------------

    async def run(self) -> None:
        cfg = self.settings.alerts
        favour_latency()
        await asyncio.to_thread(migrate, store_url(self.settings))
        server = await serve_metrics(self.metrics, cfg.metrics_host, cfg.metrics_port)
        host, port = server.sockets[0].getsockname()[:2]
        registration = register_endpoint(
            self.settings.state_dir, "alerts", cfg.client_id, f"http://{host}:{port}/metrics"
        )
        try:
            async with asyncio.TaskGroup() as tg:
                watcher = tg.create_task(self.room_watcher.run())
                consent = tg.create_task(self.consent.run())
                await first_of(self.room_watcher.snapshot(), self.stop)
                self._check_overrides()
                await first_of(self.consent.snapshot(), self.stop)
                members: list[asyncio.Task[None]] = []
                if self.membership is not None:
                    # Learn the pool before the rebuild, so only this worker's homes are read.
                    members.append(tg.create_task(self.membership.run()))
                    await first_of(self.membership.snapshot(), self.stop)
                    self.partition = Partition(self.partition.me, self.membership.members)
                    self.m_members.set(len(self.partition.members))
                # Subscribed before the rebuild, consumed after it: what is published while
                # the worker rebuilds waits for it (at most Receive Maximum here, the rest at
                # the broker), and a reading the rebuild read too is no news, as across any
                # restart. Subscribed after it, a first start (no session at the broker yet)
                # never judged what came between the rebuild's query and the subscription:
                # minutes of every home's readings when `hof demo` starts it on a week.
                links = [tg.create_task(self.events.run())]
                waits = [self.events.subscribed.wait()]
                if self.judges_readings:
                    links.append(tg.create_task(self.data.run()))
                    waits.append(self.data.subscribed.wait())
                subscribed = asyncio.gather(*waits)
                linked = await first_of(subscribed, self.stop) is subscribed
                built = self.partition
                if not self.stop.is_set() and self.judges_readings:
                    await first_of(self._rebuild(keep=built.owns, why="start"), self.stop)
                self._started = True
                if self.partition != built:  # the pool changed while this worker rebuilt
                    self._hand_over(built, self.partition)
                consumers = [tg.create_task(self._consume_urgent())]
                background: list[asyncio.Task[None]] = []
                if self.judges_readings:
                    consumers.append(tg.create_task(self._consume(self.data)))
                    background += [
                        tg.create_task(self._tick()),
                        tg.create_task(self._write_mould()),
                        tg.create_task(self._poll_weather()),
                    ]
                if linked and not self.stop.is_set():
                    settle_heap()  # a full collection must not hold up a fall
                    self.ready.set()
                    self.m_ready.set(1.0)
                    log.info(
                        "alerts_ready",
                        rules=self.rules,
                        rooms=len(self.rooms),
                        devices=len(self.devices),
                    )
                await self.stop.wait()
                log.info("alerts_stopping", inbox=self.inbox.qsize(), urgent=self.urgent.qsize())
                if self.membership is not None:
                    await self.membership.leave()  # the others take this worker's homes now
                # What is not yet acknowledged is redelivered to the next worker.
                for task in (*consumers, *background, *links, watcher, consent):
                    task.cancel()
                for task in (*members, *self._handovers):
                    task.cancel()
            await self._flush_mould_now()
        finally:
            server.close()
            registration.unlink(missing_ok=True)
            await asyncio.to_thread(self.store.close)
            log.info("alerts_stopped")

    # -- evaluation ------------------------------------------------------------------------

    async def _consume(self, link: Link) -> None:
        while True:
            delivery = await link.get()
            async with self.priority.turn(urgent=False):
                if self._route(delivery):
                    findings = await self._judge_delivery(delivery)
                    if findings:
                        self.m_latency.set(time.time() - delivery.received_at)
                link.ack(delivery)  # only once every finding is stored
            # A queue that is never empty never suspends `get`: yield, so that the other
            # consumer, the offline ticks and SIGTERM get their turn.
            await asyncio.sleep(0)

    async def _consume_urgent(self) -> None:
        """Events and statuses, every one queued at once judged together: their raises are
        stored in one transaction (a burst of fifty falls is one commit, not fifty), in the
        order they came, then each message is acknowledged. A worker that dies before that
        has acknowledged none of them: all are redelivered, and the store knows a repeat."""
        link = self.events
        while True:
            batch = [await link.get()]
            async with self.priority.turn(urgent=True):
                while len(batch) < URGENT_BATCH:
                    try:
                        batch.append(link.get_nowait())
                    except asyncio.QueueEmpty:
                        break
                taken = time.time()
                findings: list[Finding] = []
                first: float | None = None
                for delivery in batch:
                    if self._route(delivery) and (found := self._findings(delivery)):
                        findings += found
                        first = delivery.received_at if first is None else first
                judged, self.raise_s = time.time(), 0.0
                await self._apply(findings)
                for delivery in batch:
                    link.ack(delivery)  # only once every finding is stored
                if first is not None:
                    stored = time.time()
                    self.m_latency.set(stored - first)
                    # Where an urgent message's time goes (docs/notify.md, Latency).
                    log.info(
                        "urgent_batch",
                        messages=len(batch),
                        findings=len(findings),
                        received=round(first, 3),
                        queued_ms=round((taken - first) * 1000, 1),
                        judge_ms=round((judged - taken) * 1000, 1),
                        store_ms=round((stored - judged) * 1000, 1),
                        raise_ms=round(self.raise_s * 1000, 1),  # of which the transaction
                    )
            await asyncio.sleep(0)

    def _findings(self, delivery: Delivery) -> list[Finding]:
        try:
            return self._evaluate(delivery)
        except Exception:  # a bug must cost one message, never the worker (issue 11)
            log.exception("alerts_message_failed", topic=delivery.topic[:200])
            self.m_ignored.inc(why="internal_error")
            return []

    async def _judge_delivery(self, delivery: Delivery) -> list[Finding]:
        findings = self._findings(delivery)
        await self._apply(findings)
        return findings

    def _route(self, delivery: Delivery) -> bool:
        """True when this worker judges the message now. Another worker's home's is kept a
        while for a handover; a home being taken over has its readings and statuses held
        until its state is rebuilt (acknowledged now: a reading is in InfluxDB too), while
        its events are judged at once (a fall never waits for a rebuild)."""
        home = home_of(delivery.topic)
        if home is None:
            return True
        is_event = delivery.topic.endswith("/event")
        if not self.partition.owns(home):
            self.m_other.inc()
            if is_event:
                self.recent_events.add(home, delivery)
            else:
                self.recent_telemetry.add(home, delivery)
                self._outdoor_elsewhere(home, delivery)
            return False
        if self.takeovers and not is_event:
            for takeover in self.takeovers:
                if takeover.gained(home):
                    takeover.hold(delivery)
                    return False
        return True

    def _outdoor_elsewhere(self, home: str, delivery: Delivery) -> None:
        """Another worker's home's outdoor sensor is still part of the estate's outdoor
        temperature, which every worker needs whole (alerts/outdoor.py)."""
        if delivery.retain or not delivery.topic.endswith("/reading"):
            return
        device = delivery.topic.split("/", 4)[3]  # a cheap look first: most are not outdoor
        if self.room_watcher.rooms.get((home, device)) != OUTDOOR_ROOM:
            return
        try:
            topic = Topic.parse(delivery.topic)
            records = parse_pack(
                topic, delivery.payload, received_at=delivery.received_at, limits=self.limits
            )
        except ContractError:
            return
        kept, _ = self.consent.book.split(records)
        for record in kept:
            self.outdoor.observe_reading(home, record.name, record.time, record.value)

    def _no_verdict(self, home: str) -> bool:
        """A home not this worker's, or one whose state it is still rebuilding."""
        return not self.partition.owns(home) or any(t.gained(home) for t in self.takeovers)

    # -- the pool --------------------------------------------------------------------------

    def _members_changed(self, before: frozenset[str], after: frozenset[str]) -> None:
        old, new = self.partition, Partition(self.partition.me, after)
        self.partition = new
        self.m_members.set(len(after))
        if self._started:  # before, the start-up rebuild compares what it read with this
            self._hand_over(old, new)

    def _hand_over(self, old: Partition, new: Partition) -> None:
        """Drop the state of the homes lost at once; take over the homes gained."""

        def lost(home: str) -> bool:
            return old.owns(home) and not new.owns(home)

        def gained(home: str) -> bool:
            return new.owns(home) and not old.owns(home)

        dropped = {h for h, _ in self.rooms if lost(h)}
        dropped |= {h for h, _ in self.devices if lost(h)}
        dropped |= {h for h in self.activity if lost(h)}
        self.rooms = {k: v for k, v in self.rooms.items() if k[0] not in dropped}
        self.devices = {k: v for k, v in self.devices.items() if k[0] not in dropped}
        self.activity = {k: v for k, v in self.activity.items() if k not in dropped}
        self.m_handovers.inc(len(dropped), direction="lost")
        log.info(
            "alerts_handover",
            before=sorted(old.members),
            after=sorted(new.members),
            homes_lost=len(dropped),
        )
        if not old.members - new.members:
            return  # only members joined: a rendezvous hash gives this worker no new home
        takeover = Takeover(gained)
        self.takeovers.append(takeover)
        self.m_pending.set(len(self.takeovers))
        task = asyncio.create_task(self._take_over(takeover))
        self._handovers.add(task)
        task.add_done_callback(self._handovers.discard)

    async def _take_over(self, takeover: Takeover) -> None:
        """Judge the gained homes' recent events at once, rebuild their state from InfluxDB as
        at start-up, then judge their held readings and statuses in order."""
        try:
            # A fall its last owner took to its grave: judged twice is one alert (the store).
            for delivery in self.recent_events.take(takeover.gained):
                await self._judge_delivery(delivery)
            # What ingest may not have written yet goes first, before what arrives from now.
            takeover.held.extendleft(reversed(self.recent_telemetry.take(takeover.gained)))

            def keep(home: str) -> bool:  # a later change may already have moved it on
                return takeover.gained(home) and self.partition.owns(home)

            rooms = await self._rebuild(keep=keep, why="handover") if self.judges_readings else 0
            judged = 0
            while takeover.held:
                delivery = takeover.held.popleft()
                home = home_of(delivery.topic)
                if home is None or self.partition.owns(home):
                    await self._judge_delivery(delivery)
                    judged += 1
            homes = {h for h, _ in self.rooms if takeover.gained(h)}
            homes |= {h for h, _ in self.devices if takeover.gained(h)}
            self.m_handovers.inc(len(homes), direction="gained")
            seconds = time.monotonic() - takeover.started
            self.m_handover_s.set(seconds)
            log.info(
                "alerts_taken_over",
                homes=len(homes),
                rooms=rooms,
                judged_after=judged,
                dropped=takeover.dropped,
                seconds=round(seconds, 2),
            )
        except Exception:  # a takeover that fails must not take the worker with it
            log.exception("alerts_takeover_failed")
        finally:
            self.takeovers.remove(takeover)
            self.m_pending.set(len(self.takeovers))
            self._drop_others()

    def _drop_others(self) -> None:
        """Forget any state of homes this worker does not own (after overlapping changes)."""
        owns = self.partition.owns
        self.rooms = {k: v for k, v in self.rooms.items() if owns(k[0])}
        self.devices = {k: v for k, v in self.devices.items() if owns(k[0])}
        self.activity = {k: v for k, v in self.activity.items() if owns(k)}

    def _evaluate(self, delivery: Delivery) -> list[Finding]:
        try:
            topic = Topic.parse(delivery.topic)
        except ContractError:
            self.m_ignored.inc(why="bad_topic")
            return []
        self.m_messages.inc(channel=topic.channel.value)
        if topic.channel is Channel.STATUS:
            try:
                report = parse_status(delivery.payload)  # bounded in size and depth
            except ContractError as exc:
                self._refuse(delivery, exc)
                return []
            # The battery a status reports is the device's last word on it, retained or not.
            found = self._status(topic.home, topic.device, delivery)
            # A retained status replayed on subscription is old news, not a sign of life.
            if delivery.retain or not report.online:
                return found
            return self._alive(topic.home, topic.device, delivery.received_at) + found
        if delivery.retain:  # ingest dead-letters it (CONTRACT.md: never retained)
            self.m_ignored.inc(why=Reason.RETAINED.value)
            return []
        try:
            records = parse_pack(
                topic, delivery.payload, received_at=delivery.received_at, limits=self.limits
            )
        except ContractError as exc:
            self.m_ignored.inc(why=exc.reason.value)  # ingest dead-letters it; nothing to judge
            return []
        if self.rules != "all" and topic.channel is Channel.EVENT:
            # Split between a telecare worker and a rest worker by record name, so that each
            # event is judged by exactly one of them (both read every event message).
            telecare_only = self.rules == "telecare"
            records = [r for r in records if (r.name in telecare.EVENT_NAMES) is telecare_only]
        findings = []
        if self.judges_readings:  # a sign of life is the rest worker's to note
            findings = self._alive(topic.home, topic.device, delivery.received_at)
        records, refused = self.consent.book.split(records)
        for stream, count in refused.items():
            self.m_refused.inc(count, reason=f"no_consent_{stream.value}")
        return findings + self._judge(topic.home, topic.device, records, topic.channel)

    def _consent_changed(
        self, home: str, before: frozenset[Stream], after: frozenset[Stream]
    ) -> None:
        # Without activity consent the home's routine is not watched: no inactivity alert.
        if Stream.ACTIVITY not in after:
            self.activity.pop(home, None)

    def _refuse(self, delivery: Delivery, error: ContractError) -> None:
        """Count, log and dead-letter a status that cannot be read; the worker carries on."""
        self.m_ignored.inc(why=error.reason.value)
        log.warning(
            "status_refused",
            topic=delivery.topic[:200],
            reason=error.reason.value,
            detail=error.detail[:200],
        )
        target, body = deadletter_message(
            delivery.topic, delivery.payload, error, delivery.received_at, service="alerts"
        )
        if target is not None:  # off the urgent path: a fall must not wait for this PUBACK
            task = asyncio.create_task(self._letter(target, body))
            self._letters.add(task)
            task.add_done_callback(self._letters.discard)

    async def _letter(self, target: str, body: bytes) -> None:
        try:
            await self.events.publish(target, body, qos=1)
        except LinkDownError as exc:
            log.warning("deadletter_failed", topic=target, error=str(exc))

    def _status(self, home: str, device: str, delivery: Delivery) -> list[Finding]:
        status = devices.parse_status(delivery.payload)
        if status is None:
            return []
        at = status.ts if status.ts is not None else delivery.received_at
        return devices.on_status(self._device(home, device), status, at, self.book.for_home(home))

    def _alive(self, home: str, device: str, at: float) -> list[Finding]:
        state = self._device(home, device)
        found = devices.on_telemetry(state, at)
        return [found] if found else []

    def _device(self, home: str, device: str) -> devices.DeviceState:
        state = self.devices.get((home, device))
        if state is None:
            state = self.devices[(home, device)] = devices.DeviceState(home, device)
        return state

    def _judge(
        self, home: str, device: str, records: list[Record], channel: Channel = Channel.EVENT
    ) -> list[Finding]:
        room = self.room_watcher.rooms.get((home, device))
        findings: list[Finding] = []
        climate: list[Record] = []
        home_activity = self.activity.get(home)
        if home_activity is not None and records:
            activity.on_data(home_activity, max(r.time for r in records))
        for record in records:
            if record.name == "motion" and record.value is True:
                activity.on_motion(
                    self.activity.setdefault(home, activity.ActivityState(home)), record.time
                )
            elif record.name == "battery" and isinstance(record.value, float):
                found = devices.on_battery(
                    self._device(home, device), record.value, record.time, self.book.for_home(home)
                )
                findings += [found] if found else []
            elif record.name == "voltage" and isinstance(record.value, float):
                found = devices.on_voltage(
                    self._device(home, device), record.value, record.time, self.book.for_home(home)
                )
                findings += [found] if found else []
            elif record.name in ("temperature", "humidity", "co2", "surface_temperature"):
                climate.append(record)
            elif record.name == "checkin" and record.value is True and channel is Channel.EVENT:
                answered = self.activity.setdefault(home, activity.ActivityState(home))
                if self._first_time(record):
                    findings.append(activity.on_checkin(answered, record.time, device))
            elif refused := telecare.cancel_refusal(record, channel):
                self._ignore_cancel(refused, home, device, record.name)
            else:
                event = telecare.on_event(home, room, record)
                if event is not None and self._first_time(record):
                    findings.append(event)
        if climate and room == OUTDOOR_ROOM:
            # An outdoor sensor is the home's (and the estate's) outdoor temperature, never a
            # room to judge: it would be "excess cold" every winter night.
            for record in climate:
                self.outdoor.observe_reading(home, record.name, record.time, record.value)
        elif climate and room:
            state = self.rooms.get((home, room))
            if state is None:
                state = self.rooms[(home, room)] = RoomState(home, room)
            now = max(r.time for r in climate)
            outdoor = self.outdoor.at(home, now)
            th = self.book.for_room(home, room)
            moved = self.activity.get(home)
            findings += environment.on_readings(
                state,
                climate,
                th,
                outdoor,
                trm=self._running_mean(home, now),
                occupied=occupied(moved.last_motion if moved else None, now, th),
            )
            self._queue_mould(state)
        return findings

    def _ignore_cancel(self, why: str, home: str, device: str, name: str) -> None:
        self.m_ignored.inc(why=why)
        log.warning("cancel_ignored", why=why, home=home, device=device, name=name)

    def _running_mean(self, home: str, t: float) -> float | None:
        """TM52's running mean outdoor temperature for the home on the day of `t`, once a day."""
        key = (home, int(t // 86400))
        hour = int(t // 3600)
        found = self.trm.get(key)
        # Unknown (no outdoor figures yet) is asked again the next hour, a known one next day.
        if found is None or (found[0] is None and found[1] != hour):
            if len(self.trm) > 100_000:
                self.trm.clear()  # yesterday's figures: a day's worth of homes at most
            found = self.trm[key] = (running_mean(self.outdoor.daily_means(home, t, 7)), hour)
        return found[0]

    def _queue_mould(self, state: RoomState) -> None:
        """The room's new mould-index points and its overheating counts, for InfluxDB."""
        lines = [mould_line(state.home, state.room, *step) for step in state.mould_steps]
        state.mould_steps.clear()
        if state.heat_counted and state.overheat is not None:
            lines.append(overheat_line(state.home, state.room, state.overheat))
            state.heat_counted = False
        for line in lines:
            if len(self.mould_out) == self.mould_out.maxlen:
                self.m_mould.inc(outcome="dropped")
            self.mould_out.append(line)

    async def _flush_mould_now(self) -> None:
        """At shutdown: one last write; what fails is rebuilt from history at the next start."""
        if not self.mould_out:
            return
        try:
            async with InfluxClient(self.settings.influx) as influx:
                await within(self.flush_mould(influx), 5.0)
        except TimeoutError:
            log.warning("alerts_mould_not_written", points=len(self.mould_out))

    async def _write_mould(self) -> None:
        """Write the queued mould-index points every few seconds, off the rules' path."""
        async with InfluxClient(self.settings.influx) as influx:
            while True:
                await asyncio.sleep(MOULD_FLUSH_S)
                await self.flush_mould(influx)

    async def flush_mould(self, influx: InfluxClient) -> bool:
        """Write the outbox in batches; True when it is empty.

        InfluxDB down or failing: the batch goes back in front (the outbox's bound drops the
        oldest, counted) and the next round retries. A batch InfluxDB refuses (4xx) would be
        refused again, so it is dropped and counted rather than blocking every later point.
        Rewriting a point is harmless: the same room and hour is the same point.
        """
        while self.mould_out:
            batch = [self.mould_out.popleft() for _ in range(min(MOULD_BATCH, len(self.mould_out)))]
            try:
                await influx.write(batch, precision="ms")
            except InfluxRejected as exc:
                self.m_mould.inc(len(batch), outcome="rejected")
                log.error("alerts_mould_rejected", points=len(batch), error=str(exc))
            except InfluxError as exc:
                room = MOULD_OUTBOX - len(self.mould_out)
                if len(batch) > room:  # newer points arrived meanwhile and filled the outbox
                    self.m_mould.inc(len(batch) - room, outcome="dropped")
                    batch = batch[len(batch) - room :]
                self.mould_out.extendleft(reversed(batch))
                self.m_mould.inc(outcome="retry")
                log.warning("alerts_mould_write_failed", points=len(batch), error=str(exc))
                return False
            else:
                self.m_mould.inc(len(batch), outcome="written")
        return True

    def _first_time(self, record: Record) -> bool:
        """False for an event already judged (a redelivery): one alert per event."""
        if record.key in self.seen:
            return False
        self.seen[record.key] = None
        if len(self.seen) > SEEN_EVENTS:
            self.seen.popitem(last=False)
        return True

    async def weather_once(self, client: httpx.AsyncClient, past_days: int = 2) -> bool:
        """One read of the weather service into the outdoor temperatures; False if it failed
        (the last figures stay, and go stale after a few hours)."""
        cfg = self.settings.alerts
        if cfg.weather_url is None:
            return False
        try:
            hours = await fetch_open_meteo(
                client, cfg.weather_url, cfg.latitude, cfg.longitude, past_days=past_days
            )
        except WeatherError as exc:
            log.warning("alerts_weather_failed", error=str(exc))
            return False
        self.outdoor.forecast(hours)
        return True

    async def _poll_weather(self) -> None:
        if self.settings.alerts.weather_url is None:
            return
        async with httpx.AsyncClient() as client:
            while True:
                await self.weather_once(client)
                await asyncio.sleep(self.settings.alerts.weather_poll_s)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.settings.alerts.tick_s)
            now = time.time()
            book = self.book
            # A home being taken over has no verdict until its state is rebuilt.
            pending = self._no_verdict
            findings = [
                f
                for s in list(self.devices.values())
                if not pending(s.home) and (f := devices.on_tick(s, now, book.for_home(s.home)))
            ]
            findings += [
                f
                for s in list(self.activity.values())
                if not pending(s.home) and (f := activity.on_tick(s, now, book.for_home(s.home)))
            ]
            await self._apply(findings)

    # -- the store -------------------------------------------------------------------------

    async def _apply(self, findings: Iterable[Finding]) -> None:
        """Store the findings in order; each run of event raises in one transaction."""
        events: list[Finding] = []
        for finding in findings:
            if finding.action is Action.RAISE and finding.rule.category not in SELF_CLEARING:
                events.append(finding)
                continue
            await self._raise_events(events)
            events = []
            done = await self._retrying(functools.partial(self._store, finding), finding.rule.name)
            if not isinstance(done, AlertStoreError):
                self._stored(finding)
        await self._raise_events(events)

    async def _retrying(
        self, store: Callable[[], Awaitable[_T]], rule: str
    ) -> _T | AlertStoreError:
        """`store()` until the store takes it; the refusal when it refuses it."""
        backoff = 0.2
        while True:
            try:
                return await store()
            except StoreUnavailable as exc:
                self.m_store_errors.inc()
                log.warning("alert_store_retry", error=str(exc), rule=rule)
                await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
                backoff = min(backoff * 2, 10.0)
            except AlertStoreError as exc:
                # A refusal (e.g. clearing a tamper alert, which a person must resolve) is
                # the same on every retry: retrying it stalled this consumer for good, and a
                # device could cause it at will (tamper true, then false). Found by the fuzz
                # test (tests/e2e/test_fuzz_mqtt.py).
                self._refused(exc, rule)
                return exc

    def _refused(self, exc: AlertStoreError, rule: str) -> None:
        self.m_store_errors.inc()
        log.warning("alert_store_refused", error=str(exc), rule=rule)

    def _stored(self, finding: Finding) -> None:
        self.m_findings.inc(rule=finding.rule.name, action=finding.action.value)
        log.info(
            "finding",
            rule=finding.rule.name,
            action=finding.action.value,
            home=finding.home,
            room=finding.room,
            severity=finding.severity.value,
            summary=finding.summary,
        )

    async def _raise_events(self, events: list[Finding]) -> None:
        """Raise events (falls, calls for help, leaks...) in one store transaction, then tell
        the notifier of each new alert; an event already in the store (a redelivery) is
        skipped there. The home's earlier alerts are read in that transaction, once."""
        if not events:
            return
        requests = [_raise_request(f) for f in events]

        async def store() -> list[RaiseResult | AlertStoreError | None]:
            # The time the platform learned of it (Awaab's Law clocks run from awareness).
            return await self.aio.call(
                self.store.raise_events,
                requests,
                evidence_with_open=telecare.with_raisers,
                at=dt.datetime.now(dt.UTC),
            )

        began = time.monotonic()
        results = await self._retrying(store, events[0].rule.name)
        self.raise_s += time.monotonic() - began
        if isinstance(results, AlertStoreError):
            return
        for finding, result in zip(events, results, strict=True):
            if isinstance(result, AlertStoreError):
                self._refused(result, finding.rule.name)
                continue
            if result is not None:
                await tell_raised(self.events, result)  # the notifier acts on it at once
            self._stored(finding)

    async def _store(self, f: Finding) -> None:
        # Store transitions carry the time the platform learned of them (Awaab's Law clocks
        # run from awareness); the readings' own time is the evidence's `observed_at`.
        store, at = self.store, dt.datetime.now(dt.UTC)
        if f.action in (Action.RAISE, Action.NOTE):
            request = dataclasses.asdict(_raise_request(f))
            result = await self.aio.call(store.raise_or_update, **request, at=at)
            await tell_raised(self.events, result)  # the notifier acts on it at once
        elif f.action is Action.HOLD:
            await self.aio.call(store.update_open, _raise_request(f), at=at)
        elif f.action is Action.CLEAR:
            await self.aio.call(
                store.clear, home=f.home, rule=f.rule.name, room=f.room, summary=f.summary, at=at
            )
        else:
            await self._withdraw(f)

    async def _open(self, home: str, categories: tuple[Category, ...]) -> list[AlertView]:
        page = await self.aio.call(
            self.store.list,
            AlertFilter(states=OPEN_STATES, homes=[home], categories=categories),
        )
        return list(page.items)

    async def _withdraw(self, f: Finding) -> None:
        if f.rule is activity.INACTIVITY:  # the tenant answered the check: no window applies
            await self.aio.call(
                self.store.withdraw, home=f.home, rule=f.rule.name, room=None, reason=f.summary
            )
            return
        for alert in await self._open(f.home, (f.rule.category,)):
            if alert.rule != f.rule.name or alert.room != f.room:
                continue
            if refused := telecare.withdraw_refusal(alert.evidence, f):
                self._ignore_cancel(refused, f.home, str(f.evidence.get("device")), f.rule.name)
                continue
            # Both times from the device's own clock: the event that raised it, and the cancel.
            raised_at = float(alert.evidence.get("time", alert.first_raised_at.timestamp()))
            in_window = f.at - raised_at <= self.th.confirm_window_s
            if in_window:
                await self.aio.call(
                    self.store.withdraw,
                    home=f.home,
                    rule=f.rule.name,
                    room=f.room,
                    reason=f.summary,
                )
            else:
                await self.aio.call(
                    self.store.add_note,
                    alert.id,
                    by="rules",
                    text=f"{f.summary} This came after the {self.th.confirm_window_s:.0f} s "
                    "confirm window, so the alert stays open for a person to close.",
                )

    def _check_overrides(self) -> None:
        """Say which per-home settings apply to nothing the estate's configs place."""
        said = unmatched(self.book.overrides, self.room_watcher.rooms)
        self.m_unmatched.set(float(len(said)))
        for words in said:
            log.warning(
                "alerts_settings_unmatched",
                file=str(self.settings.alerts.overrides_file),
                what=words,
            )

    # -- restart safety --------------------------------------------------------------------

    async def _rebuild(self, keep: Callable[[str], bool], why: str) -> int:
        """Replay recent history of the homes `keep` into the rule state, then reconcile them
        with the open alerts; at start-up (`why="start"`) the outdoor temperatures of every
        home too. Returns the rooms rebuilt."""
        hours = self.settings.alerts.history_hours
        started = time.monotonic()
        rows = 0
        before = sum(1 for home, _ in self.rooms if keep(home))
        if why == "start" and self.settings.alerts.weather_url is not None:
            # The mould history is estimated from it where no outdoor sensor reported.
            days = max(2, min(92, int(self.settings.alerts.mould_history_days) + 1))
            async with httpx.AsyncClient() as client:
                await self.weather_once(client, past_days=days)
        await self._seed_recurrence(keep)
        if hours > 0:
            try:
                async with InfluxClient(self.settings.influx) as influx:
                    await self._seed_overheat(influx, keep)
                    await self._replay_mould(influx, hours, keep)
                    rows = await self._replay(influx, hours, keep, with_outdoor=why == "start")
            except InfluxError as exc:
                log.warning("alerts_history_unavailable", error=str(exc))
        await self._reconcile(keep)
        rooms = sum(1 for home, _ in self.rooms if keep(home)) - before
        self.m_rebuilt.inc(max(rooms, 0), why=why)
        log.info(
            "alerts_rebuilt",
            why=why,
            rows=rows,
            rooms=len(self.rooms),
            seconds=round(time.monotonic() - started, 2),
        )
        return rooms

    async def _all(self, where: AlertFilter) -> list[AlertView]:
        """Every alert `where` selects, a page of 500 at a time."""
        found: list[AlertView] = []
        while True:
            page = await self.aio.call(self.store.list, where, limit=500, offset=len(found))
            found += page.items
            if not page.items or len(found) >= page.total:
                return found

    async def _seed_recurrence(self, keep: Callable[[str], bool]) -> None:
        """Take back, from the open damp and cold cases of the homes `keep`, the humid days,
        nights of condensation and cold days counted over the last fortnight: the replay reads
        a day of history, and without them the third humid day of a fortnight after a restart
        made a watch case, not a significant one (tests/e2e/test_rules_restart.py)."""
        found = await self._all(
            AlertFilter(states=OPEN_STATES, categories=(Category.DAMP_MOULD, Category.COLD))
        )
        rules = {environment.DAMP.name, environment.COLD.name}
        seeded = 0
        for alert in found:
            if alert.room and keep(alert.home) and alert.rule in rules:
                state = self.rooms.setdefault(
                    (alert.home, alert.room), RoomState(alert.home, alert.room)
                )
                seeded += environment.seed_recurrence(state, alert.evidence)
        if seeded:
            log.info("alerts_recurrence_seeded", rooms=seeded)

    async def _seed_overheat(self, influx: InfluxClient, keep: Callable[[str], bool]) -> None:
        """Take back each room's TM59 / TM52 counts as last written: the year's night hours
        and the summer's exceedances outlive the 25 h replay, which then counts only the hours
        after them. Before, a restart counted the year again from a day of history."""
        series = await influx.query(
            f"SELECT * FROM {OVERHEAT_MEASUREMENT} WHERE time > now() - 400d "
            'GROUP BY "home"::tag, "room"::tag ORDER BY time DESC LIMIT 1'
        )
        taken = 0
        for s in series:
            tags = s.get("tags", {})
            home, room = tags.get("home", ""), tags.get("room", "")
            if not (home and room and keep(home) and s.get("values")):
                continue
            row = dict(zip(s["columns"], s["values"][0], strict=True))
            state = self.rooms.setdefault((home, room), RoomState(home, room))
            counts = Overheat.from_fields(state.is_bedroom, int(row["time"]) / 1000, row)
            if counts is not None:
                state.overheat = counts
                environment.grade_overheat(state)
                taken += 1
        if taken:
            log.info("alerts_overheat_seeded", rooms=taken)

    async def _replay_mould(
        self, influx: InfluxClient, recent_hours: float, keep: Callable[[str], bool]
    ) -> None:
        """Integrate each room's mould index over weeks of hourly means, all rooms at once,
        on from its last point (the state its worker last wrote), from zero where it has none.

        It stops where the recent replay (`_replay`) starts, so no hour is counted twice.
        Integrated from zero over `mould_history_days` alone, a restart lowered every index
        built over longer: a bedroom at 1.98 after five damp weeks came back at 0.09, its chart
        fell, and its case lost the growth that graded it (tests/e2e/test_rules_restart.py).
        """
        points = await last_mould_points(influx, recent_hours, keep)
        for (home, room), (_, index, clock) in points.items():
            # A room with no readings in the history still has the index it had.
            self.rooms.setdefault((home, room), RoomState(home, room)).mould = MouldState(
                np.array([index]), np.array([clock])
            )
        days = self.settings.alerts.mould_history_days
        if days <= 0:
            return
        series = await influx.query(
            "SELECT mean(temperature), mean(humidity) FROM reading "
            f"WHERE time > now() - {int(days * 24)}h AND time <= now() - {int(recent_hours)}h "
            'GROUP BY time(1h), "home"::tag, "room"::tag fill(none)'
        )
        rooms = [
            (s.get("tags", {}).get("home", ""), s.get("tags", {}).get("room", "")) for s in series
        ]
        # Every home's outdoor rows stay in `series`: the walls are estimated from them.
        kept = [
            i
            for i, (home, room) in enumerate(rooms)
            if room and room != OUTDOOR_ROOM and keep(home)
        ]
        if not kept:
            return
        first = min(int(series[i]["values"][0][0]) for i in kept) // 3_600_000
        last = max(int(series[i]["values"][-1][0]) for i in kept) // 3_600_000
        t = np.full((len(kept), last - first + 1), np.nan)
        rh = np.full_like(t, np.nan)
        for row, i in enumerate(kept):
            for stamp, temp, hum in series[i]["values"]:
                if temp is not None and hum is not None:
                    t[row, int(stamp) // 3_600_000 - first] = temp
                    rh[row, int(stamp) // 3_600_000 - first] = hum
        t_surf, known = self._surface_history(series, rooms, kept, first, t)
        rh_surf = surface_humidity(t, rh, t_surf)
        # Each room on from its last point: the hours to it are already in its state (a
        # NaN hour is no step of the model).
        m0, clock0, t_mould = np.zeros(len(kept)), np.zeros(len(kept)), t_surf.copy()
        for row, i in enumerate(kept):
            point = points.get(rooms[i])
            if point is not None:
                m0[row], clock0[row] = point[1], point[2]
                t_mould[row, : max(0, point[0] - first + 1)] = np.nan
        start = MouldState(m0, clock0)
        # Only the end state is kept: memory stays flat however many weeks are read.
        state = await asyncio.to_thread(
            functools.partial(mould_state_many, t_mould, rh_surf, 1.0, state=start)
        )
        for row, i in enumerate(kept):
            home, room = rooms[i]
            room_state = self.rooms.setdefault((home, room), RoomState(home, room))
            room_state.mould = MouldState(state.m[row : row + 1], state.dry_hours[row : row + 1])
            th = self.book.for_room(home, room)
            # The history's walls are estimated wherever an outdoor figure was known.
            environment.set_mould_severity(room_state, th, estimated=bool(known[row].any()))
            environment.seed_surface_days(
                room_state, _surface_days(rh_surf[row], known[row], first, th), th
            )
            # The rebuilt end state, at the room's last hour of history, for the dashboard.
            end = int(series[i]["values"][-1][0]) // 3_600_000
            rh_end = rh_surf[row, end - first]
            room_state.mould_steps.append(
                (
                    end,
                    float(state.m[row]),
                    float(np.nan_to_num(rh_end)),
                    float(state.dry_hours[row]),
                )
            )
            self._queue_mould(room_state)
        log.info("alerts_mould_rebuilt", rooms=len(kept), hours=t.shape[1])

    def _surface_history(
        self,
        series: list[dict[str, Any]],
        rooms: list[tuple[str, str]],
        keep: list[int],
        first: int,
        t: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each room's hourly wall surface temperature over the mould history: estimated from
        its home's outdoor sensor, else the estate's, else the weather service; the air's own
        temperature (no estimate) for an hour nothing real knows, which the second array
        marks False. Each room's own walls (its home's settings, as the live rule judges it),
        not the estate's fRsi."""
        f_rsi = np.array([[self.book.for_room(*rooms[i]).f_rsi] for i in keep])
        if self.th.outdoor_temperature is not None:
            fixed = surface_temperature(t, self.th.outdoor_temperature, f_rsi)
            return fixed, np.ones(t.shape, dtype=bool)
        hours = t.shape[1]
        homes: dict[str, np.ndarray] = {}
        for i, (home, room) in enumerate(rooms):
            if room != OUTDOOR_ROOM:
                continue
            te = homes.setdefault(home, np.full(hours, np.nan))
            for stamp, temp, _ in series[i]["values"]:
                k = int(stamp) // 3_600_000 - first
                if temp is not None and 0 <= k < hours:
                    te[k] = temp
        weather = np.full(hours, np.nan)
        for hour, (total, n) in self.outdoor.weather.sums.items():
            if 0 <= hour - first < hours:
                weather[hour - first] = total / n
        estate = weather
        if homes:
            # The mean of the homes' sensors an hour, where any reported: nanmean warned ("Mean
            # of empty slice") at every hour none did, which an outdoor sensor's gap makes.
            rows = np.vstack(list(homes.values()))
            seen = ~np.isnan(rows)
            counts = seen.sum(axis=0)
            sums = np.where(seen, rows, 0.0).sum(axis=0)
            stacked = np.divide(sums, counts, out=np.full(hours, np.nan), where=counts > 0)
            estate = np.where(np.isnan(stacked), weather, stacked)
        te_rows = np.vstack(
            [
                np.where(np.isnan(own), estate, own)
                if (own := homes.get(rooms[i][0])) is not None
                else estate
                for i in keep
            ]
        )
        estimated = surface_temperature(t, te_rows, f_rsi)
        return np.where(np.isnan(te_rows), t, estimated), ~np.isnan(te_rows)

    async def _replay(
        self,
        influx: InfluxClient,
        hours: float,
        keep: Callable[[str], bool] = lambda _: True,
        *,
        with_outdoor: bool = True,
    ) -> int:
        """Replay the homes `keep`; every home's outdoor sensors too when `with_outdoor` (at start:
        later, every worker has been observing them live, whoever owns their home)."""
        series = await influx.query(
            "SELECT temperature, humidity, co2, surface_temperature FROM reading "
            f"WHERE time > now() - {int(hours * 60)}m "
            'GROUP BY "home"::tag, "device"::tag, "room"::tag'
        )
        rows = 0
        # Outdoor sensors first: the rooms' replay estimates their walls from them.
        series.sort(key=lambda s: s.get("tags", {}).get("room") != OUTDOOR_ROOM)
        for s in series:
            tags: dict[str, str] = s.get("tags", {})
            home, device, room = tags.get("home", ""), tags.get("device", ""), tags.get("room")
            if not keep(home) and not (with_outdoor and room == OUTDOOR_ROOM):
                continue
            columns = s["columns"]
            records = [
                Record(home, device, name, int(row[0]), float(value))
                for row in s["values"]
                for name, value in zip(columns[1:], row[1:], strict=True)
                if value is not None
            ]
            rows += len(s["values"])
            if records and keep(home):
                known = self._device(home, device)  # a live message may have come meanwhile
                known.last_seen = max(known.last_seen, max(r.time for r in records))
            if room == OUTDOOR_ROOM:
                if not with_outdoor:
                    continue
                for r in records:
                    self.outdoor.observe_reading(home, r.name, r.time, r.value)
            elif room:
                state = self.rooms.setdefault((home, room), RoomState(home, room))
                # An hour at a time, each with that hour's outdoor temperature; the findings
                # come from the reconcile.
                for hour, chunk in groupby(records, key=lambda r: r.time_ms // 3_600_000):
                    outdoor = self.outdoor.at(home, hour * 3600 + 3599)
                    th = self.book.for_room(home, room)
                    trm = self._running_mean(home, hour * 3600.0)
                    environment.on_readings(state, list(chunk), th, outdoor, trm=trm)
                self._queue_mould(state)
        motion = await influx.query(
            f"SELECT last(motion) FROM event WHERE time > now() - {int(hours * 60)}m "
            'AND motion = true GROUP BY "home"::tag'
        )
        for s in motion:
            home = s.get("tags", {}).get("home", "")
            if not keep(home):
                continue
            if not self.consent.book.allows(home, Stream.ACTIVITY):
                continue  # withdrawn; its points are deleted by the next purge
            activity.on_motion(
                self.activity.setdefault(home, activity.ActivityState(home)),
                float(s["values"][0][0]) / 1000,
            )
        return rows

    async def _reconcile(self, keep: Callable[[str], bool]) -> None:
        """Make the store match the rebuilt state of the homes `keep`: raise what holds, clear
        what has gone."""
        open_alerts = await self._all(AlertFilter(states=OPEN_STATES))
        raised: dict[tuple[str, str | None, str], AlertView] = {}
        for alert in open_alerts:
            if not keep(alert.home):
                continue
            raised[(alert.home, alert.room, alert.rule)] = alert
            if alert.category is Category.DEVICE_OFFLINE and alert.room:
                self._device(alert.home, alert.room).offline = True
            if alert.category is Category.LOW_BATTERY and alert.room:
                self._device(alert.home, alert.room).battery_low = True
            if alert.category is Category.INACTIVITY:
                self.activity.setdefault(
                    alert.home, activity.ActivityState(alert.home)
                ).raised = True
        now = time.time()
        for state in [s for s in self.rooms.values() if keep(s.home)]:
            for rule in (
                environment.DAMP,
                environment.COLD,
                environment.HEAT,
                environment.VENTILATION,
            ):
                holds = state.raised.get(rule.name)
                current = raised.get((state.home, state.room, rule.name))
                # A case whose words say its signs had gone, when they hold again, is raised
                # again to say what they are.
                was_held = current is not None and environment.SIGNS_GONE_AT in current.evidence
                if holds is not None and (
                    current is None or current.severity.rank < holds.rank or was_held
                ):
                    th = self.book.for_room(state.home, state.room)
                    month, evidence = _month_words(state, rule, th)
                    await self._apply(
                        [
                            Finding(
                                Action.RAISE,
                                rule,
                                state.home,
                                state.room,
                                holds,
                                now,
                                f"{state.room.replace('_', ' ').capitalize()}: "
                                f"{rule.category.value.replace('_', ' ')} condition holds "
                                f"(mould index {float(state.mould.m[0]):.1f}{month}); found "
                                "when the rules engine restarted.",
                                {"mould_index": round(float(state.mould.m[0]), 3), **evidence},
                            )
                        ]
                    )
                elif holds is None and current is not None and _unread(state):
                    # No reading of the room in the replay (its device silent, or its
                    # readings not consented): no evidence either way, and a live worker
                    # leaves such a case as it is. A restart cleared it ("the condition had
                    # gone"). The rule knows it is open, so that readings that come back
                    # judge it.
                    state.raised.setdefault(rule.name, current.severity)
                elif holds is None and current is not None:
                    # A damp or cold case waits its hold before it clears, as the live rule
                    # does: cleared at a restart, the next humid day reopened it (a restart
                    # or a handover was a reopening). The hold runs from when its signs went,
                    # which a case already in its hold says; else from its last evidence, the
                    # last time its signs were known to hold.
                    th = self.book.for_room(state.home, state.room)
                    seen = _signs_gone_at(current)
                    hold = environment.clear_hold_s(rule, th)
                    if now - seen < hold:
                        state.raised[rule.name] = current.severity
                        state.gone_since.setdefault(rule.name, seen)
                        if environment.SIGNS_GONE_AT not in current.evidence:
                            # Its signs went while no worker watched: it says so now.
                            await self._apply([_held(current, state.room, rule, seen, hold, th)])
                        continue
                    await self._apply(
                        [
                            Finding(
                                Action.CLEAR,
                                rule,
                                state.home,
                                state.room,
                                current.severity,
                                now,
                                "The condition had gone by the time the rules engine restarted.",
                                {},
                            )
                        ]
                    )


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run one rules-engine worker until `stop` is set (or the task is cancelled)."""
    worker = AlertsWorker(settings)
    if stop is not None:
        worker.stop = stop
    await worker.run()
