"""The notifier's own channels against real receivers: webhook (signed, idempotency key) over a
local HTTP server, email over a local aiosmtpd with STARTTLS required, and the retry policy."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog.testing
from notify_support import *  # noqa: F403  (pytest fixtures, by name)
from notify_support import Hook, Mailbox, open_hook

from notify.channels import http1, webhook
from notify.channels.base import Delivery, DeliveryStatus, Message, Recipient
from notify.channels.email import EmailChannel
from notify.channels.webhook import FIRST, MOST, WebhookChannel, Window
from notify.deliver import deliver

SECRET = b"webhook-secret"


def _message(address: str, key: str = "hof-1-escalate-0-0-abc") -> Message:
    return Message(
        alert_id=1042,
        home="H-1",
        kind="fall",
        level=0,
        subject="Fall at H-1",
        text="Fall detected by wear-1. Home H-1.",
        recipient=Recipient("Sam", address),
        idempotency_key=key,
        raised_at=dt.datetime(2026, 11, 30, 5, 0, tzinfo=dt.UTC),
        ack_url="http://127.0.0.1:8090/ack/tok",
        ack_code="1A",
        data={"name": "fall", "ts": 1764478800.0, "device": "wear-1"},
    )


async def test_webhook_posts_signed_json_with_an_idempotency_key(hook: Hook) -> None:
    channel = WebhookChannel(SECRET, timeout_s=2)
    try:
        done = await channel.send(_message(hook.url + "/alert"))
    finally:
        await channel.aclose()
    assert done.status is DeliveryStatus.SENT
    assert done.detail == "HTTP 200"
    (post,) = hook.posts("/alert")
    body = post.json()
    assert body["home"] == "H-1"
    assert body["name"] == "fall"
    assert body["ts"] == 1764478800.0
    assert body["alert"] == 1042
    assert body["ack_url"].endswith("/ack/tok")
    assert post.headers["Idempotency-Key"] == "hof-1-escalate-0-0-abc"
    t, v1 = (part.split("=", 1)[1] for part in post.headers["X-Hof-Signature"].split(","))
    expected = hmac.new(SECRET, t.encode() + b"." + post.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(v1, expected)
    assert abs(int(t) - time.time()) < 10


async def test_a_burst_of_webhooks_shares_a_few_connections_to_its_receiver() -> None:
    """Thirty falls' POSTs at once to a keep-alive receiver with http.server's accept backlog
    (5): a few connections first, more as it answers, instead of thirty at once, which
    overflowed the backlog (a dropped SYN is retransmitted only after a second)."""
    receiver = open_hook(keep_alive=True)
    channel = WebhookChannel(SECRET, timeout_s=5)
    try:
        began = time.time()
        done = await asyncio.gather(
            *(channel.send(_message(receiver.url + "/alert", f"key-{i}")) for i in range(30))
        )
        took = time.time() - began
    finally:
        await channel.aclose()
        receiver.close()
    assert [d.status for d in done] == [DeliveryStatus.SENT] * 30
    posts = receiver.posts("/alert")
    assert len(posts) == 30
    assert len({p.peer for p in posts}) <= MOST
    assert took < 1.0, "no connection waited for a SYN to be retransmitted"


async def test_the_window_grows_with_answers_and_a_waiter_that_gives_up_takes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(webhook, "GROW_AFTER_S", 0.02)
    window = Window()
    for _ in range(FIRST):
        await window.take()
    queued = asyncio.create_task(window.take())
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(window.take(), 0.05)  # gave up: holds no place
    await asyncio.sleep(0)
    assert not queued.done()
    window.give_back(grow=True)  # answered on a kept connection, a POST waiting: one more
    await asyncio.wait_for(queued, 1)
    assert (window.busy, window.size) == (FIRST, FIRST + 1)
    await asyncio.wait_for(window.take(), 1)  # the place the growth made
    waiting = [asyncio.create_task(window.take()) for _ in range(FIRST + 1)]
    await asyncio.sleep(0.03)
    for _ in range(FIRST + 1):
        window.give_back(grow=True)
    await asyncio.wait_for(asyncio.gather(*waiting), 1)
    # Each answer grew it while a POST was still waiting: the first three (two let in each),
    # not the last two, when none waited any more.
    assert (window.busy, window.size) == (FIRST + 1, FIRST + 4)


async def test_the_window_does_not_grow_while_answers_come_before_anyone_waits_long() -> None:
    """A receiver that answers at once is kept to FIRST POSTs at a time, on the connections
    it already has: a new connection in a burst was the burst's slowest POST."""
    window = Window()
    for _ in range(FIRST):
        await window.take()
    queued = [asyncio.create_task(window.take()) for _ in range(3)]
    await asyncio.sleep(0)
    for _ in range(3):
        window.give_back(grow=True)  # answered before anyone had waited GROW_AFTER_S
    await asyncio.wait_for(asyncio.gather(*queued), 1)
    assert (window.busy, window.size) == (FIRST, FIRST)


async def test_a_burst_to_a_receiver_that_answers_at_once_opens_no_more_than_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Thirty POSTs at once to a receiver that answers in a millisecond: the window grew with
    every answer and opened a connection for each place it made (up to 16), each new one
    waiting for the receiver to start a thread for it, on a busy machine the slowest POSTs of
    the burst. They now wait their turn on the connections open. (A test on a loaded machine
    may see a POST wait GROW_AFTER_S: it is set long here.)"""
    monkeypatch.setattr(webhook, "GROW_AFTER_S", 2.0, raising=False)
    receiver = open_hook(keep_alive=True)
    channel = WebhookChannel(SECRET, timeout_s=5)
    try:
        done = await asyncio.gather(
            *(channel.send(_message(receiver.url + "/alert", f"key-{i}")) for i in range(30))
        )
    finally:
        await channel.aclose()
        receiver.close()
    assert [d.status for d in done] == [DeliveryStatus.SENT] * 30
    assert len(receiver.accepted) <= FIRST


async def _until(check: Callable[[], bool], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.01)


async def test_a_warm_receiver_takes_a_burst_on_connections_opened_before_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The receivers the policies name have FIRST connections open from the start and kept
    however long idle: a fall's POST needs no handshake, and no new connection is opened in a
    burst to a receiver that answers at once."""
    monkeypatch.setattr(webhook, "GROW_AFTER_S", 2.0)
    monkeypatch.setattr(webhook, "KEEP_ALIVE_S", 0.1)  # idle longer than this: still kept
    receiver = open_hook(keep_alive=True)
    channel = WebhookChannel(SECRET, timeout_s=5)
    try:
        kept = channel.warm([receiver.url + "/alert", receiver.url + "/other", "not a url"])
        assert kept == [receiver.url]
        await _until(lambda: len(receiver.accepted) == FIRST, 5)
        warm = list(receiver.accepted)
        await asyncio.sleep(0.3)
        done = await asyncio.gather(
            *(channel.send(_message(receiver.url + "/alert", f"key-{i}")) for i in range(30))
        )
    finally:
        await channel.aclose()
        receiver.close()
    assert [d.status for d in done] == [DeliveryStatus.SENT] * 30
    assert receiver.accepted == warm, "no connection opened in the burst"
    assert {p.peer for p in receiver.posts("/alert")} <= set(warm)


async def test_warm_connections_the_receiver_closes_are_opened_again() -> None:
    """A receiver that closes idle connections (Node's and Apache's do after 5 s): the pool
    notices each close and opens another, so FIRST stay ready; a POST on one that closes
    just as it goes out is sent on a new one."""
    receiver = open_hook(keep_alive=True, idle_timeout_s=0.3)
    channel = WebhookChannel(SECRET, timeout_s=5)
    try:
        channel.warm([receiver.url])
        await _until(lambda: len(receiver.accepted) >= 2 * FIRST, 5)  # closed, opened again
        done = await channel.send(_message(receiver.url + "/alert"))
    finally:
        await channel.aclose()
        receiver.close()
    assert done.status is DeliveryStatus.SENT
    assert len(receiver.posts("/alert")) == 1


async def test_a_warm_receiver_that_is_down_is_tried_again_and_stops_cleanly() -> None:
    receiver = open_hook(keep_alive=True)
    url = receiver.url
    receiver.close()  # nothing listens there now
    channel = WebhookChannel(SECRET, timeout_s=1)
    channel.warm([url])
    await asyncio.sleep(0.2)
    done = await channel.send(_message(url + "/alert"))
    await asyncio.wait_for(channel.aclose(), 2)
    assert done.status is DeliveryStatus.FAILED
    assert done.retryable


async def test_webhook_failures_say_whether_to_retry(hook: Hook) -> None:
    channel = WebhookChannel(SECRET, timeout_s=0.5)
    try:
        failed = await channel.send(_message(hook.url + "/fail"))
        slow = await channel.send(_message(hook.url + "/slow"))
        refused = await channel.send(_message("http://127.0.0.1:1/nothing"))
    finally:
        await channel.aclose()
    assert (failed.status, failed.detail, failed.retryable) == (
        DeliveryStatus.FAILED,
        "HTTP 503",
        True,
    )
    assert slow.status is DeliveryStatus.FAILED
    assert "timed out" in slow.detail
    assert refused.status is DeliveryStatus.FAILED
    assert refused.retryable


async def test_email_goes_over_starttls_with_the_ack_link(mailbox: Mailbox) -> None:
    channel = EmailChannel(
        mailbox.host, mailbox.port, sender="alerts@hof.invalid", ca_file=mailbox.cert, timeout_s=5
    )
    done = await channel.send(_message("sam@example.org"))
    assert done.status is DeliveryStatus.SENT, done.detail
    ((_, mail, tls),) = mailbox.messages
    assert tls, "the message was sent after STARTTLS"
    assert mail["To"] == "sam@example.org"
    assert mail["Subject"] == "Fall at H-1"
    assert mail["Message-ID"] == done.provider_ref
    body = mail.get_content()
    assert "http://127.0.0.1:8090/ack/tok" in body
    assert "1A" in body


async def test_email_refuses_a_certificate_it_cannot_verify(
    mailbox: Mailbox, tmp_path: Path
) -> None:
    channel = EmailChannel(mailbox.host, mailbox.port, sender="a@hof.invalid", timeout_s=5)
    done = await channel.send(_message("sam@example.org"))
    assert done.status is DeliveryStatus.FAILED
    assert "CERTIFICATE_VERIFY_FAILED" in done.detail or "certificate" in done.detail.lower()
    assert mailbox.messages == []


async def test_a_failing_recipient_is_retried_with_backoff_then_failed(hook: Hook) -> None:
    channel = WebhookChannel(SECRET, timeout_s=2)
    seen: list[tuple[int, Delivery]] = []

    async def record(number: int, outcome: Delivery) -> None:
        seen.append((number, outcome))

    started = time.monotonic()
    try:
        last = await deliver(
            channel, _message(hook.url + "/fail"), attempts=3, backoff_s=0.2, record=record
        )
    finally:
        await channel.aclose()
    elapsed = time.monotonic() - started
    assert last is not None
    assert last.status is DeliveryStatus.FAILED
    assert [n for n, _ in seen] == [1, 2, 3]
    assert len(hook.posts("/fail")) == 3
    assert {p.headers["Idempotency-Key"] for p in hook.posts("/fail")} == {
        "hof-1-escalate-0-0-abc"
    }, "a retry reuses the key"
    assert 0.2 * 0.8 + 0.4 * 0.8 <= elapsed < 5, "backed off 0.2 s then 0.4 s"


@pytest.mark.parametrize("wanted_after", [0, 1])
async def test_delivery_stops_once_no_longer_wanted(hook: Hook, wanted_after: int) -> None:
    channel = WebhookChannel(SECRET, timeout_s=2)
    seen: list[int] = []

    async def record(number: int, outcome: Delivery) -> None:
        seen.append(number)

    try:
        await deliver(
            channel,
            _message(hook.url + "/fail"),
            attempts=5,
            backoff_s=0.01,
            record=record,
            wanted=lambda: len(seen) < wanted_after,
        )
    finally:
        await channel.aclose()
    assert seen == list(range(1, wanted_after + 1))


async def test_a_warm_receiver_whose_syns_go_unanswered_is_given_up_and_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A listener whose accept queue is full drops every SYN: the kernel would try to connect
    for two minutes, holding the pool's opening lock. The warm connection is given up after
    WARM_CONNECT_S and tried again later."""
    monkeypatch.setattr(http1, "WARM_CONNECT_S", 0.3)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):  # fill the accept queue; further SYNs are dropped
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    channel = WebhookChannel(SECRET, timeout_s=1)
    try:
        with structlog.testing.capture_logs() as logs:
            channel.warm([f"http://127.0.0.1:{port}/alert"])
            await _until(lambda: any(e["event"] == "webhook_warm_failed" for e in logs), 3)
    finally:
        await asyncio.wait_for(channel.aclose(), 2)
        for filler in fillers:
            filler.close()
        listener.close()
    failed = next(e for e in logs if e["event"] == "webhook_warm_failed")
    assert "no connection in 0.3 s" in failed["error"]
