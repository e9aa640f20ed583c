"""Webhook channel: a signed JSON POST to a URL.

`X-Hof-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` lets the receiver check
the body came from us and is fresh (the Stripe scheme: sign the timestamp with the body, so a
captured request cannot be replayed later with a new time). `Idempotency-Key` is the same for
every retry of one (alert, level, repeat, recipient), so a receiver that saw a request whose
answer we lost can drop the repeat.

Each receiver (scheme, host, port) has its own pool of at most `CONNECTIONS` kept-alive
connections: a burst of falls queues its POSTs on them rather than opening a connection each.
Twenty-five connections opened at once overflowed a small server's accept queue (Python's
http.server listens with a backlog of 5), and every SYN it dropped cost the kernel's 1 s
retransmission; a receiver that is slow or down holds up only its own pool.
"""

from __future__ import annotations

import asyncio
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
CONNECTIONS = 4  # to one receiver at once; below the smallest accept backlog in common use
Gate = asyncio.Semaphore


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


class WebhookChannel:
    """POSTs to the recipient's address (a URL), over a small pool per receiver."""

    name = "webhook"

    def __init__(self, secret: bytes, *, timeout_s: float = 5.0) -> None:
        self.secret = secret
        self.timeout_s = timeout_s
        self._clients: dict[tuple[str, str, int | None], tuple[httpx.AsyncClient, Gate]] = {}
        # Made once for every receiver's pool: loading the CA bundle takes ~0.15 s of CPU.
        self._tls = httpx.create_ssl_context()

    def _client(self, url: str) -> tuple[httpx.AsyncClient, Gate]:
        parsed = httpx.URL(url)
        origin = (parsed.scheme, parsed.host, parsed.port)
        pool = self._clients.get(origin)
        if pool is None:
            client = httpx.AsyncClient(
                verify=self._tls,
                timeout=self.timeout_s,  # waiting for one of the pool's connections included
                follow_redirects=False,  # a redirect could carry the signed body elsewhere
                headers={"User-Agent": "hof-notify/1"},
                limits=httpx.Limits(
                    max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS
                ),
            )
            # POSTs wait for a connection here, not in httpcore's pool: it scans its whole
            # queue whenever a request ends (a burst's 200 queued POSTs cost ~1 ms each).
            pool = self._clients[origin] = (client, asyncio.Semaphore(CONNECTIONS))
        return pool

    async def send(self, message: Message) -> Delivery:
        body = json.dumps(webhook_body(message), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Hof-Signature": signature(self.secret, int(time.time()), body),
            "Idempotency-Key": message.idempotency_key,
        }
        try:
            client, gate = self._client(message.recipient.address)
            await asyncio.wait_for(gate.acquire(), self.timeout_s)
        except TimeoutError:
            return Delivery(
                DeliveryStatus.FAILED,
                f"no connection free within {self.timeout_s:g} s",
                retryable=True,
            )
        try:
            response = await client.post(message.recipient.address, content=body, headers=headers)
        except httpx.TimeoutException:
            return Delivery(
                DeliveryStatus.FAILED, f"timed out after {self.timeout_s:g} s", retryable=True
            )
        except httpx.HTTPError as exc:
            return Delivery(DeliveryStatus.FAILED, f"{type(exc).__name__}: {exc}", retryable=True)
        finally:
            gate.release()
        detail = f"HTTP {response.status_code}"
        ref = response.headers.get("X-Request-Id")
        if response.is_success:
            return Delivery(DeliveryStatus.SENT, detail, provider_ref=ref)
        retryable = response.status_code >= 500 or response.status_code in _RETRY_4XX
        return Delivery(DeliveryStatus.FAILED, detail, provider_ref=ref, retryable=retryable)

    async def aclose(self) -> None:
        pools, self._clients = list(self._clients.values()), {}
        for client, _gate in pools:
            await client.aclose()
