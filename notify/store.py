"""The notifier's busiest store statements, in SQLAlchemy Core, each compiled once.

The same rows as `hof.alertstore.notifications` writes, made for many at a time: on the way
to a burst's first POSTs, `schedule` there compiled a fresh multi-VALUES INSERT for every
alert (about 8 ms of CPU each; SQLAlchemy does not cache a statement whose VALUES carry the
rows), and the ORM's UPDATE and flush around each attempt row and finish cost a few ms more
apiece. Here one cached INSERT takes every new job of a round as an executemany, and attempt
rows and finishes are plain INSERTs and UPDATEs on the tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hof.alertstore import notifications as n
from hof.alertstore.models import AttemptStatus, JobPurpose, JobState, NotifyAttempt, NotifyJob
from notify.channels.base import Delivery, Recipient

__all__ = [
    "Attempt",
    "attempt_row",
    "finish",
    "record_attempts",
    "schedule_claiming",
    "schedule_many",
]

JOBS = cast(sa.Table, NotifyJob.__table__)
ATTEMPTS = cast(sa.Table, NotifyAttempt.__table__)
STEP_KEY = ["alert_id", "purpose", "level", "repeat"]

Attempt = dict[str, object]  # a notify_attempt row's columns, as `attempt_row` makes them


def _schedule_statement(dialect: str) -> sa.Insert:
    """INSERT ... ON CONFLICT (the step) DO NOTHING RETURNING the new job, for `dialect`.

    Built once for each dialect: building it and its cache key was a millisecond of CPU a
    round, more than running it."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert(JOBS)
        .on_conflict_do_nothing(index_elements=STEP_KEY)
        .returning(
            JOBS.c.id,
            JOBS.c.alert_id,
            JOBS.c.purpose,
            JOBS.c.level,
            JOBS.c.repeat,
            JOBS.c.due_at,
            JOBS.c.state,
        )
    )


_SCHEDULE = {name: _schedule_statement(name) for name in ("sqlite", "postgresql")}


def _insert_steps(session: Session, rows: list[dict[str, object]]) -> list[sa.Row[Any]]:
    """Insert the jobs not yet created; the rows of those inserted (none for a step that
    existed, in any state, as `notifications.schedule` leaves it)."""
    if not rows:
        return []
    connection = session.connection()
    # An executemany with RETURNING: SQLAlchemy batches it into few statements
    # ("insertmanyvalues") and returns a row for each job inserted, none for one that existed.
    dialect = "postgresql" if connection.dialect.name == "postgresql" else "sqlite"
    return list(connection.execute(_SCHEDULE[dialect], rows))


def _job_row(alert_id: int, step: n.Step, now: dt.datetime) -> dict[str, object]:
    return {
        "alert_id": alert_id,
        "purpose": step.purpose.value,
        "level": step.level,
        "repeat": step.repeat,
        "due_at": step.due_at,
        "state": JobState.PENDING.value,
        "owner": None,
        "lease_until": None,
        "created_at": now,
    }


def schedule_many(
    session: Session, plans: Iterable[tuple[int, Sequence[n.Step]]], now: dt.datetime
) -> set[int]:
    """Create the jobs not yet created, for many alerts at once (a step that exists, in any
    state, is left alone, as `notifications.schedule` does); the alerts that got new ones."""
    rows = [_job_row(alert_id, step, now) for alert_id, steps in plans for step in steps]
    return {row.alert_id for row in _insert_steps(session, rows)}


def schedule_claiming(
    session: Session,
    plans: Iterable[tuple[int, Sequence[n.Step]]],
    now: dt.datetime,
    owner: str,
    until: dt.datetime,
) -> tuple[set[int], list[n.ClaimedJob]]:
    """`schedule_many`, with every new job that is due now created already claimed by `owner`
    under a lease to `until`: one statement where a schedule and then a claim took three.

    Exactly once as a claim is: a step is inserted by one notifier only (the unique step
    key), and a notifier that inserted it claimed and dies leaves it to be taken again when
    its lease runs out, like any claim. A step another notifier created first is left alone
    (its creator claims it). The alerts that got new jobs, and the jobs claimed."""
    rows = []
    for alert_id, steps in plans:
        for step in steps:
            row = _job_row(alert_id, step, now)
            if step.due_at <= now:
                row.update(state=JobState.CLAIMED.value, owner=owner, lease_until=until)
            rows.append(row)
    created: set[int] = set()
    claimed: list[n.ClaimedJob] = []
    for new in _insert_steps(session, rows):
        created.add(new.alert_id)
        if JobState(new.state) is JobState.CLAIMED:
            purpose = JobPurpose(new.purpose)
            job = n.ClaimedJob(
                new.id, new.alert_id, purpose, new.level, new.repeat, new.due_at, until
            )
            claimed.append(job)
    claimed.sort(key=lambda job: (job.due_at, job.id))
    return created, claimed


def attempt_row(
    job: n.ClaimedJob,
    repeat: int,
    channel: str,
    recipient: Recipient,
    number: int,
    outcome: Delivery,
    key: str,
    at: dt.datetime,
) -> Attempt:
    """The row `notifications.record_attempt` would write for this attempt, clipped alike."""
    status = AttemptStatus(outcome.status.value)
    return {
        "alert_id": job.alert_id,
        "job_id": job.id,
        "level": job.level,
        "repeat": repeat,
        "channel": channel[:32],
        "recipient_name": recipient.name[:200],
        "recipient_address": recipient.address[:500],
        "attempt": number,
        "status": status.value,
        "detail": outcome.detail[:1000],
        "provider_ref": outcome.provider_ref[:200] if outcome.provider_ref else None,
        "idempotency_key": key[:200],
        "at": at,
        "delivered_at": at if status is AttemptStatus.DELIVERED else None,
    }


def record_attempts(session: Session, rows: Sequence[Attempt]) -> None:
    if rows:
        session.connection().execute(_RECORD, list(rows))


_RECORD = sa.insert(ATTEMPTS)


def finish(
    session: Session,
    job_id: int,
    owner: str,
    now: dt.datetime,
    *,
    state: JobState,
    note: str | None,
) -> bool:
    """Mark a claimed job done (or cancelled); False when this notifier no longer held it."""
    params = {
        "b_job": job_id,
        "b_owner": owner,
        "b_state": state.value,
        "b_now": now,
        "b_note": note,
    }
    return bool(session.connection().execute(_FINISH, params).rowcount)


# Built once: making the statement and its cache key was most of a finish's CPU.
_FINISH = (
    sa.update(JOBS)
    .where(
        JOBS.c.id == sa.bindparam("b_job"),
        JOBS.c.owner == sa.bindparam("b_owner"),
        JOBS.c.state == JobState.CLAIMED.value,
    )
    .values(
        state=sa.bindparam("b_state"),
        finished_at=sa.bindparam("b_now"),
        lease_until=None,
        note=sa.bindparam("b_note"),
    )
)
