"""GOV.UK Notify text messages and emails, through the official `notifications-python-client`.

One template per message type, each with two placeholders, `((subject))` and `((body))`; the
alert's words go in as personalisation. The client is synchronous (requests), so each attempt
runs in a worker thread bounded by `asyncio.wait_for` as well as the client's own timeout. A 201
means Notify accepted the message (SENT); whether it reached the phone or inbox arrives later
as a delivery receipt on the callback (`notify/callbacks.py`), or by asking for the status.

Error mapping (https://docs.notifications.service.gov.uk/rest-api.html, error codes): 429
(rate or daily limit) and 5xx, and no answer at all, are worth retrying; 400 (validation, trial
mode, team-only key) and 403 (token, clock) are not: the same request would fail again.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from notifications_python_client.errors import APIError, HTTPError, InvalidResponse
from notifications_python_client.notifications import NotificationsAPIClient

from hof.settings import GovNotifySettings
from hof.waiting import within
from notify.channels.base import Delivery, DeliveryStatus, Message

__all__ = [
    "NotifyGovChannel",
    "NotifyGovConfig",
    "channels_from_settings",
    "delivery_for_status",
    "phone_variants",
]

PRODUCTION_URL: Final = "https://api.notifications.service.gov.uk"

# Notify's statuses for text messages and emails, and what each means for an attempt.
_FINAL_FAILURES: Final[dict[str, bool]] = {  # status -> worth sending again
    "permanent-failure": False,  # wrong number or address
    "temporary-failure": True,  # phone off, inbox full, for 72 hours
    "technical-failure": True,  # between Notify and its provider; not charged
    "validation-failed": False,
}


@dataclass(frozen=True, slots=True)
class NotifyGovConfig:
    """A Notify service's API key and templates; `base_url` moves it (a local server in tests)."""

    api_key: str  # "{key_name}-{service_id}-{secret}"
    sms_template_id: str
    email_template_id: str
    base_url: str = PRODUCTION_URL
    timeout_s: float = 10.0
    sms_sender_id: str | None = None
    email_reply_to_id: str | None = None

    def __post_init__(self) -> None:
        # The client slices the key from its end: 36 characters of secret, 36 of service id.
        if len(self.api_key) < 74 or self.api_key[-37] != "-" or self.api_key[-74] != "-":
            raise ValueError("a GOV.UK Notify API key reads {key_name}-{service_id}-{secret}")


class _Client(Protocol):
    """The part of the (untyped) NotificationsAPIClient used here, typed at our boundary."""

    request_session: Any

    def send_sms_notification(self, **kw: Any) -> Any: ...
    def send_email_notification(self, **kw: Any) -> Any: ...
    def get_notification_by_id(self, id: str) -> Any: ...


_client_class: Any = NotificationsAPIClient


def delivery_for_status(status: str, detail: str = "") -> Delivery:
    """What a Notify status (from a receipt or a status lookup) means for an attempt."""
    words = detail or f"GOV.UK Notify: {status}"
    if status == "delivered":
        return Delivery(DeliveryStatus.DELIVERED, detail=words)
    if status in _FINAL_FAILURES:
        return Delivery(DeliveryStatus.FAILED, detail=words, retryable=_FINAL_FAILURES[status])
    return Delivery(DeliveryStatus.SENT, detail=words)  # created, sending, pending, sent


def phone_variants(number: str) -> list[str]:
    """The forms a UK number is written in (07700 900123, +447700900123, 447700900123).

    Notify's inbound callback gives `source_number` as 447700900123, while a rota may hold
    07700900123: the reply is matched to the recipient under any of these forms.
    """
    digits = "".join(ch for ch in number if ch.isdigit())
    if digits.startswith("0044"):
        digits = digits[2:]
    if digits.startswith("44"):
        national = "0" + digits[2:]
    elif digits.startswith("0"):
        national, digits = digits, "44" + digits[1:]
    else:
        return [number, digits] if digits != number else [number]
    out = [number, digits, "+" + digits, national]
    return list(dict.fromkeys(out))


def _reference(message: Message) -> str:
    # Notify asks that a reference carry no personal data; the key may hold a phone number.
    digest = hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:16]
    return f"hof-{message.alert_id}-{message.level}-{digest}"


def _sms_body(message: Message) -> str:
    text = message.text
    if message.ack_code and message.ack_code not in text:
        text = f"{text} Reply {message.ack_code} to acknowledge."
    return text


def _email_body(message: Message) -> str:
    text = message.text
    if message.ack_url and message.ack_url not in text:
        text = f"{text}\n\nAcknowledge: {message.ack_url}"
    return text


def _error_words(error: APIError) -> str:
    detail = error.message
    if isinstance(detail, list):
        detail = "; ".join(
            f"{e.get('error', '')}: {e.get('message', '')}" for e in detail if isinstance(e, dict)
        )
    return f"HTTP {error.status_code} {detail}".strip()


class NotifyGovChannel:
    """Text messages (`notify_sms`) or emails (`notify_email`) through GOV.UK Notify."""

    def __init__(self, config: NotifyGovConfig, kind: Literal["sms", "email"]) -> None:
        self.config = config
        self.kind = kind
        self.name = f"notify_{kind}"

    def _client(self) -> _Client:
        # A client per attempt: the library says it is not thread-safe (one requests.Session).
        client: _Client = _client_class(
            self.config.api_key, base_url=self.config.base_url, timeout=self.config.timeout_s
        )
        return client

    def _post(self, message: Message) -> dict[str, Any]:
        client = self._client()
        try:
            personalisation = {"subject": message.subject}
            if self.kind == "sms":
                personalisation["body"] = _sms_body(message)
                response = client.send_sms_notification(
                    phone_number=message.recipient.address,
                    template_id=self.config.sms_template_id,
                    personalisation=personalisation,
                    reference=_reference(message),
                    sms_sender_id=self.config.sms_sender_id,
                )
            else:
                personalisation["body"] = _email_body(message)
                response = client.send_email_notification(
                    email_address=message.recipient.address,
                    template_id=self.config.email_template_id,
                    personalisation=personalisation,
                    reference=_reference(message),
                    email_reply_to_id=self.config.email_reply_to_id,
                )
        finally:
            client.request_session.close()
        if not isinstance(response, dict):
            raise InvalidResponse(message="Notify answered without a JSON object")
        return response

    def _get(self, provider_ref: str) -> dict[str, Any]:
        client = self._client()
        try:
            response = client.get_notification_by_id(provider_ref)
        finally:
            client.request_session.close()
        if not isinstance(response, dict):
            raise InvalidResponse(message="Notify answered without a JSON object")
        return response

    async def _call(self, fn: Any, arg: Any) -> tuple[dict[str, Any] | None, Delivery | None]:
        """Run one client call in a thread; the answer, or the Delivery that says why not."""
        limit = self.config.timeout_s + 1.0  # the client's own timeout fires first
        try:
            return await within(asyncio.to_thread(fn, arg), limit), None
        except TimeoutError:
            words = f"no answer from GOV.UK Notify within {limit:g} s"
            return None, Delivery(DeliveryStatus.FAILED, detail=words, retryable=True)
        except InvalidResponse as exc:
            # Notify may have queued it: a duplicate text beats a missed fall.
            return None, Delivery(DeliveryStatus.FAILED, detail=_error_words(exc), retryable=True)
        except HTTPError as exc:
            retryable = exc.status_code == 429 or exc.status_code >= 500
            if exc.response is None:
                words = f"cannot reach GOV.UK Notify: {exc.__cause__ or exc}"
                return None, Delivery(DeliveryStatus.FAILED, detail=words, retryable=True)
            words = _error_words(exc)
            return None, Delivery(DeliveryStatus.FAILED, detail=words, retryable=retryable)
        except (OSError, ValueError) as exc:
            words = f"GOV.UK Notify client error: {exc}"
            return None, Delivery(DeliveryStatus.FAILED, detail=words, retryable=True)

    async def send(self, message: Message) -> Delivery:
        """One text or email; SENT with Notify's id once Notify has accepted it."""
        response, failed = await self._call(self._post, message)
        if failed is not None:
            return failed
        assert response is not None
        ref = str(response.get("id", "")) or None
        return Delivery(DeliveryStatus.SENT, detail="accepted by GOV.UK Notify", provider_ref=ref)

    async def status(self, provider_ref: str) -> Delivery:
        """Ask Notify how a message it accepted is doing (when no receipt has come)."""
        response, failed = await self._call(self._get, provider_ref)
        if failed is not None:
            return failed
        assert response is not None
        found = delivery_for_status(str(response.get("status", "")))
        return Delivery(found.status, found.detail, provider_ref, found.retryable)

    async def aclose(self) -> None:
        return None


def channels_from_settings(conf: GovNotifySettings) -> dict[str, NotifyGovChannel]:
    """`notify_sms` and `notify_email`, each when its template is set; none without a key."""
    if conf.api_key is None:
        return {}
    config = NotifyGovConfig(
        api_key=conf.api_key.get_secret_value(),
        sms_template_id=conf.sms_template_id,
        email_template_id=conf.email_template_id,
        base_url=conf.base_url,
        timeout_s=conf.timeout_s,
        sms_sender_id=conf.sms_sender_id,
        email_reply_to_id=conf.email_reply_to_id,
    )
    out: dict[str, NotifyGovChannel] = {}
    if conf.sms_template_id:
        out["notify_sms"] = NotifyGovChannel(config, "sms")
    if conf.email_template_id:
        out["notify_email"] = NotifyGovChannel(config, "email")
    return out
