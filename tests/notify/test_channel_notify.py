"""The GOV.UK Notify channel at the HTTP boundary, against a local server speaking Notify's API.

The official client makes real HTTP requests (with its JWT) to tests/notify_fake_server.py on a
loopback port; no Notify account can be reached from here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest
from notify_fake_server import FakeNotify, notify_api_key

from notify.channels.base import DeliveryStatus, Message, Recipient
from notify.channels.notify_gov import (
    NotifyGovChannel,
    NotifyGovConfig,
    delivery_for_status,
    phone_variants,
)


@pytest.fixture
def fake() -> Iterator[FakeNotify]:
    server = FakeNotify().start()
    server.add_template("sms", "((subject)): ((body))")
    server.add_template("email", "((body))", subject="((subject))")
    yield server
    server.stop()


def _config(fake: FakeNotify, **kw: object) -> NotifyGovConfig:
    sms = next(t.id for t in fake.templates.values() if t.type == "sms")
    email = next(t.id for t in fake.templates.values() if t.type == "email")
    values: dict[str, object] = {
        "api_key": fake.api_key,
        "sms_template_id": sms,
        "email_template_id": email,
        "base_url": fake.base_url,
        "timeout_s": 5.0,
    }
    values.update(kw)
    return NotifyGovConfig(**values)  # type: ignore[arg-type]


def _message(address: str, key: str = "41:0:0:x") -> Message:
    return Message(
        alert_id=41,
        home="HOME-0042",
        kind="fall",
        level=0,
        subject="Fall at HOME-0042",
        text="A fall was detected at 03:12 at HOME-0042.",
        recipient=Recipient(name="Sam Responder", address=address),
        idempotency_key=key,
        raised_at=dt.datetime(2026, 11, 30, 3, 12, tzinfo=dt.UTC),
        ack_url="http://127.0.0.1:9/ack/abc",
        ack_code="1A",
    )


async def _final_status(channel: NotifyGovChannel, ref: str) -> DeliveryStatus:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = await channel.status(ref)
        if found.status is not DeliveryStatus.SENT:
            return found.status
        await asyncio.sleep(0.02)
    return DeliveryStatus.SENT


async def test_a_text_is_accepted_and_then_delivered(fake: FakeNotify) -> None:
    channel = NotifyGovChannel(_config(fake), "sms")
    delivery = await channel.send(_message("07700900123"))
    assert delivery.status is DeliveryStatus.SENT, delivery
    assert delivery.provider_ref in fake.notifications
    assert delivery.provider_ref is not None
    note = fake.notifications[delivery.provider_ref]
    assert note.body == (
        "Fall at HOME-0042: A fall was detected at 03:12 at HOME-0042. Reply 1A to acknowledge."
    )
    assert note.reference is not None
    assert note.reference.startswith("hof-41-0-")  # no phone number in the reference
    assert "07700900123" not in note.reference
    assert await _final_status(channel, delivery.provider_ref) is DeliveryStatus.DELIVERED
    assert channel.name == "notify_sms"


async def test_an_email_carries_the_acknowledgement_link(fake: FakeNotify) -> None:
    channel = NotifyGovChannel(_config(fake), "email")
    delivery = await channel.send(_message("sam@example.org"))
    assert delivery.status is DeliveryStatus.SENT, delivery
    assert delivery.provider_ref is not None
    note = fake.notifications[delivery.provider_ref]
    assert note.subject == "Fall at HOME-0042"
    assert note.body.endswith("Acknowledge: http://127.0.0.1:9/ack/abc")
    assert channel.name == "notify_email"


@pytest.mark.parametrize(
    ("number", "final", "retryable"),
    [
        # Notify's own research-mode numbers (alphagov/notifications-api,
        # app/celery/research_mode_tasks.py): ...002 fails for good, ...003 for now.
        ("07700900002", "permanent-failure", False),
        ("07700900003", "temporary-failure", True),
        ("+447700900003", "temporary-failure", True),
    ],
)
async def test_notify_failure_numbers_end_failed(
    fake: FakeNotify, number: str, final: str, retryable: bool
) -> None:
    channel = NotifyGovChannel(_config(fake), "sms")
    delivery = await channel.send(_message(number))
    assert delivery.status is DeliveryStatus.SENT  # accepted: the failure comes later
    assert delivery.provider_ref is not None
    assert await _final_status(channel, delivery.provider_ref) is DeliveryStatus.FAILED
    assert fake.notifications[delivery.provider_ref].status == final
    later = await channel.status(delivery.provider_ref)
    assert later.retryable is retryable
    assert later.detail == f"GOV.UK Notify: {final}"


@pytest.mark.parametrize(
    ("status", "error", "words", "retryable"),
    [
        (500, "Exception", "Internal server error", True),
        (429, "RateLimitError", "Exceeded rate limit for key type TEST of 3000 requests", True),
        (429, "TooManyRequestsError", "Exceeded send limits (250000) for today", True),
        (400, "BadRequestError", "Can't send to this recipient using a team-only API key", False),
    ],
)
async def test_errors_map_to_failed_with_retryable_by_status(
    fake: FakeNotify, status: int, error: str, words: str, retryable: bool
) -> None:
    fake.fail_next(status, error, words)
    channel = NotifyGovChannel(_config(fake), "sms")
    delivery = await channel.send(_message("07700900123"))
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.retryable is retryable
    assert delivery.detail == f"HTTP {status} {error}: {words}"


async def test_a_wrong_key_is_refused_as_notify_does_and_not_retried(fake: FakeNotify) -> None:
    wrong = notify_api_key("hof_test", fake.service_id, "00000000-0000-4000-8000-000000000000")
    channel = NotifyGovChannel(_config(fake, api_key=wrong), "sms")
    delivery = await channel.send(_message("07700900123"))
    assert delivery.status is DeliveryStatus.FAILED
    assert not delivery.retryable
    assert delivery.detail == "HTTP 403 AuthError: Invalid token: signature, api token is not valid"
    assert not fake.notifications


async def test_a_validation_error_is_not_retried(fake: FakeNotify) -> None:
    channel = NotifyGovChannel(_config(fake), "sms")
    delivery = await channel.send(_message("not a number"))
    assert delivery.status is DeliveryStatus.FAILED
    assert not delivery.retryable
    assert "ValidationError: phone_number Not a UK mobile number" in delivery.detail


async def test_notify_unreachable_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    key = notify_api_key(
        "k", "26785a09-ab16-4eb0-8407-a37497a57506", "3d844edf-8d35-48ac-975b-e847b4f122b0"
    )
    config = NotifyGovConfig(
        api_key=key,
        sms_template_id="f33517ff-2a88-4f6e-b855-c550268ce08a",
        email_template_id="f33517ff-2a88-4f6e-b855-c550268ce08a",
        base_url=f"http://127.0.0.1:{port}",
        timeout_s=2.0,
    )
    delivery = await NotifyGovChannel(config, "sms").send(_message("07700900123"))
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.retryable
    assert delivery.detail.startswith("cannot reach GOV.UK Notify")


async def test_a_silent_notify_is_bounded_by_the_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # accepts the connection, never answers
        port = silent.getsockname()[1]
        key = notify_api_key(
            "k", "26785a09-ab16-4eb0-8407-a37497a57506", "3d844edf-8d35-48ac-975b-e847b4f122b0"
        )
        config = NotifyGovConfig(
            api_key=key,
            sms_template_id="f33517ff-2a88-4f6e-b855-c550268ce08a",
            email_template_id="f33517ff-2a88-4f6e-b855-c550268ce08a",
            base_url=f"http://127.0.0.1:{port}",
            timeout_s=0.5,
        )
        started = time.monotonic()
        delivery = await NotifyGovChannel(config, "sms").send(_message("07700900123"))
        elapsed = time.monotonic() - started
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.retryable
    assert elapsed < 3.0


def test_the_local_server_checks_the_token_as_notify_does(fake: FakeNotify) -> None:
    url = f"{fake.base_url}/v2/notifications/sms"
    body = {"phone_number": "07700900123", "template_id": next(iter(fake.templates))}
    bare = httpx.post(url, json=body, timeout=5)
    assert bare.status_code == 401
    assert bare.json()["errors"][0]["error"] == "AuthError"
    stale = jwt.encode({"iss": fake.service_id, "iat": int(time.time()) - 60}, fake.secret)
    old = httpx.post(url, json=body, headers={"Authorization": f"Bearer {stale}"}, timeout=5)
    assert old.status_code == 403
    assert old.json() == {
        "status_code": 403,
        "errors": [
            {
                "error": "AuthError",
                "message": "Error: Your system clock must be accurate to within 30 seconds",
            }
        ],
    }
    other = jwt.encode({"iss": "someone-else", "iat": int(time.time())}, fake.secret)
    stranger = httpx.post(url, json=body, headers={"Authorization": f"Bearer {other}"}, timeout=5)
    assert stranger.status_code == 403


def test_statuses_and_phone_forms() -> None:
    assert delivery_for_status("delivered").status is DeliveryStatus.DELIVERED
    assert delivery_for_status("sending").status is DeliveryStatus.SENT
    assert delivery_for_status("technical-failure").retryable
    assert not delivery_for_status("permanent-failure").retryable
    forms = phone_variants("447700900123")
    assert {"447700900123", "+447700900123", "07700900123"} <= set(forms)
    assert set(phone_variants("07700 900123")) >= {"447700900123", "07700900123"}
    with pytest.raises(ValueError, match="key_name"):
        NotifyGovConfig(api_key="short", sms_template_id="x", email_template_id="y")
