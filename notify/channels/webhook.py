"""Webhook channel: a signed JSON POST to a URL.

`X-Hof-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` lets the receiver check
the body came from us and is fresh (the Stripe scheme: sign the timestamp with the body, so a
captured request cannot be replayed later with a new time). `Idempotency-Key` is the same for
every retry of one (alert, level, repeat, recipient), so a receiver that saw a request whose
answer we lost can drop the repeat.

Each receiver (scheme, host, port) has its own pool of kept-alive connections, and a window
of POSTs in flight to it (`Window`): 4 at first, one more for each answered on a connection
it keeps open while others have waited `GROW_AFTER_S`, up to 16, back to 4 after a few idle
seconds. The receivers the policies name are kept warm (`WebhookChannel.warm`): 4
connections open from the start, so a burst's first POSTs need no new connection, and a
receiver that answers at once is never sent more than those 4 at a time (a new connection in
a burst waited 73-218 ms for its receiver's new thread to be given a CPU).

Twenty-five connections opened at once overflowed a small server's accept queue (Python's
http.server listens with a backlog of 5), and every SYN it dropped cost the kernel's 1 s
retransmission; four at a time to a receiver that is slow to answer (a loaded machine) queued
a burst's POSTs behind each other.
A receiver that is slow or down holds up only its own pool. The POSTs go through
`notify/channels/http1.py` (h11 on asyncio streams, 0.35-0.48 ms of CPU a POST where httpx
took 2.8 ms: bench/notify/http_client.py), which opens a receiver's connections one at a
time, each answered on before the next is opened.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import json
import ssl
import time
from collections.abc import Iterable
from typing import Any

import structlog

from hof.waiting import within
from notify.channels.base import Delivery, DeliveryStatus, Message
from notify.channels.http1 import HttpError, Origin, Pool, origin_of

__all__ = ["WebhookChannel", "signature", "webhook_body"]

log = structlog.get_logger(__name__)

# 408 Request Timeout and 429 Too Many Requests are worth another try; other 4xx are not.
_RETRY_4XX = frozenset({408, 425, 429})
FIRST = 4  # POSTs in flight to a receiver at first: within the smallest accept backlog in use
MOST = 16
# A POST waiting this long for its turn lets the window grow when one is answered. A receiver
# that answers at once keeps its window at FIRST, on connections already open.
GROW_AFTER_S = 0.05
WARM_ORIGINS_MOST = 16  # receivers kept warm at most (the first named in the policies)
KEEP_ALIVE_S = 5.0  # an idle connection is not used again after this
IDLE_S = 4.0  # a window idle this long starts again from FIRST, before its connections close


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The X-Hof-Signature header value for `body` sent at `timestamp`."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def webhook_body(message: Message) -> dict[str, Any]:
    """The JSON a receiver gets: the alert's fields (`home`, `name`, `ts`... from `data`) and
    the notification's (level, text, how to acknowledge)."""
    return {
        "alert": message.alert_id,
        "home": message.home,
        "kind": message.kind,
        "level": message.level,
        "subject": message.subject,
        "text": message.text,
        "raised_at": message.raised_at.isoformat(),
        "recipient": message.recipient.name,
        "ack_url": message.ack_url,
        "ack_code": message.ack_code,
        **message.data,
    }


class Window:
    """How many POSTs one receiver may have in flight: `FIRST` at first, one more for each it
    answered on a connection it kept open (one it has accepted) while the next POST had
    waited `GROW_AFTER_S`, up to `MOST`; `FIRST` again once idle for `IDLE_S`, since its
    connections close soon after and would all be new.

    POSTs wait here in order; the pool (`http1.Pool`) only opens connections, one at a time,
    and does not bound how many are in use."""

    def __init__(self) -> None:
        self.size = FIRST
        self.busy = 0
        self._idle_since = time.monotonic()
        # POSTs waiting their turn, each with when it began to wait
        self._waiting: collections.deque[tuple[asyncio.Future[None], float]] = collections.deque()

    async def take(self) -> None:
        if self.busy == 0 and time.monotonic() - self._idle_since > IDLE_S:
            self.size = FIRST
        self._skip_gone()
        if self.busy < self.size and not self._waiting:
            self.busy += 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((turn, time.monotonic()))
        try:
            await turn  # `give_back` counts us in before it wakes us
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.give_back(grow=False)  # woken, then cancelled before we could go
            raise

    def give_back(self, *, grow: bool) -> None:
        self.busy -= 1
        now = time.monotonic()
        self._skip_gone()
        if grow and self._waiting and now - self._waiting[0][1] >= GROW_AFTER_S:
            self.size = min(MOST, self.size + 1)
        if self.busy == 0:
            self._idle_since = now
        while self._waiting and self.busy < self.size:
            turn, _since = self._waiting.popleft()
            if not turn.done():  # a waiter cancelled meanwhile is skipped
                self.busy += 1
                turn.set_result(None)

    def _skip_gone(self) -> None:
        while self._waiting and self._waiting[0][0].done():
            self._waiting.popleft()  # gave up waiting: holds no place


class WebhookChannel:
    """POSTs to the recipient's address (a URL), over a small pool per receiver."""

    name = "webhook"

    def __init__(self, secret: bytes, *, timeout_s: float = 5.0) -> None:
        self.secret = secret
        self.timeout_s = timeout_s
        self._pools: dict[Origin, tuple[Pool, Window]] = {}
        self._warming: list[asyncio.Task[None]] = []
        # Made once for every receiver's pool: loading the CA bundle takes ~0.15 s of CPU.
        self._tls = ssl.create_default_context()

    def _pool(self, origin: Origin) -> tuple[Pool, Window]:
        pool = self._pools.get(origin)
        if pool is None:
            made = Pool(origin, tls=self._tls, keep_alive_s=KEEP_ALIVE_S, user_agent="hof-notify/1")
            pool = self._pools[origin] = (made, Window())
        return pool

    def warm(self, addresses: Iterable[str], connections: int = FIRST) -> list[str]:
        """Keep `connections` open to each receiver of `addresses` (URLs) from now until
        `aclose`, in the running loop; the receivers kept warm, as scheme://host:port."""
        if connections <= 0:
            return []
        origins: dict[Origin, None] = {}
        for address in addresses:
            with contextlib.suppress(HttpError):  # not a URL: its sends say so, as ever
                origins.setdefault(origin_of(address)[0], None)
        kept = list(origins)[:WARM_ORIGINS_MOST]
        if len(origins) > len(kept):
            log.warning("webhook_warm_limit", receivers=len(origins), kept=len(kept))
        for origin in kept:
            pool, _window = self._pool(origin)
            if pool.warm == 0:  # not kept warm already by an earlier call
                self._warming.append(pool.keep_warm(connections))
        return [f"{o.scheme}://{o.host}:{o.port}" for o in kept]

    async def send(self, message: Message) -> Delivery:
        body = json.dumps(webhook_body(message), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Hof-Signature": signature(self.secret, int(time.time()), body),
            "Idempotency-Key": message.idempotency_key,
        }
        try:
            origin, target = origin_of(message.recipient.address)
        except HttpError as exc:
            return Delivery(DeliveryStatus.FAILED, str(exc), retryable=False)
        pool, window = self._pool(origin)
        try:
            await within(window.take(), self.timeout_s)
        except TimeoutError:
            return Delivery(
                DeliveryStatus.FAILED,
                f"no connection free within {self.timeout_s:g} s",
                retryable=True,
            )
        grow = False
        try:
            # Redirects are not followed: one could carry the signed body elsewhere.
            answer = await within(pool.post(target, body, headers), self.timeout_s)
            grow = answer.kept_open
        except TimeoutError:
            return Delivery(
                DeliveryStatus.FAILED, f"timed out after {self.timeout_s:g} s", retryable=True
            )
        except HttpError as exc:
            return Delivery(DeliveryStatus.FAILED, str(exc), retryable=True)
        finally:
            window.give_back(grow=grow)
        detail = f"HTTP {answer.status}"
        ref = answer.headers.get("x-request-id")
        if 200 <= answer.status < 300:
            return Delivery(DeliveryStatus.SENT, detail, provider_ref=ref)
        retryable = answer.status >= 500 or answer.status in _RETRY_4XX
        return Delivery(DeliveryStatus.FAILED, detail, provider_ref=ref, retryable=retryable)

    async def aclose(self) -> None:
        warming, self._warming = self._warming, []
        for task in warming:
            task.cancel()
        await asyncio.gather(*warming, return_exceptions=True)
        pools, self._pools = list(self._pools.values()), {}
        for pool, _window in pools:
            pool.close()
