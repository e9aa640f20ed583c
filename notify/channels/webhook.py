"""Webhook channel: a signed JSON POST to a URL.

`X-Hof-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` lets the receiver check
the body came from us and is fresh (the Stripe scheme: sign the timestamp with the body, so a
captured request cannot be replayed later with a new time). `Idempotency-Key` is the same for
every retry of one (alert, level, repeat, recipient), so a receiver that saw a request whose
answer we lost can drop the repeat.

Each receiver (scheme, host, port) has its own pool of kept-alive connections, and a window
of POSTs in flight to it (`Window`): 4 at first, one more for each answered on a connection
it keeps open, up to 16, back to 4 after a few idle seconds. Twenty-five connections opened at
once overflowed a small server's accept queue (Python's http.server listens with a backlog of
5), and every SYN it dropped cost the kernel's 1 s retransmission; four at a time to a
receiver that is slow to answer (a loaded machine) queued a burst's POSTs behind each other.
A receiver that is slow or down holds up only its own pool.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import json
import time
from typing import Any

# httpx imports httpcore when its first client is made (~0.15 s): at start-up, not on the
# first fall's POST, since pools are made per receiver as they are first needed.
import httpcore  # noqa: F401
import httpx

from notify.channels.base import Delivery, DeliveryStatus, Message

__all__ = ["WebhookChannel", "signature", "webhook_body"]

# 408 Request Timeout and 429 Too Many Requests are worth another try; other 4xx are not.
_RETRY_4XX = frozenset({408, 425, 429})
FIRST = 4  # POSTs in flight to a receiver at first: within the smallest accept backlog in use
MOST = 16
KEEP_ALIVE_S = 5.0  # httpx's default: an idle connection is closed after this
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
    answered on a connection it kept open (one it has accepted), up to `MOST`; `FIRST` again
    once idle for `IDLE_S`, since its connections close soon after and would all be new.

    POSTs wait here in order rather than in httpcore's pool, which scans its whole queue
    whenever a request ends (a burst's 200 queued POSTs cost ~1 ms of CPU each)."""

    def __init__(self) -> None:
        self.size = FIRST
        self.busy = 0
        self._idle_since = time.monotonic()
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()

    async def take(self) -> None:
        if self.busy == 0 and time.monotonic() - self._idle_since > IDLE_S:
            self.size = FIRST
        while self._waiting and self._waiting[0].done():
            self._waiting.popleft()  # gave up waiting: holds no place
        if self.busy < self.size and not self._waiting:
            self.busy += 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await turn  # `give_back` counts us in before it wakes us
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.give_back(grow=False)  # woken, then cancelled before we could go
            raise

    def give_back(self, *, grow: bool) -> None:
        self.busy -= 1
        if grow:
            self.size = min(MOST, self.size + 1)
        if self.busy == 0:
            self._idle_since = time.monotonic()
        while self._waiting and self.busy < self.size:
            turn = self._waiting.popleft()
            if not turn.done():  # a waiter cancelled meanwhile is skipped
                self.busy += 1
                turn.set_result(None)


def _kept_open(response: httpx.Response) -> bool:
    if response.http_version != "HTTP/1.1":
        return False
    return str(response.headers.get("connection", "")).lower() != "close"


class WebhookChannel:
    """POSTs to the recipient's address (a URL), over a small pool per receiver."""

    name = "webhook"

    def __init__(self, secret: bytes, *, timeout_s: float = 5.0) -> None:
        self.secret = secret
        self.timeout_s = timeout_s
        self._clients: dict[tuple[str, str, int | None], tuple[httpx.AsyncClient, Window]] = {}
        # Made once for every receiver's pool: loading the CA bundle takes ~0.15 s of CPU.
        self._tls = httpx.create_ssl_context()

    def _client(self, url: str) -> tuple[httpx.AsyncClient, Window]:
        parsed = httpx.URL(url)
        origin = (parsed.scheme, parsed.host, parsed.port)
        pool = self._clients.get(origin)
        if pool is None:
            client = httpx.AsyncClient(
                verify=self._tls,
                timeout=self.timeout_s,
                follow_redirects=False,  # a redirect could carry the signed body elsewhere
                headers={"User-Agent": "hof-notify/1"},
                limits=httpx.Limits(
                    max_connections=MOST,
                    max_keepalive_connections=MOST,
                    keepalive_expiry=KEEP_ALIVE_S,
                ),
            )
            pool = self._clients[origin] = (client, Window())
        return pool

    async def send(self, message: Message) -> Delivery:
        body = json.dumps(webhook_body(message), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Hof-Signature": signature(self.secret, int(time.time()), body),
            "Idempotency-Key": message.idempotency_key,
        }
        try:
            client, window = self._client(message.recipient.address)
            await asyncio.wait_for(window.take(), self.timeout_s)
        except TimeoutError:
            return Delivery(
                DeliveryStatus.FAILED,
                f"no connection free within {self.timeout_s:g} s",
                retryable=True,
            )
        grow = False
        try:
            response = await client.post(message.recipient.address, content=body, headers=headers)
            grow = _kept_open(response)
        except httpx.TimeoutException:
            return Delivery(
                DeliveryStatus.FAILED, f"timed out after {self.timeout_s:g} s", retryable=True
            )
        except httpx.HTTPError as exc:
            return Delivery(DeliveryStatus.FAILED, f"{type(exc).__name__}: {exc}", retryable=True)
        finally:
            window.give_back(grow=grow)
        detail = f"HTTP {response.status_code}"
        ref = response.headers.get("X-Request-Id")
        if response.is_success:
            return Delivery(DeliveryStatus.SENT, detail, provider_ref=ref)
        retryable = response.status_code >= 500 or response.status_code in _RETRY_4XX
        return Delivery(DeliveryStatus.FAILED, detail, provider_ref=ref, retryable=retryable)

    async def aclose(self) -> None:
        pools, self._clients = list(self._clients.values()), {}
        for client, _window in pools:
            await client.aclose()
