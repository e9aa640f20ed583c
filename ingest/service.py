"""The ingest worker: shared subscription -> validate -> batch -> InfluxDB -> acknowledge.

Nothing is acknowledged to the broker before it is stored (or dead-lettered), so a worker that
dies mid-stream loses nothing: the broker redelivers, and storage is idempotent.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

import structlog
from paho.mqtt.subscribeoptions import SubscribeOptions

from hof.consent import ConsentWatcher, Stream
from hof.deadletter import deadletter_message
from hof.errors import ContractError, Reason
from hof.metrics import Registry, register_endpoint, serve_metrics
from hof.mqtt import LinkDownError
from hof.rooms import RoomWatcher
from hof.senml import Limits, parse_pack
from hof.settings import Settings
from hof.source import Message, open_source
from hof.topic import Channel, Topic, subscription
from hof.waiting import first_of, within
from ingest.influxwrite import LineWriter, WriteRejected, WriteUnavailable
from ingest.lineprotocol import encode_pack, encode_records

__all__ = ["Ingest", "serve"]

log = structlog.get_logger(__name__)

# How long a graceful stop keeps retrying a batch that cannot be stored before it leaves it
# unacknowledged for the broker to redeliver to the next worker.
DRAIN_GRACE_S = 10.0
# Parsed topics remembered: one per device and channel, a few hundred bytes each.
MAX_REMEMBERED_TOPICS = 200_000
READING = Channel.READING.value
ALL_STREAMS = len(Stream)


class _Grace:
    """Once `stop` is set, how long a retry loop may go on before it leaves work for redelivery."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop
        self.deadline: float | None = None

    def expired(self) -> bool:
        if not self.stop.is_set():
            return False
        if self.deadline is None:
            self.deadline = time.monotonic() + DRAIN_GRACE_S
        return time.monotonic() > self.deadline


@dataclass(slots=True)
class Item:
    """One message on its way through: its points as line protocol, or why it was refused.

    Encoded as it is parsed, so that a batch is bounded by points (lines), as its setting
    says, and holds text rather than a few objects a record until it is written.
    """

    delivery: Message
    channel: str
    lines: list[str]
    points: int
    records: int
    error: ContractError | None = None


class Ingest:
    """One ingest worker; `run` until `stop` is set, then drain and return."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        cfg = settings.ingest
        self.limits = Limits(
            min_time=settings.contract.min_time, max_future_s=settings.contract.max_future_s
        )
        self.stop = asyncio.Event()
        self.ready = asyncio.Event()
        # Bounded by the broker: it sends at most Receive Maximum (MQTT) or max_ack_pending
        # (JetStream) unacknowledged QoS 1 messages.
        self.inbox: asyncio.Queue[Any] = asyncio.Queue(cfg.receive_maximum + 1000)
        # One batch waiting while one is written and the next collected: a deeper queue only
        # held more parsed records (peak RSS) without storing any sooner.
        self.batches: asyncio.Queue[list[Item] | None] = asyncio.Queue(1)
        self.metrics = Registry()
        m = self.metrics
        self.m_messages = m.counter("hof_ingest_messages_total", "Messages received, by channel")
        self.m_records = m.counter("hof_ingest_records_total", "Records accepted, by channel")
        self.m_points = m.counter("hof_ingest_points_written_total", "Points written to InfluxDB")
        self.m_batches = m.counter("hof_ingest_batches_total", "Batches written to InfluxDB")
        # Received is not stored: `hof demo` starts its readings rules once the simulator's
        # history is acknowledged here, so that their start-up rebuild finds it in InfluxDB.
        self.m_acked = m.counter(
            "hof_ingest_acknowledged_total", "Messages acknowledged: stored, or refused"
        )
        self.m_rejects = m.counter("hof_ingest_rejected_total", "Messages refused, by reason")
        self.m_failures = m.counter(
            "hof_ingest_write_failures_total", "Failed InfluxDB writes (retried), by kind"
        )
        self.m_waits = m.gauge(
            "hof_ingest_backpressure_waits", "Times the network thread waited for room"
        )
        self.m_deadletters = m.counter("hof_ingest_deadletters_total", "Dead letters published")
        self.m_lag = m.gauge("hof_ingest_last_batch_lag_seconds", "Receipt to acknowledgement")
        self.m_inbox = m.gauge("hof_ingest_inbox_depth", "Messages waiting to be batched")
        self.m_connected = m.gauge("hof_ingest_connected", "1 when the broker link is up")
        self.m_ready = m.gauge("hof_ingest_ready", "1 once subscribed and consuming")
        self.m_started = m.gauge("hof_ingest_start_time_seconds", "When this worker started")
        self.m_started.set(time.time())
        m.collectors.append(self._collect_gauges)
        # Ingest is the one service that dead-letters a config it cannot read.
        self.room_watcher = RoomWatcher(
            settings.mqtt, f"{cfg.client_id}-config", service="ingest", metrics=m, deadletters=True
        )
        self.rooms = self.room_watcher.rooms
        # What the home has not consented to is dropped here, before InfluxDB, and counted.
        self.m_refused = m.counter(
            "hof_ingest_records_refused_total", "Records dropped unstored, by reason (consent)"
        )
        self.consent = ConsentWatcher(
            settings.mqtt,
            f"{cfg.client_id}-consent",
            unrecorded=[Stream(s) for s in settings.rights.unrecorded],
            service="ingest",
            metrics=m,
        )
        # Retain As Published (MQTT 5): a reading published retained reaches us flagged as
        # retained, live or replayed, so that it can be refused (CONTRACT.md); by default the
        # broker clears the flag on a live one and it would be stored.
        as_published = SubscribeOptions(qos=1, retainAsPublished=True)
        # On NATS (nats.broker), a durable JetStream consumer that every worker shares.
        self.data = open_source(
            settings,
            name="data",
            client_id=cfg.client_id,
            durable="ingest",
            channels=[Channel.READING.value, Channel.EVENT.value],
            subscriptions=[
                (subscription(Channel.READING, share_group=cfg.share_group), as_published),
                (subscription(Channel.EVENT, share_group=cfg.share_group), as_published),
            ],
            queue=self.inbox,
            session_expiry_s=cfg.session_expiry_s,
            receive_maximum=cfg.receive_maximum,
        )
        self.metrics_url = ""
        self._topics: dict[str, Topic] = {}
        self._messages: dict[str, int] = {}
        self._records: dict[str, int] = {}

    def _collect_gauges(self) -> None:
        self.m_inbox.set(self.inbox.qsize())
        self.m_waits.set(self.data.waits)
        self.m_connected.set(1.0 if self.data.connected.is_set() else 0.0)

    async def run(self) -> None:
        cfg = self.settings.ingest
        server = await serve_metrics(self.metrics, cfg.metrics_host, cfg.metrics_port)
        host, port = server.sockets[0].getsockname()[:2]
        self.metrics_url = f"http://{host}:{port}/metrics"
        registration = register_endpoint(
            self.settings.state_dir, "ingest", cfg.client_id, self.metrics_url
        )
        log.info("ingest_starting", metrics=self.metrics_url, client_id=cfg.client_id)
        try:
            async with LineWriter(self.settings.influx) as influx:
                await self._run(influx)
        finally:
            server.close()
            registration.unlink(missing_ok=True)
            log.info("ingest_stopped", **self.summary())

    async def _run(self, influx: LineWriter) -> None:
        async with asyncio.TaskGroup() as tg:
            # Rooms first, so the first readings are tagged with them.
            links = [
                tg.create_task(self.room_watcher.run()),
                tg.create_task(self.consent.run()),
            ]
            await first_of(self.room_watcher.snapshot(), self.stop)
            await first_of(self.consent.snapshot(), self.stop)
            links.append(tg.create_task(self.data.run()))
            collector = tg.create_task(self._collect())
            writer = tg.create_task(self._write(influx))
            reporter = tg.create_task(self._report())
            if await first_of(self.data.subscribed, self.stop) is self.data.subscribed:
                self.ready.set()
                self.m_ready.set(1.0)
                log.info("ingest_ready", rooms=len(self.rooms))
            await self.stop.wait()
            log.info("ingest_draining", inbox=self.inbox.qsize())
            await collector
            await writer
            reporter.cancel()
            for task in links:
                task.cancel()

    def _topic(self, text: str) -> Topic:
        """Parse a topic once per device: a bad one raises, a good one is remembered (bounded)."""
        topic = Topic.parse(text)
        if len(self._topics) >= MAX_REMEMBERED_TOPICS:
            self._topics.clear()
        self._topics[text] = topic
        return topic

    def _parse(self, delivery: Message) -> Item:
        """One message's lines, or why it is refused; never raises, whatever it holds.

        Counted in `_messages` and `_records` by channel, which `_count` adds to the metrics
        once a batch: a labelled counter's increment costs more than a pack's fields.
        """
        counts = self._messages
        try:
            topic = self._topics.get(delivery.topic) or self._topic(delivery.topic)
        except Exception as exc:  # a ContractError, or a bug: one message, never the worker
            counts["invalid"] = counts.get("invalid", 0) + 1
            return Item(delivery, "", [], 0, 0, self._refusal(delivery, exc))
        channel = topic.channel.value
        counts[channel] = counts.get(channel, 0) + 1
        try:
            if delivery.retain:
                raise ContractError(Reason.RETAINED, f"{channel} must not be retained")
            records = parse_pack(
                topic, delivery.payload, received_at=delivery.received_at, limits=self.limits
            )
        except Exception as exc:
            return Item(delivery, "", [], 0, 0, self._refusal(delivery, exc))
        book = self.consent.book
        if len(book.allowed(topic.home)) != ALL_STREAMS:  # else every record is consented to
            records, refused = book.split(records)
            for stream, count in refused.items():
                self.m_refused.inc(count, reason=f"no_consent_{stream.value}")
        if not records:
            return Item(delivery, channel, [], 0, 0)
        try:
            if channel == READING:  # a pack's records are all of its topic's device
                lines = encode_pack(READING, topic.home, topic.device, records, self.rooms)
            else:
                lines = encode_records(channel, records, self.rooms)
        except ValueError as exc:
            # Something the parser let through that cannot be line protocol (it never should:
            # names, ids and rooms are checked where they enter): the message is refused.
            error = ContractError(Reason.STORAGE_REJECTED, str(exc)[:200])
            return Item(delivery, channel, [], 0, 0, error)
        self._records[channel] = self._records.get(channel, 0) + len(records)
        return Item(delivery, channel, lines, len(lines), len(records))

    @staticmethod
    def _refusal(delivery: Message, exc: Exception) -> ContractError:
        if isinstance(exc, ContractError):
            return exc
        # a bug must cost one message, never the worker (issue 11)
        log.exception("message_failed", topic=delivery.topic[:200])
        return ContractError(Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"[:200])

    def _count(self) -> None:
        """What `_parse` counted since the last call, into the metrics."""
        for counter, counts in ((self.m_messages, self._messages), (self.m_records, self._records)):
            for channel, count in counts.items():
                counter.inc(count, channel=channel)
            counts.clear()

    async def _collect(self) -> None:
        cfg = self.settings.ingest
        loop = asyncio.get_running_loop()
        while not self.stop.is_set():
            try:
                first = await within(self.data.get(), 0.25)
            except TimeoutError:
                continue
            batch = [self._parse(first)]
            points = batch[0].points
            deadline = loop.time() + cfg.flush_interval_s
            while points < cfg.batch_max_points:
                try:
                    delivery = self.data.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - loop.time()
                    if remaining <= 0 or self.stop.is_set():
                        break
                    try:
                        delivery = await within(self.data.get(), remaining)
                    except TimeoutError:
                        break
                item = self._parse(delivery)
                batch.append(item)
                points += item.points
            self._count()
            await self.batches.put(batch)
            await asyncio.sleep(0)  # a never-empty inbox must not starve the loop (SIGTERM)
        await self.batches.put(None)

    async def _write(self, influx: LineWriter) -> None:
        while (batch := await self.batches.get()) is not None:
            started = time.monotonic()
            if not await self._store(influx, batch):
                continue  # shutting down and could not store: left for redelivery
            ack = self.data.ack
            for item in batch:
                ack(item.delivery)
            self.m_acked.inc(len(batch))
            self.m_batches.inc()
            oldest = min(item.delivery.received_at for item in batch)
            self.m_lag.set(time.time() - oldest)
            log.debug(
                "batch_stored",
                messages=len(batch),
                records=sum(i.records for i in batch),
                ms=round((time.monotonic() - started) * 1000, 1),
            )

    async def _store(self, influx: LineWriter, batch: list[Item]) -> bool:
        """Write the batch's points and publish its dead letters; False if given up at stop."""
        lines, points = self._lines(batch)
        backoff = 0.2
        grace = _Grace(self.stop)
        while True:
            try:
                await influx.write(lines)
                self.m_points.inc(points)
                break
            except WriteRejected as exc:
                self.m_failures.inc(kind="rejected")
                log.warning("batch_refused_isolating", error=exc.message)
                await self._isolate(influx, batch)
                break
            except WriteUnavailable as exc:
                self.m_failures.inc(kind="unavailable")
                log.warning("influx_unavailable", error=str(exc), retry_s=round(backoff, 2))
            if grace.expired():
                log.error("ingest_gave_up_at_stop", messages=len(batch))
                return False
            await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, 10.0)
        return await self._deadletter(batch)

    @staticmethod
    def _lines(batch: list[Item]) -> tuple[list[str], int]:
        """The batch's lines, readings before events (the order InfluxDB sees them in)."""
        lines: list[str] = []
        events: list[Item] = []
        for item in batch:
            if item.points:
                if item.channel == READING:
                    lines += item.lines
                else:
                    events.append(item)
        for item in events:
            lines += item.lines
        return lines, len(lines)

    async def _isolate(self, influx: LineWriter, batch: list[Item]) -> None:
        """Find which messages InfluxDB refuses by writing each alone; dead-letter those."""
        for item in batch:
            if item.error is not None or not item.points:
                continue
            while True:
                try:
                    await influx.write(item.lines)
                    self.m_points.inc(item.points)
                    break
                except WriteRejected as exc:
                    item.error = ContractError(Reason.STORAGE_REJECTED, exc.message)
                    break
                except WriteUnavailable:
                    await asyncio.sleep(1.0)

    async def _deadletter(self, batch: list[Item]) -> bool:
        for item in batch:
            if item.error is None:
                continue
            d = item.delivery
            self.m_rejects.inc(reason=item.error.reason.value)
            target, body = deadletter_message(
                d.topic, d.payload, item.error, d.received_at, service="ingest"
            )
            log.warning(
                "message_rejected",
                topic=d.topic,
                reason=item.error.reason.value,
                detail=item.error.detail[:200],
                deadletter=target is not None,
            )
            if target is None:
                continue
            grace = _Grace(self.stop)
            while True:
                try:
                    await self.data.publish(target, body, qos=1)
                    self.m_deadletters.inc()
                    break
                except LinkDownError as exc:
                    log.warning("deadletter_retry", topic=target, error=str(exc))
                    if grace.expired():
                        return False
                    await asyncio.sleep(0.5)
        return True

    async def _report(self) -> None:
        """A progress line every 30 s, so a log shows what is flowing without a scrape."""
        while True:
            await asyncio.sleep(30.0)
            log.info("ingest_progress", **self.summary())

    def summary(self) -> dict[str, float]:
        return {
            "messages": self.m_messages.total(),
            "records": self.m_records.total(),
            "points": self.m_points.total(),
            "rejected": self.m_rejects.total(),
            "inbox": self.inbox.qsize(),
        }


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run one ingest worker until `stop` is set (or the task is cancelled)."""
    worker = Ingest(settings)
    if stop is not None:
        worker.stop = stop
    await worker.run()
