"""What screens say about escalation is what the notifier recorded, never a ladder from the clock.

Before issue 10 the dashboard computed "With team lead" from the time since an alert was raised
although nobody had been contacted; these tests pin the opposite: only recorded attempts (and
the alert's own acknowledgement, with the way it came) are shown.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from dashboard.escalation import Notifications, escalation_of, notifications_for
from hof.alertstore import (
    AlertStore,
    AlertView,
    Audience,
    Category,
    Severity,
    State,
    make_engine,
    migrate,
)
from hof.alertstore import notifications as n
from hof.alertstore.models import AttemptStatus
from hof.alertstore.records import CaseClocks

T0 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def _alert(**changes: object) -> AlertView:
    clocks = CaseClocks(*([None] * 10))
    base = AlertView(
        id=1, home="H", room=None, rule="fall", rule_version=1, category=Category.FALL,
        audience=Audience.RESPONDER, severity=Severity.EMERGENCY, state=State.OPEN, outcome=None,
        first_raised_at=T0, last_seen_at=T0, evidence={}, acknowledged_by=None,
        acknowledged_at=None, assigned_to=None, assignee_kind=None, assigned_by=None,
        assigned_at=None, resolved_by=None, resolved_at=None, reopen_count=0, clocks=clocks,
        overdue=(),
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _attempt(
    channel: str, name: str, status: str, seconds: float, attempt: int = 1
) -> n.AttemptView:
    return n.AttemptView(
        id=int(seconds * 10) + attempt,
        alert_id=1,
        level=0,
        repeat=0,
        channel=channel,
        recipient_name=name,
        recipient_address=f"{name.lower().replace(' ', '.')}@example.org",
        attempt=attempt,
        status=AttemptStatus(status),
        detail={"sent": "HTTP 200", "delivered": "GOV.UK Notify: delivered"}.get(
            status, "HTTP 503"
        ),
        provider_ref=None,
        at=T0 + dt.timedelta(seconds=seconds),
        delivered_at=T0 + dt.timedelta(seconds=seconds + 2) if status == "delivered" else None,
    )


def test_an_alert_nobody_was_told_of_says_so_however_long_it_waits() -> None:
    # The old ladder said "With on-duty responder" at once and "With team lead" after 2 minutes.
    esc = escalation_of(_alert(), None)
    assert esc is not None
    assert esc.text == "Nobody contacted yet"
    assert esc.reached == ()
    assert esc.attempts == ()
    assert not esc.stopped


def test_the_attempts_made_are_listed_with_their_results() -> None:
    notes = Notifications(
        (
            _attempt("webhook", "Estate webhook", "sent", 0.05),
            _attempt("notify_sms", "Sam Responder", "delivered", 0.1),
            _attempt("email", "Team lead", "failed", 60),
            _attempt("email", "Team lead", "failed", 61, attempt=2),
            _attempt("scaip", "Alarm receiving centre", "delivered", 180),
        )
    )
    esc = escalation_of(_alert(), notes)
    assert esc is not None
    assert esc.reached == ("Estate webhook", "Sam Responder", "Alarm receiving centre")
    assert esc.text == (
        "Told Estate webhook, Sam Responder, Alarm receiving centre; could not reach Team lead"
    )
    sms = esc.attempts[1]
    assert (sms.channel, sms.channel_words, sms.recipient, sms.status) == (
        "notify_sms",
        "text message",
        "Sam Responder",
        "delivered",
    )
    assert sms.delivered_at == T0 + dt.timedelta(seconds=2.1)
    assert esc.attempts[3].attempt == 2
    assert esc.attempts[4].channel_words == "alarm receiving centre (SCAIP)"


def test_the_tenants_device_is_told_not_escalated_to() -> None:
    notes = Notifications(
        (
            _attempt("notify_sms", "Sam Responder", "delivered", 0.1),
            _attempt("device_notice", "pendant-1", "sent", 40),
        ),
        "link",
    )
    acked = _alert(state=State.ACKNOWLEDGED, acknowledged_by="Sam Responder", acknowledged_at=T0)
    esc = escalation_of(acked, notes)
    assert esc is not None
    assert esc.reached == ("Sam Responder",)
    assert esc.text == (
        "Acknowledged by Sam Responder via the link in a message. Told Sam Responder; "
        "the tenant's device was told"
    )


def test_acknowledgement_says_who_and_from_which_channel() -> None:
    acked = _alert(
        state=State.ACKNOWLEDGED,
        acknowledged_by="Sam Responder",
        acknowledged_at=T0 + dt.timedelta(seconds=40),
    )
    notes = Notifications((_attempt("notify_sms", "Sam Responder", "delivered", 0.1),), "sms")
    esc = escalation_of(acked, notes)
    assert esc is not None
    assert esc.stopped
    assert (esc.acknowledged_by, esc.acknowledged_via) == ("Sam Responder", "sms")
    assert esc.text == "Acknowledged by Sam Responder via an SMS reply. Told Sam Responder"
    on_screen = escalation_of(
        dataclasses.replace(acked, acknowledged_by="r@example.org"), Notifications((), "dashboard")
    )
    assert on_screen is not None
    assert on_screen.text == "Acknowledged by r@example.org via the dashboard. Nobody contacted yet"


def test_resolved_alerts_and_officer_cases() -> None:
    done = _alert(state=State.RESOLVED, resolved_at=T0 + dt.timedelta(seconds=30))
    ended = escalation_of(done, None)
    assert ended is not None
    assert (ended.stopped, ended.text) == (True, "Resolved")
    told = escalation_of(done, Notifications((_attempt("webhook", "Hook", "sent", 0.1),)))
    assert told is not None
    assert told.text == "Resolved; told Hook"
    damp = _alert(audience=Audience.HOUSING_OFFICER, category=Category.DAMP_MOULD)
    assert escalation_of(damp, None) is None


@pytest.fixture
def store(tmp_path: Path) -> AlertStore:
    url = f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
    migrate(url)
    return AlertStore(make_engine(url))


def test_notifications_are_read_from_the_store(store: AlertStore) -> None:
    raised = store.raise_or_update(
        home="H-1",
        rule="fall",
        rule_version=1,
        category="fall",
        audience="responder",
        severity="emergency",
        summary="Fall detected by wear-1.",
    ).alert.id
    quiet = store.raise_or_update(
        home="H-2",
        rule="fall",
        rule_version=1,
        category="fall",
        audience="responder",
        severity="emergency",
        summary="Fall detected by wear-2.",
    ).alert.id
    now = dt.datetime.now(dt.UTC)
    with n.transaction(store.engine) as s:
        n.record_attempt(
            s,
            alert_id=raised,
            job_id=None,
            level=0,
            repeat=0,
            channel="notify_sms",
            recipient_name="Sam",
            recipient_address="07700900123",
            attempt=1,
            status="sent",
            detail="accepted by GOV.UK Notify",
            provider_ref="ref-1",
            idempotency_key="k1",
            at=now,
        )
        _, code = n.issue_ack(
            s, raised, "Sam", "07700900123", secret=b"s", now=now, ttl=dt.timedelta(hours=1)
        )
    with n.transaction(store.engine) as s:
        assert n.acknowledge_by_code(s, "07700900123", code, now, via="sms").ok
    notes = notifications_for(store.engine, [raised, quiet])
    assert set(notes) == {raised}
    assert notes[raised].acknowledged_via == "sms"
    assert [a.channel for a in notes[raised].attempts] == ["notify_sms"]
    store.acknowledge(quiet, by="r@example.org")
    assert notifications_for(store.engine, [quiet])[quiet].acknowledged_via == "dashboard"
    assert notifications_for(store.engine, []) == {}
    store.engine.dispose()
