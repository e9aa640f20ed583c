"""The one small interface every notification channel adapter implements.

A channel turns one `Message` (an alert, at one escalation level, for one recipient) into one
delivery attempt and reports what happened. Retries, backoff and recording each attempt are
the engine's work (`notify/deliver.py`), not the adapter's: an adapter makes one attempt within
its timeout and says how it went, and never raises for a delivery failure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

__all__ = ["Channel", "Delivery", "DeliveryStatus", "Message", "Recipient"]


class DeliveryStatus(StrEnum):
    """What one attempt achieved, as far as the channel can tell."""

    SENT = "sent"  # handed over (SMTP accepted, HTTP 2xx, SIP 200); delivery not yet known
    DELIVERED = "delivered"  # the far end confirmed delivery (Notify receipt, ARC ack)
    FAILED = "failed"  # refused or errored; `retryable` says whether to try again


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who a message goes to, and how to reach them on the channel that sends it."""

    name: str  # a person, a team or a centre, for screens and history
    address: str  # email address, phone number, URL, SIP URI, or MQTT topic


@dataclass(frozen=True, slots=True)
class Message:
    """One notification of one alert at one escalation level to one recipient."""

    alert_id: int
    home: str
    kind: str  # the alert's category: fall, button, smoke, leak, inactivity, device_offline
    level: int  # escalation level, 0 first
    subject: str  # short, plain words
    text: str  # the body for a person: what, where, when, and how to acknowledge
    recipient: Recipient
    idempotency_key: str  # one per (alert, level, repeat, recipient): a retry reuses it
    raised_at: dt.datetime
    ack_url: str | None = None  # signed single-use acknowledgement link, if any
    ack_code: str | None = None  # short code for an SMS reply, e.g. "1A"
    data: dict[str, Any] = field(default_factory=dict)  # alert fields for machine channels


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outcome of one attempt."""

    status: DeliveryStatus
    detail: str = ""  # plain words: "250 OK", "HTTP 503", "timed out after 5 s"
    provider_ref: str | None = None  # the far end's id (Notify id, SIP Call-ID, Message-ID)
    retryable: bool = False  # only meaningful when FAILED


class Channel(Protocol):
    """An adapter for one way of reaching people."""

    name: str  # "webhook", "email", "notify_sms", "notify_email", "scaip", "device_notice"

    async def send(self, message: Message) -> Delivery:
        """Make one attempt, bounded by the adapter's own timeout; never raise for a failure."""
        ...

    async def aclose(self) -> None:
        """Release connections; called once at shutdown."""
        ...
