"""A raised alert's first-level claim below SQLAlchemy (notify/store.py `heard_rows`,
`claim_new_direct`) reads and writes what the models do, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict

import sqlalchemy as sa
from alertstore.alertstore_fixtures import *  # noqa: F403  (the store on each backend)
from hofsupport import fall_request

from hof.alertstore import AlertStore, direct
from hof.alertstore import notifications as n
from hof.alertstore.models import Alert, JobPurpose, JobState, NotifyJob
from hof.registry.homes import HomeIn, upsert_homes
from notify.store import claim_new_direct, heard_rows

NOW = dt.datetime(2026, 3, 29, 0, 59, 59, 500000, tzinfo=dt.UTC)


def _steps(now: dt.datetime) -> list[n.Step]:
    return [
        n.Step(JobPurpose.ESCALATE, 0, 0, now),
        n.Step(JobPurpose.ESCALATE, 1, 0, now + dt.timedelta(seconds=60)),
        n.Step(JobPurpose.ESCALATE, 2, 0, now + dt.timedelta(seconds=180)),
    ]


def test_heard_rows_read_what_the_models_read(store: AlertStore) -> None:
    upsert_homes(
        store.engine,
        [HomeIn(id="H-1", reference="R-1", address="1 Road", patch="north", telecare=True)],
    )
    registered = store.raise_or_update(**asdict(fall_request("H-1", 1764000000, "pendant-1")))
    unknown = store.raise_events([fall_request("H-2", 1764000001, "wear-1")])[0]
    assert unknown is not None
    assert not isinstance(unknown, Exception)
    ids = [registered.alert.id, unknown.alert.id, 999_999]
    with direct.write(store.engine) as tx:
        rows = heard_rows(tx, ids)
    assert [r.id for r in rows] == ids[:2]  # one that does not exist is not there
    with store.engine.connect() as conn:
        models = {a.id: a for a in sa.orm.Session(conn).scalars(sa.select(Alert))}
    for row in rows:
        model = models[row.id]
        assert (row.home, row.room, row.category, row.severity, row.state) == (
            model.home,
            model.room,
            model.category,
            model.severity,
            model.state,
        )
        assert row.evidence == model.evidence
        assert row.first_raised_at == model.first_raised_at
        assert row.first_raised_at.tzinfo is not None
        assert (row.acknowledged_by, row.acknowledged_at, row.reopen_count) == (None, None, 0)
    assert (rows[0].registered, rows[0].patch, rows[0].telecare) == ("H-1", "north", True)
    assert (rows[1].registered, rows[1].estate, rows[1].telecare) == (None, None, None)


def test_a_new_alerts_due_jobs_are_made_claimed_and_the_rest_pending(store: AlertStore) -> None:
    mine = store.raise_or_update(**asdict(fall_request("H-1", 1764000000, "pendant-1"))).alert.id
    theirs = store.raise_or_update(**asdict(fall_request("H-2", 1764000000, "pendant-1"))).alert.id
    until = NOW + dt.timedelta(seconds=60)
    with direct.write(store.engine) as tx:
        claimed = claim_new_direct(tx, [(mine, _steps(NOW))], NOW, "notifier-a", until)
    assert [(j.alert_id, j.level, j.due_at, j.lease_until) for j in claimed] == [
        (mine, 0, NOW, until)
    ]
    # The same jobs through the models, for the other alert: the rows must be alike.
    with n.transaction(store.engine) as s:
        n.schedule(s, theirs, _steps(NOW), NOW)
        s.execute(
            sa.update(NotifyJob)
            .where(NotifyJob.alert_id == theirs, NotifyJob.level == 0)
            .values(state=JobState.CLAIMED, owner="notifier-a", lease_until=until)
        )

    def stored(alert_id: int) -> list[tuple[object, ...]]:
        with n.transaction(store.engine, write=False) as s:
            jobs = s.scalars(
                sa.select(NotifyJob).where(NotifyJob.alert_id == alert_id).order_by(NotifyJob.level)
            )
            return [
                (
                    j.purpose,
                    j.level,
                    j.repeat,
                    j.due_at,
                    j.state,
                    j.owner,
                    j.lease_until,
                    j.created_at,
                )
                for j in jobs
            ]

    assert stored(mine) == stored(theirs)
    assert [s[4] for s in stored(mine)] == [JobState.CLAIMED, JobState.PENDING, JobState.PENDING]
    # Made once: another notifier (or a second hearing) claims nothing and changes nothing.
    with direct.write(store.engine) as tx:
        again = claim_new_direct(tx, [(mine, _steps(NOW))], NOW, "notifier-b", until)
    assert again == []
    assert stored(mine) == stored(theirs)
