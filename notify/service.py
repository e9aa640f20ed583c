"""`hof notify`: the notifier process. The engine, its channels, the ack link's app, MQTT.

MQTT is used three ways: device notices are published on it; the rules engine's "alert
raised" message (hof/alertstore/raised.py) has the engine make the alert's jobs at once,
the first level's claimed, and send it (the history's poll is only a backstop); and events
and statuses are read from it, not as the source of truth (that is the alert store) but as a
hint: a device seen on a home's topics may be sent that home's notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import structlog
import uvicorn

from hof.alertstore import make_engine, migrate, store_url
from hof.alertstore.raised import parse_raised, raised_filter
from hof.errors import ContractError
from hof.heap import settle_heap
from hof.metrics import Registry, register_endpoint, serve_metrics
from hof.mqtt import Delivery, Link
from hof.settings import Settings
from hof.topic import Channel as TopicChannel
from hof.topic import Topic, subscription
from hof.waiting import within
from notify import callbacks
from notify.channels import notify_gov, scaip
from notify.channels.base import Channel
from notify.channels.device_notice import DeviceNoticeChannel
from notify.channels.email import EmailChannel
from notify.channels.webhook import WebhookChannel
from notify.digest import Digests
from notify.engine import Notifier
from notify.policy import RESPONDER_KINDS, load_config
from notify.storewatch import StoreWatch
from notify.web import WebContext, create_app

__all__ = ["load_secrets", "serve"]

log = structlog.get_logger(__name__)

# CPython's default (5 ms) is how long the loop may wait for the GIL each time a POST's socket
# is ready while a thread (a store call, an SMTP hand-over) runs Python: a webhook takes it back
# several times. 1 ms costs a little throughput in switches (the rules engine does the same).
SWITCH_INTERVAL_S = 0.001


def load_secrets(settings: Settings) -> tuple[bytes, bytes]:
    """(webhook signing key, ack link key): from the settings, or made once and kept
    owner-only under STATE_DIR/notify/ so that links survive a restart."""
    conf = settings.notify
    path = settings.state_dir / "notify" / "secrets.json"
    stored: dict[str, str] = {}
    if conf.webhook_secret is None or conf.ack_secret is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):
            stored = {"webhook": secrets.token_hex(32), "ack": secrets.token_hex(32)}
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(stored, out)
    webhook = conf.webhook_secret.get_secret_value() if conf.webhook_secret else stored["webhook"]
    ack = conf.ack_secret.get_secret_value() if conf.ack_secret else stored["ack"]
    return webhook.encode(), ack.encode()


def build_channels(settings: Settings, link: Link, webhook_secret: bytes) -> dict[str, Channel]:
    """The channels this notifier can use; a policy naming another records its sends as
    failed ("not configured"), so a screen shows the gap rather than nothing."""
    conf = settings.notify
    channels: dict[str, Channel] = {
        "webhook": WebhookChannel(webhook_secret, timeout_s=conf.webhook_timeout_s),
        "device_notice": DeviceNoticeChannel(lambda topic, body: link.publish(topic, body)),
    }
    if conf.smtp_host:
        channels["email"] = EmailChannel(
            conf.smtp_host,
            conf.smtp_port,
            sender=conf.smtp_from,
            starttls=conf.smtp_starttls,
            username=conf.smtp_username,
            password=conf.smtp_password.get_secret_value() if conf.smtp_password else None,
            ca_file=conf.smtp_ca_file,
            timeout_s=conf.smtp_timeout_s,
        )
    channels.update(notify_gov.channels_from_settings(conf.gov_notify))
    arc = scaip.channel_from_settings(conf.scaip)
    if arc is not None:
        channels["scaip"] = arc
    return channels


class _Server(uvicorn.Server):
    """uvicorn inside our own loop: the process's signal handling stays ours."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # TCP named so that asyncio sets TCP_NODELAY (a small answer must not wait on delayed ACKs)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


async def _watch_mqtt(link: Link, notifier: Notifier) -> None:
    while True:
        delivery: Delivery = await link.get()
        raised = parse_raised(delivery.topic, delivery.payload)
        if raised is not None:
            if raised.category in RESPONDER_KINDS:
                wait_ms = round((time.time() - delivery.received_at) * 1000, 1)
                log.debug("notify_raised_heard", alert=raised.id, handover_ms=wait_ms)
                notifier.heard_raised(raised.id, raised.action)
            continue
        try:
            topic = Topic.parse(delivery.topic)
        except ContractError:
            continue
        if topic.channel is TopicChannel.EVENT:
            # No wake: the rules engine says when an alert is raised. Polling every few ms
            # after each event (as before) took CPU from the rules engine in a burst.
            notifier.saw_device(topic.home, topic.device)
        elif topic.channel is TopicChannel.STATUS and delivery.payload:
            notifier.saw_device(topic.home, topic.device)


async def _started(
    waits: Iterable[asyncio.Task[Any]],
    engine: asyncio.Task[None],
    timeout_s: float,
    keep: Iterable[asyncio.Task[Any]] = (),
) -> None:
    """Wait until one of `waits` is done, or the engine (which ends only by failing), at most
    `timeout_s`; then cancel those of `waits` not in `keep`."""
    pending = set(waits)
    await asyncio.wait({*pending, engine}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    for task in pending - set(keep):
        task.cancel()


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run the notifier until `stop` is set."""
    stop = stop or asyncio.Event()
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
    conf = settings.notify
    config = load_config(conf.policy_file)  # refuses a bad file before anything starts
    url = store_url(settings)
    await asyncio.to_thread(migrate, url)
    engine = make_engine(url, sqlite_busy_timeout_s=settings.alertstore.sqlite_busy_timeout_s)
    webhook_secret, ack_secret = load_secrets(settings)
    sock = _listen(conf.http_host, conf.http_port)
    host = f"[{conf.http_host}]" if ":" in conf.http_host else conf.http_host
    public_url = conf.public_url or f"http://{host}:{sock.getsockname()[1]}"
    link = Link(
        settings.mqtt,
        name="notify",
        client_id=conf.client_id,
        queue=asyncio.Queue(10_000),
        subscriptions=[
            (subscription(TopicChannel.EVENT), 0),
            (subscription(TopicChannel.STATUS), 0),
            (raised_filter(), 0),
        ],
        manual_ack=False,
    )
    channels = build_channels(settings, link, webhook_secret)
    hook = channels["webhook"]
    if isinstance(hook, WebhookChannel):
        warm = hook.warm(config.webhook_addresses(conf.webhook_url), conf.webhook_warm)
        if warm:
            log.info("notify_webhooks_warm", receivers=warm, connections=conf.webhook_warm)
    metrics = Registry()
    ready = metrics.gauge("hof_notify_ready", "1 once the notifier is running")
    notifier = Notifier(
        conf,
        config,
        channels,
        engine,
        ack_secret=ack_secret,
        public_url=public_url,
        metrics=metrics,
    )
    app = create_app(WebContext(engine, ack_secret, wake=notifier.wake))
    tokens = callbacks.tokens_from_settings(conf.gov_notify)
    if tokens is not None:
        callbacks.configure(app, tokens)
    web = _Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    metrics_server = await serve_metrics(metrics, conf.metrics_host, conf.metrics_port)
    m_host, m_port = metrics_server.sockets[0].getsockname()[:2]
    registration = register_endpoint(
        settings.state_dir, "notify", conf.client_id, f"http://{m_host}:{m_port}/metrics"
    )
    web_file = _write_web_url(settings.state_dir, conf.client_id, public_url)
    background = [
        asyncio.create_task(link.run()),
        asyncio.create_task(_watch_mqtt(link, notifier)),
    ]
    # On SQLite, a raised alert is heard from the store's own commit as well as over MQTT,
    # whose message waits its turn in a busy broker (notify/storewatch.py). The notifier is
    # ready once watching, or once the watch has found it cannot (not SQLite, no inotify).
    watching: set[asyncio.Task[Any]] = set()
    if conf.watch_store:
        watch = StoreWatch(engine, RESPONDER_KINDS, lambda a: notifier.heard_raised(a, "raised"))
        watcher = asyncio.create_task(watch.run())
        background.append(watcher)
        watching = {asyncio.create_task(watch.watching.wait()), watcher}
    arc = channels.get("scaip")
    if isinstance(arc, scaip.ScaipChannel) and conf.scaip.heartbeat_s > 0:
        background.append(asyncio.create_task(arc.run_heartbeats(conf.scaip.heartbeat_s, stop)))
    if config.digests and "email" in channels:
        # Housing officers' digests (notify/digest.py): by email, on their own timer.
        digests = Digests(
            config,
            channels["email"],
            engine,
            attempts=conf.attempts,
            backoff_s=conf.retry_backoff_s,
        )
        background.append(asyncio.create_task(digests.run(stop)))
    elif config.digests:
        log.warning("notify_digests_without_email", digests=[d.name for d in config.digests])
    web_task = asyncio.create_task(web.serve(sockets=[sock]))
    engine_task = asyncio.create_task(notifier.run(stop))
    try:
        timeout_s = settings.mqtt.timeout_s
        await _started([asyncio.create_task(link.subscribed.wait())], engine_task, timeout_s)
        if watching:
            await _started(watching, engine_task, timeout_s, keep=background)
        # Ready once caught up with the history too: what is stored after readiness is heard
        # of (MQTT, the watch) or found by a later round, never by a first round still running.
        await _started([asyncio.create_task(notifier.caught_up.wait())], engine_task, timeout_s)
        settle_heap()  # a full collection must not hold up a fall's claim or POST
        ready.set(1.0)
        log.info("notify_ready", ack_url=public_url, channels=sorted(channels))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({stopping, engine_task, web_task}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        stop.set()
        await engine_task  # raises what stopped the engine, if it was not `stop`
    finally:
        web.should_exit = True
        with contextlib.suppress(Exception):
            await within(web_task, 5.0)
        for task in (*background, web_task, engine_task):
            task.cancel()
        await asyncio.gather(*background, web_task, engine_task, return_exceptions=True)
        metrics_server.close()
        registration.unlink(missing_ok=True)
        web_file.unlink(missing_ok=True)
        for channel in channels.values():
            await channel.aclose()
        engine.dispose()
        sock.close()
        log.info("notify_stopped")


def _write_web_url(state_dir: Path, client_id: str, url: str) -> Path:
    """Where the ack link's app listens, for the demo and the tests."""
    path = state_dir / "run" / f"notify-web-{client_id}.url"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(url + "\n")
    return path
