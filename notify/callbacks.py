"""GOV.UK Notify's callbacks to the notifier: delivery receipts, and acknowledgement by SMS reply.

Notify POSTs JSON with `Authorization: Bearer <token>`, the token set on its Callbacks page
(https://docs.notifications.service.gov.uk/rest-api.html, "Callbacks"):

- a delivery receipt (`id, reference, to, status, created_at, completed_at, sent_at,
  notification_type`) updates the attempt whose provider_ref is Notify's `id`: `delivered`
  or one of the failures; interim statuses change nothing;
- a received text (`id, source_number, destination_number, message, date_received`) carrying
  a reply code ("1A") acknowledges the alert that code was sent for, if the text came from the
  number it was sent to: a code alone acknowledges nothing from another phone.

Each callback has its own token (Notify sets one per callback type); both are compared in
constant time. The app answers 2xx to anything it understood, even a receipt for an attempt it
does not know, so Notify does not retry it every 5 minutes; 401 without the right token.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from hof.alertstore import notifications as n
from hof.alertstore.models import AttemptStatus
from hof.settings import GovNotifySettings
from notify.channels.base import DeliveryStatus
from notify.channels.notify_gov import delivery_for_status, phone_variants
from notify.web import WebContext, context_of

__all__ = [
    "CallbackTokens",
    "DeliveryReceipt",
    "InboundSms",
    "configure",
    "reply_code",
    "router",
    "tokens_from_settings",
]

log = logging.getLogger(__name__)

RECEIPT_PATH = "/callbacks/notify/delivery"
RECEIPT_WAIT_S = 0.25  # a receipt for an attempt not yet recorded is tried again this often,
RECEIPT_WAIT_TRIES = 8  # for about 2 s, then answered (and logged) as unknown
INBOUND_PATH = "/callbacks/notify/inbound"

# "1A", "1a", "12 B", "ack 1A": a digit run then one letter, standing alone.
_CODE = re.compile(r"(?<![0-9A-Za-z])([1-9][0-9]{0,2})\s?([A-Za-z])(?![0-9A-Za-z])")


@dataclass(frozen=True, slots=True)
class CallbackTokens:
    """The bearer tokens set on Notify's Callbacks page, one per callback."""

    delivery: str
    inbound: str

    def __post_init__(self) -> None:
        # Notify itself asks for at least 10 characters.
        if len(self.delivery) < 10 or len(self.inbound) < 10:
            raise ValueError("Notify callback bearer tokens are at least 10 characters")


class DeliveryReceipt(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    reference: str | None = None
    to: str
    status: str
    created_at: dt.datetime
    completed_at: dt.datetime | None = None
    sent_at: dt.datetime | None = None
    notification_type: str


class InboundSms(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    source_number: str
    destination_number: str
    message: str
    date_received: dt.datetime


def configure(app: FastAPI, tokens: CallbackTokens) -> None:
    """Turn the callbacks on for `app` (without tokens they answer 404: not configured)."""
    app.state.notify_callback_tokens = tokens


def tokens_from_settings(conf: GovNotifySettings) -> CallbackTokens | None:
    """The callbacks' tokens when both are set (else the callbacks stay off)."""
    if conf.callback_token is None or conf.inbound_token is None:
        return None
    return CallbackTokens(
        conf.callback_token.get_secret_value(), conf.inbound_token.get_secret_value()
    )


def reply_code(text: str) -> str | None:
    """The acknowledgement code in a reply ("1A", "ok 1a", "1 A"), upper-cased, or None."""
    match = _CODE.search(text)
    return f"{match.group(1)}{match.group(2).upper()}" if match else None


def _tokens(request: Request) -> CallbackTokens:
    tokens = getattr(request.app.state, "notify_callback_tokens", None)
    if not isinstance(tokens, CallbackTokens):
        raise HTTPException(404, "GOV.UK Notify callbacks are not configured")
    return tokens


def _bearer_ok(request: Request, expected: str) -> None:
    given = request.headers.get("authorization", "").encode()
    if not hmac.compare_digest(given, f"Bearer {expected}".encode()):
        raise HTTPException(401, "bearer token required", headers={"WWW-Authenticate": "Bearer"})


Tokens = Annotated[CallbackTokens, Depends(_tokens)]
Context = Annotated[WebContext, Depends(context_of)]

router = APIRouter()


@router.post(RECEIPT_PATH)
async def delivery_receipt(
    receipt: DeliveryReceipt, request: Request, tokens: Tokens, ctx: Context
) -> dict[str, object]:
    _bearer_ok(request, tokens.delivery)
    found = delivery_for_status(receipt.status)
    if found.status is DeliveryStatus.SENT:
        return {"updated": 0, "status": receipt.status}  # interim: sending, pending, ...
    status = (
        AttemptStatus.DELIVERED
        if found.status is DeliveryStatus.DELIVERED
        else AttemptStatus.FAILED
    )
    at = receipt.completed_at or ctx.clock()

    def update() -> int:
        with n.transaction(ctx.engine) as session:
            return n.record_receipt(session, receipt.id, status, at, detail=found.detail)

    updated = await run_in_threadpool(update)
    for _ in range(RECEIPT_WAIT_TRIES):
        if updated:
            break
        # The engine records an attempt just after Notify's 201; a receipt can beat it there.
        await asyncio.sleep(RECEIPT_WAIT_S)
        updated = await run_in_threadpool(update)
    if not updated:
        log.warning(
            "notify receipt for an unknown notification %s (%s)", receipt.id, receipt.status
        )
    return {"updated": updated, "status": receipt.status}


@router.post(INBOUND_PATH)
async def inbound_sms(
    sms: InboundSms, request: Request, tokens: Tokens, ctx: Context
) -> dict[str, object]:
    _bearer_ok(request, tokens.inbound)
    code = reply_code(sms.message)
    if code is None:
        return {"acknowledged": False, "reason": "no code"}
    now = ctx.clock()

    def redeem() -> n.AckResult:
        # The code is matched with the number it was sent to, written as the rota wrote it.
        result = n.AckResult(False, "unknown")
        with n.transaction(ctx.engine) as session:
            for address in phone_variants(sms.source_number):
                result = n.acknowledge_by_code(session, address, code, now, via="sms")
                if result.alert_id is not None:
                    break
        return result

    result = await run_in_threadpool(redeem)
    if result.alert_id is not None:
        ctx.wake()
    return {"acknowledged": result.ok, "reason": result.reason, "alert": result.alert_id}
