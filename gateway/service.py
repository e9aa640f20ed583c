"""The gateway service: home broker -> validate -> SQLite -> acknowledge; SQLite -> platform.

A message from a device is acknowledged to the home broker only once its records are committed
to the durable queue (or it has been dead-lettered), and a queued record is deleted only once
the platform broker has acknowledged it, so a crash or a power cut loses nothing: the home
broker redelivers what was not acknowledged, and the queue re-sends what was not deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import structlog

from gateway.clock import clock_synced
from gateway.escalation import Alert, Escalation, is_alerting
from gateway.packs import Pack, build_packs
from gateway.registry import Registry as Devices
from gateway.store import PutResult, QueueStats, QueueStore
from hof import __version__
from hof.deadletter import deadletter_message
from hof.devicejson import loads_object
from hof.errors import ConfigError, ContractError, Reason
from hof.metrics import Registry, register_endpoint, serve_metrics
from hof.mqtt import Delivery, Link, LinkDownError, Will
from hof.senml import Limits, Record, parse_pack
from hof.settings import Settings
from hof.topic import PREFIX, Channel, Topic, is_valid_id
from hof.waiting import within

__all__ = ["Gateway", "serve"]

log = structlog.get_logger(__name__)

T = TypeVar("T")

# How long a graceful stop keeps forwarding the queue before leaving the rest on disk.
DRAIN_GRACE_S = 5.0
OFFLINE = b'{"state":"offline"}'
# What the device may say or show for each of the gateway's own notice states (CONTRACT.md).
NOTICE_TEXT = {
    "escalated-locally": "No internet: your call was passed on another way",
    "escalation-failed": "No internet and the call could not be passed on",
    "queued": "No internet: your call will be sent when it is back",
}


class Gateway:
    """One home's gateway; `run` until `stop` is set, then drain and return."""

    def __init__(self, settings: Settings) -> None:
        cfg = settings.gateway
        if not cfg.home or not is_valid_id(cfg.home):
            raise ConfigError("gateway.home must be this home's id (HOF_GATEWAY__HOME)")
        self.settings = settings
        self.cfg = cfg
        self.home: str = cfg.home
        self.limits = Limits(
            min_time=settings.contract.min_time, max_future_s=settings.contract.max_future_s
        )
        self.stop = asyncio.Event()
        self.ready = asyncio.Event()
        self.wake = asyncio.Event()  # records committed: the forwarder has work
        self.status_due = asyncio.Event()
        self.queue_path = cfg.queue_path or settings.state_dir / "gateway" / "queue.sqlite"
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="gateway-sqlite")
        self.queue: QueueStore | None = None
        self.devices = Devices(
            default_interval_s=cfg.default_interval_s,
            offline_after_intervals=cfg.offline_after_intervals,
        )
        self.escalation = Escalation(
            cfg.escalation_command,
            cfg.escalation_webhook,
            cfg.escalation_timeout_s,
            attempts=cfg.escalation_attempts,
            backoff_s=cfg.escalation_backoff_s,
        )
        self._alerts: dict[tuple[str, str, int], asyncio.Task[None]] = {}
        self._escalating = asyncio.Semaphore(4)
        self._last_status: dict[str, bytes] = {}
        self._statuses_dirty = True
        self._tg: asyncio.TaskGroup | None = None
        self.status_topic = str(Topic(self.home, "gateway", Channel.STATUS))
        # Bounded by the brokers: each sends at most Receive Maximum unacknowledged messages.
        inbox: asyncio.Queue[Delivery] = asyncio.Queue(cfg.receive_maximum + 100)
        downbox: asyncio.Queue[Delivery] = asyncio.Queue(200)
        client_id = f"hof-gateway-{self.home}"
        self.local = Link(
            cfg.local,
            name="local",
            client_id=client_id,
            queue=inbox,
            subscriptions=[(f"{PREFIX}/#", 1)],
            clean_start=False,
            session_expiry_s=cfg.session_expiry_s,
            receive_maximum=cfg.receive_maximum,
        )
        self.uplink = Link(
            settings.mqtt,
            name="uplink",
            client_id=client_id,
            queue=downbox,
            subscriptions=[
                (f"{PREFIX}/{self.home}/+/{Channel.CONFIG.value}", 1),
                (f"{PREFIX}/{self.home}/+/{Channel.NOTICE.value}", 1),
            ],
            clean_start=False,
            session_expiry_s=cfg.session_expiry_s,
            receive_maximum=100,
            will=Will(self.status_topic, OFFLINE),
            username=settings.mqtt.username or self.home,
        )
        self.metrics = Registry()
        m = self.metrics
        self.m_messages = m.counter("hof_gateway_messages_total", "Messages from devices")
        self.m_records = m.counter("hof_gateway_records_total", "Records queued, by channel")
        self.m_duplicates = m.counter("hof_gateway_duplicates_total", "Records already queued")
        self.m_rejects = m.counter("hof_gateway_rejected_total", "Messages refused, by reason")
        self.m_forwarded = m.counter(
            "hof_gateway_forwarded_records_total", "Records acknowledged by the platform"
        )
        self.m_packs = m.counter("hof_gateway_packs_total", "Packs acknowledged by the platform")
        self.m_dropped = m.counter(
            "hof_gateway_dropped_readings_total", "Routine readings dropped: queue full"
        )
        self.m_escalations = m.counter("hof_gateway_escalations_total", "Local escalations")
        self.m_depth = m.gauge("hof_gateway_queue_depth", "Records queued, by channel")
        self.m_uplink = m.gauge("hof_gateway_uplink_connected", "1 when the uplink is up")
        self.m_devices = m.gauge("hof_gateway_devices_online", "Devices online")
        self.m_ready = m.gauge("hof_gateway_ready", "1 once subscribed to the home broker")
        m.collectors.append(self._collect)

    def _collect(self) -> None:
        if self.queue is not None:
            for channel, count in self.queue.counts.items():
                self.m_depth.set(count, channel=channel)
        self.m_uplink.set(1.0 if self.uplink.connected.is_set() else 0.0)
        self.m_devices.set(self.devices.online())

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        """Run SQLite work on the queue's own thread, never on the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args))

    @property
    def _q(self) -> QueueStore:
        assert self.queue is not None
        return self.queue

    # -- running -------------------------------------------------------------------------

    async def run(self) -> None:
        cfg = self.cfg
        server = await serve_metrics(self.metrics, cfg.metrics_host, cfg.metrics_port)
        host, port = server.sockets[0].getsockname()[:2]
        url = f"http://{host}:{port}/metrics"
        self.queue = await self._db(
            functools.partial(
                QueueStore, self.queue_path, home=self.home, max_records=cfg.queue_max_records
            )
        )
        self.m_dropped.set(self._q.dropped)
        registration = register_endpoint(self.settings.state_dir, "gateway", cfg.client_id, url)
        log.info("gateway_starting", home=self.home, metrics=url, queue=str(self.queue_path))
        try:
            await self._run()
        finally:
            server.close()
            registration.unlink(missing_ok=True)
            await self._db(self._q.close)
            self._pool.shutdown()
            log.info("gateway_stopped", home=self.home, **self.summary())

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            links = [tg.create_task(self.local.run()), tg.create_task(self.uplink.run())]
            intake = tg.create_task(self._intake())
            forwarder = tg.create_task(self._forward())
            helpers = [
                tg.create_task(self._downlink()),
                tg.create_task(self._status_loop()),
                tg.create_task(self._sweep()),
            ]
            # Ready once the home broker is subscribed; a SIGTERM before that still stops.
            waits = [asyncio.ensure_future(e.wait()) for e in (self.local.subscribed, self.stop)]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()
            if not self.stop.is_set():
                self.ready.set()
                self.m_ready.set(1.0)
                log.info("gateway_ready", home=self.home, queued=sum(self._q.counts.values()))
            await self.stop.wait()
            log.info("gateway_draining", home=self.home)
            await intake
            await forwarder
            if self.uplink.connected.is_set():
                with contextlib.suppress(LinkDownError):
                    await self.uplink.publish(self.status_topic, OFFLINE, qos=1, retain=True)
            for task in [*helpers, *links, *self._alerts.values()]:
                task.cancel()

    # -- the home side -------------------------------------------------------------------

    async def _intake(self) -> None:
        """Take messages from the home broker in batches: one commit (one fsync) a batch."""
        loop = asyncio.get_running_loop()
        while not self.stop.is_set():
            try:
                first = await within(self.local.get(), 0.25)
            except TimeoutError:
                continue
            batch = [first]
            deadline = loop.time() + self.cfg.commit_interval_s
            while len(batch) < self.cfg.commit_max_messages:
                try:
                    batch.append(self.local.get_nowait())
                except asyncio.QueueEmpty:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        batch.append(await within(self.local.get(), remaining))
                    except TimeoutError:
                        break
            await self._commit(batch)
            await asyncio.sleep(0)

    async def _commit(self, batch: list[Delivery]) -> None:
        by_channel: dict[str, list[Record]] = {"event": [], "reading": []}
        statuses: list[tuple[str, bytes]] = []
        rejects: list[tuple[Delivery, ContractError]] = []
        alerts: list[Alert] = []
        for d in batch:
            try:
                self._classify(d, by_channel, statuses, alerts)
            except ContractError as exc:
                rejects.append((d, exc))
            except Exception as exc:
                # A bug on one message must not stop the home's telecare: refuse it, keep going.
                log.exception("message_failed", topic=d.topic[:200])
                detail = f"{type(exc).__name__}: {exc}"[:200]
                rejects.append((d, ContractError(Reason.INTERNAL_ERROR, detail)))
        result: PutResult = await self._db(self._q.put, list(by_channel.items()), statuses)
        for channel, records in by_channel.items():
            if records:
                self.m_records.inc(len(records), channel=channel)
        self.m_duplicates.inc(result.duplicates)
        if result.dropped:
            self.m_dropped.inc(result.dropped)
            log.warning("queue_full_dropped_readings", dropped=result.dropped, home=self.home)
            self.status_due.set()
        for d, error in rejects:
            await self._deadletter(d, error)
        for d in batch:
            self.local.ack(d)
        if statuses:
            self._statuses_dirty = True
        self.wake.set()
        for alert in alerts:
            self._on_alert(alert)

    def _classify(
        self,
        d: Delivery,
        by_channel: dict[str, list[Record]],
        statuses: list[tuple[str, bytes]],
        alerts: list[Alert],
    ) -> None:
        topic = Topic.parse(d.topic)
        if topic.home != self.home:
            raise ContractError(Reason.BAD_TOPIC, f"home {topic.home!r} is not this gateway's")
        channel = topic.channel
        if channel in (Channel.READING, Channel.EVENT):
            self.m_messages.inc(channel=channel.value)
            if d.retain:
                raise ContractError(Reason.RETAINED, f"{channel.value} must not be retained")
            records = parse_pack(topic, d.payload, received_at=d.received_at, limits=self.limits)
            by_channel[channel.value].extend(records)
            self.devices.seen(topic.device, d.received_at, records)
            alerts.extend(
                Alert(self.home, r.device, r.name, r.time_ms, r.value)
                for r in records
                if isinstance(r.value, str | bool) and is_alerting(r.name, r.value)
            )
        elif channel is Channel.STATUS and topic.device != "gateway":
            self.m_messages.inc(channel=channel.value)
            body = loads_object(d.payload, "status")
            self.devices.status(topic.device, body, d.received_at, retained=d.retain)
            if self._last_status.get(topic.device) != d.payload:
                self._last_status[topic.device] = d.payload
                statuses.append((topic.device, d.payload))
            if body.get("state") == "offline":
                self.status_due.set()
        elif channel is Channel.CONFIG and d.payload:
            self.devices.config(topic.device, loads_object(d.payload, "config"))
        # notice and deadletter: the gateway's own publications, or the platform's, passed down.

    async def _deadletter(self, d: Delivery, exc: ContractError) -> None:
        self.m_rejects.inc(reason=exc.reason.value)
        log.warning(
            "message_rejected", topic=d.topic, reason=exc.reason.value, detail=exc.detail[:200]
        )
        target, body = deadletter_message(d.topic, d.payload, exc, d.received_at, service="gateway")
        if target is None:
            return  # no home to tell: logged and counted
        try:
            await self.local.publish(target, body, qos=1)
        except LinkDownError as error:
            log.warning("deadletter_failed", topic=target, error=str(error))

    # -- telecare: local escalation --------------------------------------------------------

    def _on_alert(self, alert: Alert) -> None:
        if alert.key in self._alerts or self._tg is None:
            return
        delay = 0.0 if not self.uplink.connected.is_set() else self.cfg.escalate_after_s
        self._alerts[alert.key] = self._tg.create_task(self._escalate_after(alert, delay))

    async def _escalate_after(self, alert: Alert, delay: float) -> None:
        """Escalate locally unless the platform acknowledges the alert within `delay`."""
        await asyncio.sleep(delay)
        async with self._escalating:
            if self.escalation.configured:
                outcome = await self.escalation.escalate(alert)
                state = "escalated-locally" if outcome.reached else "escalation-failed"
                self.m_escalations.inc(result=state)
                notice: dict[str, object] = {
                    "alert": alert.name,
                    "state": state,
                    "text": NOTICE_TEXT[state],
                    "via": list(outcome.via),
                    "attempts": dict(outcome.attempts),
                }
            else:
                notice = {"alert": alert.name, "state": "queued", "text": NOTICE_TEXT["queued"]}
                self.m_escalations.inc(result="queued")
        notice["ts"] = round(time.time(), 3)
        target = str(Topic(self.home, alert.device, Channel.NOTICE))
        try:
            await self.local.publish(target, json.dumps(notice).encode(), qos=1)
        except LinkDownError as exc:
            log.error("notice_failed", device=alert.device, error=str(exc))

    def _delivered(self, records: list[Record]) -> None:
        """Events the platform acknowledged: their pending local escalation is not needed."""
        for r in records:
            task = self._alerts.pop((r.device, r.name, r.time_ms), None)
            if task is not None and not task.done():
                task.cancel()

    # -- the platform side ---------------------------------------------------------------

    async def _forward(self) -> None:
        """Send the queue to the platform, events first; delete what the platform acknowledged."""
        grace: float | None = None
        while True:
            if self.stop.is_set():
                grace = grace or time.monotonic() + DRAIN_GRACE_S
                if time.monotonic() > grace or not self.uplink.connected.is_set():
                    return
            if not self.uplink.connected.is_set():
                with contextlib.suppress(TimeoutError):
                    await within(self.uplink.connected.wait(), 0.5)
                continue
            if self._statuses_dirty:
                await self._forward_statuses()
            self.wake.clear()
            chunk = await self._db(self._q.peek, self.cfg.forward_chunk_records)
            if chunk is None:
                if self.stop.is_set():
                    return
                with contextlib.suppress(TimeoutError):
                    await within(self.wake.wait(), 1.0)
                continue
            packs = build_packs(chunk.channel, chunk.ids, chunk.records)
            sent = await self._publish(packs)
            ids = [i for p in sent for i in p.ids]
            if ids:
                await self._db(self._q.delete, chunk.channel, ids)
                self.m_forwarded.inc(len(ids), channel=chunk.channel)
                self.m_packs.inc(len(sent))
                if chunk.channel == "event":
                    self._delivered([r for p in sent for r in p.records])
            if len(sent) < len(packs):
                await asyncio.sleep(0.5)  # the uplink went down: wait for it to return

    async def _publish(self, packs: list[Pack]) -> list[Pack]:
        """Publish packs, a window at a time; the ones the platform acknowledged."""
        window = asyncio.Semaphore(self.cfg.publish_window)

        async def one(pack: Pack) -> bool:
            async with window:
                try:
                    await self.uplink.publish(pack.topic, pack.payload, qos=1)
                    return True
                except LinkDownError as exc:
                    log.debug("uplink_publish_failed", topic=pack.topic, error=str(exc))
                    return False

        results = await asyncio.gather(*(one(p) for p in packs))
        return [p for p, ok in zip(packs, results, strict=True) if ok]

    async def _forward_statuses(self) -> None:
        pending = await self._db(self._q.pending_statuses)
        for device, payload in pending:
            topic = str(Topic(self.home, device, Channel.STATUS))
            try:
                await self.uplink.publish(topic, payload, qos=1, retain=True)
            except LinkDownError:
                return
            await self._db(self._q.status_sent, device, payload)
        self._statuses_dirty = False

    async def _downlink(self) -> None:
        """Config and notices from the platform, passed to the home broker (config retained)."""
        while True:
            d = await self.uplink.get()
            retain = d.topic.endswith(f"/{Channel.CONFIG.value}")
            while True:
                try:
                    await self.local.publish(d.topic, d.payload, qos=1, retain=retain)
                    break
                except LinkDownError as exc:
                    log.warning("downlink_retry", topic=d.topic, error=str(exc))
                    await asyncio.sleep(1.0)
            self.uplink.ack(d)

    # -- health --------------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        """The gateway's own status object (published retained on its status topic)."""
        stats: QueueStats = await self._db(self._q.stats)
        now = time.time()
        return {
            "state": "online",
            "fw": __version__,
            "ts": round(now, 3),
            "queue": {
                "events": stats.events,
                "readings": stats.readings,
                "oldest_age_s": (
                    round(now - stats.oldest_queued, 1) if stats.oldest_queued else None
                ),
                "bytes": stats.file_bytes,
                "max_records": self.cfg.queue_max_records,
            },
            "dropped": {"readings": stats.dropped_readings, "events": 0},
            "rejected": {k[0][1]: int(v) for k, v in self.m_rejects.values.items() if k},
            "forwarded": int(self.m_forwarded.total()),
            "devices": {
                "online": self.devices.online(),
                "offline": len(self.devices.devices) - self.devices.online(),
                "list": self.devices.snapshot(),
            },
            "clock": {"synced": clock_synced()},
        }

    async def _status_loop(self) -> None:
        """Publish the status at start, on reconnection, on drops and offline devices, and
        every status_interval_s."""
        last_sent = 0.0
        connections = -1
        while True:
            with contextlib.suppress(TimeoutError):
                await within(self.status_due.wait(), 1.0)
            due = (
                self.status_due.is_set()
                or connections != self.uplink.connections
                or time.monotonic() - last_sent > self.cfg.status_interval_s
            )
            if not due:
                continue
            if not self.uplink.connected.is_set():
                # Due, but nowhere to send it: wait for the uplink. Going round at once span
                # on the status already due, a core's worth of CPU through an outage.
                with contextlib.suppress(TimeoutError):
                    await within(self.uplink.connected.wait(), 1.0)
                continue
            self.status_due.clear()
            connections = self.uplink.connections
            body = json.dumps(await self.status(), separators=(",", ":")).encode()
            try:
                await self.uplink.publish(self.status_topic, body, qos=1, retain=True)
                last_sent = time.monotonic()
            except LinkDownError:
                connections = -1
            await asyncio.sleep(0.5)

    async def _sweep(self) -> None:
        """Mark devices offline that have missed their intervals."""
        while True:
            await asyncio.sleep(min(5.0, self.cfg.default_interval_s))
            changed = self.devices.sweep(time.time())
            if changed:
                log.warning("devices_silent", devices=changed, home=self.home)
                self.status_due.set()

    def summary(self) -> dict[str, float]:
        return {
            "messages": self.m_messages.total(),
            "records": self.m_records.total(),
            "forwarded": self.m_forwarded.total(),
            "rejected": self.m_rejects.total(),
            "dropped": self.m_dropped.total(),
        }


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run the gateway until `stop` is set (or the task is cancelled)."""
    gateway = Gateway(settings)
    if stop is not None:
        gateway.stop = stop
    await gateway.run()
