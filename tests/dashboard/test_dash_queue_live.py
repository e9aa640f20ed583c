"""The live hub on its own: who each change is for, and a slow subscriber resyncs."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from pathlib import Path

import httpx
import pytest
from dash_support import make_estate

from dashboard.access import Principal, Role
from dashboard.live import SUBSCRIBER_QUEUE, Change, Hub, read_attempts
from hof.alertstore import AlertStore, make_engine, migrate
from hof.alertstore import notifications as n
from hof.stack import Stack


def _who(role: Role, *patches: str) -> Principal:
    return Principal(1, "x@example.org", "X", role, patches, "api")


def _change(patch: str | None, category: str = "fall", audience: str = "responder") -> Change:
    return Change(1, "H1", patch, "raised", category, audience, "emergency", "open")


def test_changes_reach_only_those_who_may_see_them() -> None:
    north, south = _who(Role.RESPONDER, "North"), _who(Role.RESPONDER, "South")
    officer, admin = _who(Role.HOUSING_OFFICER, "North"), _who(Role.ADMIN, "*")
    fall = _change("North")
    assert fall.visible_to(north)
    assert not fall.visible_to(south)
    assert not fall.visible_to(officer)  # a fall is health data
    assert not fall.visible_to(admin)  # an admin is no carer (test_dash_carers.py)
    damp = _change("North", "damp_mould", "housing_officer")
    assert damp.visible_to(officer)
    assert not damp.visible_to(north)  # not the responder's audience
    unregistered = _change(None, "device_offline")
    assert not unregistered.visible_to(north)
    assert unregistered.visible_to(admin)
    assert not fall.visible_to(_who(Role.RESPONDER))  # no patch, nothing


def test_a_slow_subscriber_gets_a_resync_instead_of_a_backlog() -> None:
    async def run() -> None:
        hub = Hub()
        slow, quick = hub.subscribe(), hub.subscribe()
        for _ in range(SUBSCRIBER_QUEUE + 5):
            hub.publish(_change("North"))
            while not quick.empty():
                quick.get_nowait()
        # The overflow threw the backlog away: a resync marker, then only what came after.
        assert slow.qsize() <= 5
        assert slow.get_nowait() is None
        assert all(slow.get_nowait() is not None for _ in range(slow.qsize()))
        assert quick.empty()
        hub.unsubscribe(slow)
        hub.publish(_change("North"))
        assert slow.empty()

    asyncio.run(run())


def test_open_streams_end_cleanly_when_the_dashboard_stops(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    made = make_estate(stack, tmp_path_factory.mktemp("dash-live-stop"))
    estate = next(made)
    try:
        token = estate.accounts["responder"].token
        ready = threading.Event()
        ended: list[str] = []

        def listen() -> None:
            with httpx.stream(
                "GET",
                estate.url + "/api/v1/alerts/stream",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            ) as response:
                for line in response.iter_lines():
                    if line.startswith("event: ready"):
                        ready.set()
            ended.append("clean")  # the server closed the stream properly: no error raised

        readers = [threading.Thread(target=listen, daemon=True) for _ in range(3)]
        for reader in readers:
            reader.start()
        assert ready.wait(10)
        time.sleep(0.5)
        proc = estate.process.proc
        assert proc is not None
        started = time.monotonic()
        proc.terminate()
        # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught.
        assert proc.wait(15) in (0, -15), estate.process.log_tail()
        # Open streams do not hold the shutdown for uvicorn's whole graceful timeout (10 s).
        assert time.monotonic() - started < 5
        for reader in readers:
            reader.join(5)
        assert ended == ["clean"] * 3
    finally:
        next(made, None)


def test_sends_and_receipts_become_changes_of_their_alert(tmp_path: Path) -> None:
    """The notifier's attempts change no alert: the hub follows them itself, so an open queue
    hears of a send and of its receipt without polling its rows."""
    url = f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    store = AlertStore(engine)
    alert = store.raise_or_update(
        home="H-1",
        rule="fall",
        rule_version=1,
        category="fall",
        audience="responder",
        severity="emergency",
        summary="Fall detected by tc-1.",
    ).alert.id
    at = dt.datetime.now(dt.UTC)

    def attempt(status: str, ref: str) -> None:
        with n.transaction(engine) as s:
            n.record_attempt(
                s,
                alert_id=alert,
                job_id=None,
                level=0,
                repeat=0,
                channel="notify_sms",
                recipient_name="Sam",
                recipient_address="07700900123",
                attempt=1,
                status=status,
                detail="",
                provider_ref=ref,
                idempotency_key=ref,
                at=at,
            )

    attempt("sent", "before")  # sent before the dashboard started: its receipt is news too
    hub = Hub()
    assert read_attempts(engine, hub) == []  # the first call takes its bearings
    attempt("sent", "r1")
    attempt("failed", "r2")
    (change,) = read_attempts(engine, hub)
    assert (change.alert, change.action, change.category) == (alert, "attempt", "fall")
    assert read_attempts(engine, hub) == [], "nothing new, nothing said"
    with n.transaction(engine) as s:
        assert n.record_receipt(s, "r1", "delivered", at) == 1
    assert [c.alert for c in read_attempts(engine, hub)] == [alert], "the receipt came"
    assert read_attempts(engine, hub) == []
    with n.transaction(engine) as s:
        n.record_receipt(s, "before", "failed", at, "no such number")
    assert [c.alert for c in read_attempts(engine, hub)] == [alert]
    assert not hub.unsettled, "receipts are final: nothing left to watch"
    store.close()
    engine.dispose()
