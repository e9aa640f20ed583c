"""The GOV.UK Notify channel at the HTTP boundary, against a local server speaking Notify's API.

The official client makes real HTTP requests (with its JWT) to tests/notify_fake_server.py on a
loopback port; no Notify account can be reached from here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from fastapi import FastAPI
from hofsupport import wait_until
from notify_fake_server import FakeNotify, notify_api_key
from notify_support import raise_fall
from sipp_arc import SIPP, Arc

from dashboard.escalation import escalation_of, notifications_for
from hof.alertstore import AlertStore, State, make_engine, migrate
from hof.alertstore import notifications as n
from hof.alertstore.models import AttemptStatus
from hof.settings import GovNotifySettings, NotifySettings
from hof.stack.ports import free_port
from notify.callbacks import (
    INBOUND_PATH,
    RECEIPT_PATH,
    CallbackTokens,
    configure,
    reply_code,
    tokens_from_settings,
)
from notify.channels.base import Channel, DeliveryStatus, Message, Recipient
from notify.channels.device_notice import DeviceNoticeChannel
from notify.channels.notify_gov import (
    NotifyGovChannel,
    NotifyGovConfig,
    channels_from_settings,
    delivery_for_status,
    phone_variants,
)
from notify.channels.scaip import ScaipChannel, ScaipConfig
from notify.engine import Notifier
from notify.policy import load_config
from notify.web import WebContext, create_app


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


# -- the callbacks: receipts update attempts, a reply code acknowledges -------------------------

SECRET = b"test-secret-for-ack-links"


class _Served:
    """The notifier's web app (notify/web.py with the callbacks) served by uvicorn on loopback."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started, "the notifier's web app did not start"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def alert_store(tmp_path: Path) -> Iterator[AlertStore]:
    url = f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
    migrate(url)
    store = AlertStore(make_engine(url))
    yield store
    store.engine.dispose()


@pytest.fixture
def notifier_web(alert_store: AlertStore, fake: FakeNotify) -> Iterator[_Served]:
    woken: list[int] = []
    app = create_app(
        WebContext(engine=alert_store.engine, secret=SECRET, wake=lambda: woken.append(1))
    )
    configure(app, CallbackTokens(delivery=fake.callback_token, inbound=fake.inbound_token))
    served = _Served(app)
    fake.callback_url = served.url(RECEIPT_PATH)
    fake.inbound_url = served.url(INBOUND_PATH)
    app.state.woken = woken
    yield served
    served.stop()


def _fall(store: AlertStore, home: str = "HOME-0042") -> int:
    return raise_fall(store, home)


def _record(store: AlertStore, alert_id: int, address: str, ref: str | None) -> None:
    with n.transaction(store.engine) as s:
        n.record_attempt(
            s,
            alert_id=alert_id,
            job_id=None,
            level=0,
            repeat=0,
            channel="notify_sms",
            recipient_name="Sam Responder",
            recipient_address=address,
            attempt=1,
            status="sent",
            detail="accepted by GOV.UK Notify",
            provider_ref=ref,
            idempotency_key=f"{alert_id}:0:0:{address}",
            at=dt.datetime.now(dt.UTC),
        )


def _attempts(store: AlertStore, alert_id: int) -> list[n.AttemptView]:
    with n.transaction(store.engine, write=False) as s:
        return n.attempts_for(s, [alert_id]).get(alert_id, [])


@pytest.mark.parametrize(
    ("number", "status", "detail"),
    [
        ("07700900123", AttemptStatus.DELIVERED, "GOV.UK Notify: delivered"),
        ("07700900002", AttemptStatus.FAILED, "GOV.UK Notify: permanent-failure"),
    ],
)
async def test_a_delivery_receipt_updates_the_attempt(
    fake: FakeNotify,
    alert_store: AlertStore,
    notifier_web: _Served,
    number: str,
    status: AttemptStatus,
    detail: str,
) -> None:
    alert = _fall(alert_store)
    fake.receipt_delay_s = 0.5  # the engine records the attempt before Notify's receipt comes
    delivery = await NotifyGovChannel(_config(fake), "sms").send(_message(number))
    assert delivery.status is DeliveryStatus.SENT
    _record(alert_store, alert, number, delivery.provider_ref)
    assert await asyncio.to_thread(fake.wait_for_callbacks, 1)
    _url, payload, outcome = fake.callbacks[0]
    assert outcome == 200
    assert payload["id"] == delivery.provider_ref
    [shown] = _attempts(alert_store, alert)
    assert (shown.status, shown.detail) == (status, detail)
    assert (shown.delivered_at is not None) is (status is AttemptStatus.DELIVERED)


async def test_a_receipt_that_beats_the_attempts_record_still_lands(
    fake: FakeNotify, alert_store: AlertStore, notifier_web: _Served
) -> None:
    alert = _fall(alert_store)
    fake.receipt_delay_s = 0.0  # Notify's receipt comes at once
    delivery = await NotifyGovChannel(_config(fake), "sms").send(_message("07700900123"))
    await asyncio.sleep(0.4)  # and the engine is slow to record the attempt
    _record(alert_store, alert, "07700900123", delivery.provider_ref)
    assert await asyncio.to_thread(fake.wait_for_callbacks, 1)
    [shown] = _attempts(alert_store, alert)
    assert shown.status is AttemptStatus.DELIVERED


async def test_a_receipt_without_the_token_is_refused(
    fake: FakeNotify, alert_store: AlertStore, notifier_web: _Served
) -> None:
    alert = _fall(alert_store)
    _record(alert_store, alert, "07700900123", "5a8e3c52-0000-4000-8000-000000000001")
    receipt = {
        "id": "5a8e3c52-0000-4000-8000-000000000001",
        "reference": None,
        "to": "07700900123",
        "status": "delivered",
        "created_at": "2026-11-30T03:12:00.000000Z",
        "completed_at": "2026-11-30T03:12:02.000000Z",
        "sent_at": "2026-11-30T03:12:01.000000Z",
        "notification_type": "sms",
    }
    url = notifier_web.url(RECEIPT_PATH)
    async with httpx.AsyncClient(timeout=5) as client:
        bare = await client.post(url, json=receipt)
        wrong = await client.post(url, json=receipt, headers={"Authorization": "Bearer nope"})
        other = await client.post(  # the inbound token is not the receipts' token
            url, json=receipt, headers={"Authorization": f"Bearer {fake.inbound_token}"}
        )
    assert (bare.status_code, wrong.status_code, other.status_code) == (401, 401, 401)
    [shown] = _attempts(alert_store, alert)
    assert shown.status is AttemptStatus.SENT


async def test_an_sms_reply_with_the_code_acknowledges_from_that_phone_only(
    fake: FakeNotify, alert_store: AlertStore, notifier_web: _Served
) -> None:
    alert = _fall(alert_store)
    now = dt.datetime.now(dt.UTC)
    with n.transaction(alert_store.engine) as s:
        _, code = n.issue_ack(
            s,
            alert,
            "Sam Responder",
            "07700900123",
            secret=SECRET,
            now=now,
            ttl=dt.timedelta(hours=1),
        )
    # The text Notify sent says the code.
    delivery = await NotifyGovChannel(_config(fake), "sms").send(
        dataclasses.replace(_message("07700900123"), ack_code=code)
    )
    assert delivery.provider_ref is not None
    assert f"Reply {code} to acknowledge." in fake.notifications[delivery.provider_ref].body

    stranger = await asyncio.to_thread(fake.inbound_sms, "447700900999", code)
    assert stranger == 200
    assert alert_store.get(alert).alert.state is State.OPEN

    replied = await asyncio.to_thread(fake.inbound_sms, "447700900123", f"ok {code.lower()} thanks")
    assert replied == 200
    got = alert_store.get(alert)
    assert got.alert.state is State.ACKNOWLEDGED
    assert got.alert.acknowledged_by == "Sam Responder"
    assert got.history[-1].detail == {"via": "sms"}
    assert notifier_web.server.config.app.state.woken  # the engine was told at once

    again = await asyncio.to_thread(fake.inbound_sms, "447700900123", code)
    assert again == 200
    assert fake.callbacks[-1][1]["message"] == code


async def test_an_inbound_text_without_the_token_acknowledges_nothing(
    fake: FakeNotify, alert_store: AlertStore, notifier_web: _Served
) -> None:
    alert = _fall(alert_store)
    now = dt.datetime.now(dt.UTC)
    with n.transaction(alert_store.engine) as s:
        _, code = n.issue_ack(
            s, alert, "Sam", "07700900123", secret=SECRET, now=now, ttl=dt.timedelta(hours=1)
        )
    fake.inbound_token = "not-the-configured-token"
    assert await asyncio.to_thread(fake.inbound_sms, "447700900123", code) == 401
    assert alert_store.get(alert).alert.state is State.OPEN


def test_reply_codes_are_read_from_ordinary_texts() -> None:
    assert reply_code("1A") == "1A"
    assert reply_code(" ok 1a thanks") == "1A"
    assert reply_code("12 b") == "12B"
    assert reply_code("on my way") is None
    assert reply_code("A1") is None
    assert reply_code("call 07700900123") is None
    with pytest.raises(ValueError, match="10 characters"):
        CallbackTokens(delivery="short", inbound="long-enough-token")


def test_settings_turn_the_channels_and_callbacks_on() -> None:
    assert channels_from_settings(GovNotifySettings()) == {}
    key = notify_api_key(
        "live", "26785a09-ab16-4eb0-8407-a37497a57506", "3d844edf-8d35-48ac-975b-e847b4f122b0"
    )
    conf = GovNotifySettings(api_key=key, sms_template_id="f33517ff-2a88-4f6e-b855-c550268ce08a")
    assert set(channels_from_settings(conf)) == {"notify_sms"}
    assert tokens_from_settings(conf) is None  # callbacks stay off without both tokens
    both = conf.model_copy(
        update={"callback_token": "receipts-token-123", "inbound_token": "inbound-token-123"}
    )
    tokens = tokens_from_settings(GovNotifySettings.model_validate(both.model_dump()))
    assert tokens == CallbackTokens("receipts-token-123", "inbound-token-123")


# -- the loop: the notifier's engine with these channels, end to end on loopback --------------

LOOP_POLICY = """
[people.sam]
name = "Sam Responder"
phone = "07700900123"

[centres.arc]
name = "Test ARC"
address = "sip:arc@127.0.0.1:{arc_port}"

[[policies]]
name = "loop"
kinds = ["fall"]
[[policies.levels]]
wait_s = 0
to = [{{ person = "sam", via = ["notify_sms"] }}]
[[policies.levels]]
wait_s = {wait}
to = [{{ centre = "arc" }}]
"""


@pytest.mark.skipif(SIPP is None, reason="sipp (Debian's sip-tester) is not installed")
async def test_a_text_reply_stops_the_call_to_the_arc_and_screens_say_so(
    fake: FakeNotify, alert_store: AlertStore, notifier_web: _Served, tmp_path: Path
) -> None:
    """Two falls: Sam answers one by text and it stops there; nobody answers the other and it
    reaches the alarm receiving centre (SIPp) over SCAIP. The dashboard shows what was sent."""
    arc = Arc(tmp_path, 1)
    policy = tmp_path / "notify.toml"
    policy.write_text(LOOP_POLICY.format(arc_port=arc.port, wait=2.0))
    settings = NotifySettings(poll_s=0.1, retry_backoff_s=0.1)
    notices: list[tuple[str, bytes]] = []

    async def publish(topic: str, body: bytes) -> None:  # MQTT's part is tested in the e2e
        notices.append((topic, body))

    channels: dict[str, Channel] = {
        "device_notice": DeviceNoticeChannel(publish),
        "notify_sms": NotifyGovChannel(_config(fake), "sms"),
        "scaip": ScaipChannel(ScaipConfig(arc_host="127.0.0.1", arc_port=arc.port)),
    }
    notifier = Notifier(
        settings,
        load_config(policy),
        channels,
        alert_store.engine,
        ack_secret=SECRET,
        public_url=notifier_web.url(""),
    )
    stop = asyncio.Event()
    engine_task = asyncio.create_task(notifier.run(stop))
    try:
        answered = _fall(alert_store, "HOME-A")
        unanswered = _fall(alert_store, "HOME-B")
        texts: list[Any] = []

        def texted() -> bool:
            texts[:] = [t for t in fake.notifications.values() if t.type == "sms"]
            return len(texts) >= 2

        assert await asyncio.to_thread(wait_until, texted, 10)
        [to_a] = [t for t in texts if "HOME-A" in t.body]
        code = re.search(r"Reply (\w+) to acknowledge", to_a.body)
        assert code, to_a.body
        assert await asyncio.to_thread(fake.inbound_sms, "447700900123", code.group(1)) == 200
        assert alert_store.get(answered).alert.state is State.ACKNOWLEDGED
        assert await asyncio.to_thread(arc.wait) == 0, arc.errors()  # one SCAIP alarm, accepted
        assert "<lte>HOME-B</lte>" in arc.messages()
        assert "<lte>HOME-A</lte>" not in arc.messages()

        def settled() -> bool:
            notes = notifications_for(alert_store.engine, [answered, unanswered])
            sent = [a for v in notes.values() for a in v.attempts if a.channel != "device_notice"]
            return len(sent) == 3 and all(a.status.value != "sent" for a in sent)

        assert await asyncio.to_thread(wait_until, settled, 10)
    finally:
        stop.set()
        await asyncio.wait_for(engine_task, 10)
        for channel in channels.values():
            await channel.aclose()
        arc.stop()
    notes = notifications_for(alert_store.engine, [answered, unanswered])
    a = escalation_of(alert_store.get(answered).alert, notes.get(answered))
    b = escalation_of(alert_store.get(unanswered).alert, notes.get(unanswered))
    assert a is not None
    assert b is not None
    assert a.text == (
        "Acknowledged by Sam Responder via an SMS reply. Told Sam Responder; "
        "the tenant's device was told"
    )
    assert [(x.channel, x.status) for x in a.attempts] == [
        ("notify_sms", "delivered"),
        ("device_notice", "sent"),
    ]
    assert [topic for topic, _ in notices] == ["hof/v1/HOME-A/pendant-1/notice"]
    assert b.text == "Told Sam Responder, Test ARC"
    assert [(x.channel, x.status) for x in b.attempts] == [
        ("notify_sms", "delivered"),
        ("scaip", "delivered"),
    ]
