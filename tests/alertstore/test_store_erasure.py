"""An alert's history is append-only except within an erasure or a case's expiry, which name
the alerts they release (migration 0004), and the audit log except for the retention job's
expiry (0005); consent decisions and the current consent. On SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alertstore_fixtures import *  # noqa: F403  (pytest fixtures, by name)

from hof.alertstore import AlertStore, make_engine
from hof.alertstore.models import AlertHistory
from hof.consent import Stream
from hof.errors import HofError
from hof.registry import AuditEvent, HomeIn, upsert_homes
from hof.registry.consent import (
    ConsentIn,
    consent_history,
    current_consents,
    pending_purges,
    record_consents,
)
from hof.rights.operations import expire_cases
from hof.rights.records import Actor, audit, erase_rows, expire_audit


def _fall(store: AlertStore, home: str) -> int:
    return store.raise_or_update(
        home=home,
        rule="fall",
        rule_version=1,
        category="fall",
        audience="responder",
        severity="emergency",
        summary="Fall.",
    ).alert.id


def test_only_an_erasure_deletes_history_and_only_its_homes(db_url: str) -> None:
    store = AlertStore(make_engine(db_url))
    try:
        upsert_homes(store.engine, [HomeIn(id="H-1", reference="R-1", address="1 Road")])
        _fall(store, "H-1")
        kept = _fall(store, "H-2")
        refused = pytest.raises(sa.exc.DatabaseError, match="append-only")
        with refused, store.engine.begin() as conn:
            conn.execute(sa.delete(AlertHistory).where(AlertHistory.alert_id == kept))
        assert erase_rows(store.engine, "H-1") == {
            "alert_history": 1,
            "alerts": 1,
            "home_condition": 1,
            "home": 1,
        }
        assert erase_rows(store.engine, "H-1") == {}
        with store.engine.connect() as conn:
            left = conn.execute(sa.select(AlertHistory.alert_id)).scalars().all()
            released = conn.execute(sa.text("SELECT count(*) FROM history_release")).scalar()
        assert (left, released) == ([kept], 0)
    finally:
        store.close()


def test_closed_cases_past_their_period_expire_with_their_history(db_url: str) -> None:
    store = AlertStore(make_engine(db_url))
    try:
        old = _fall(store, "H-3")
        store.resolve(old, outcome="false_alarm", by="responder@example.org")
        still_open = _fall(store, "H-4")
        later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
        assert expire_cases(store.engine, later) == {"alert_history": 2, "alerts": 1}
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(AlertHistory.alert_id)).scalars().all() == [still_open]
    finally:
        store.close()


def test_consent_history_and_the_current_decision_on_both_backends(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upsert_homes(engine, [HomeIn(id="H-5", reference="R-5", address="5 Road")])
        decide = [
            ConsentIn(home="H-5", stream=Stream.ACTIVITY, granted=True),
            ConsentIn(home="H-5", stream=Stream.TELECARE, granted=True),
        ]
        assert record_consents(engine, decide, recorded_by="a@example.org") == ["H-5"]
        assert record_consents(engine, decide, recorded_by="a@example.org") == []  # no change
        withdraw = ConsentIn(home="H-5", stream=Stream.ACTIVITY, granted=False)
        record_consents(engine, [withdraw], recorded_by="b@example.org")
        current = current_consents(engine)["H-5"]
        assert {s: c.granted for s, c in current.items()} == {
            Stream.ACTIVITY: False,
            Stream.TELECARE: True,
        }
        assert [c.stream for c in pending_purges(engine)] == ["activity"]
        assert len(consent_history(engine, "H-5")) == 3
        with pytest.raises(HofError, match="not in the registry: H-6"):
            record_consents(
                engine,
                [ConsentIn(home="H-6", stream=Stream.ACTIVITY, granted=True)],
                recorded_by="x",
            )
    finally:
        engine.dispose()


def test_the_audit_log_expires_only_through_the_retention_job(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        now = dt.datetime.now(dt.UTC)
        who = Actor("admin@example.org")
        for days in (3000, 2500, 10):
            audit(engine, who, "view_home", "H-7", {}, at=now - dt.timedelta(days=days))
        refused = pytest.raises(sa.exc.DatabaseError, match="append-only")
        with refused, engine.begin() as conn:
            conn.execute(sa.delete(AuditEvent))
        assert expire_audit(engine, now - dt.timedelta(days=2196)) == 2
        assert expire_audit(engine, now - dt.timedelta(days=2196)) == 0
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(AuditEvent)).scalar() == 1
            assert conn.execute(sa.text("SELECT count(*) FROM audit_release")).scalar() == 0
        with refused, engine.begin() as conn:  # and append-only again afterwards
            conn.execute(sa.delete(AuditEvent))
    finally:
        engine.dispose()
