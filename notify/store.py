"""The notifier's busiest store statements, in SQLAlchemy Core, each compiled once.

The same rows as `hof.alertstore.notifications` writes, made for many at a time: on the way
to a burst's first POSTs, `schedule` there compiled a fresh multi-VALUES INSERT for every
alert (about 8 ms of CPU each; SQLAlchemy does not cache a statement whose VALUES carry the
rows), and the ORM's UPDATE and flush around each attempt row and finish cost a few ms more
apiece. Here one cached INSERT takes every new job of a round as an executemany, and attempt
rows and finishes are plain INSERTs and UPDATEs on the tables.

A raised alert's first level is claimed below SQLAlchemy (`heard_rows`, `claim_new_direct`,
through `hof.alertstore.direct`): two statements on the way from a fall to the first person
told, where SQLAlchemy's Session and Core cost more CPU than the database did.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hof.alertstore import notifications as n
from hof.alertstore.direct import Tx
from hof.alertstore.models import AttemptStatus, JobPurpose, JobState, NotifyAttempt, NotifyJob
from hof.alertstore.vocabulary import Category, Severity, State
from notify.channels.base import Delivery, Recipient

__all__ = [
    "Attempt",
    "HeardRow",
    "attempt_row",
    "claim_new_direct",
    "finish",
    "heard_rows",
    "record_attempts",
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


class HeardRow(NamedTuple):
    """A raised alert as its first level's claim reads it, with its home's registry row."""

    id: int
    home: str
    room: str | None
    category: Category
    severity: Severity
    state: State
    evidence: dict[str, Any]
    first_raised_at: dt.datetime
    acknowledged_by: str | None
    acknowledged_at: dt.datetime | None
    reopen_count: int
    registered: str | None  # the home's id when the registry knows it
    estate: str | None
    patch: str | None
    telecare: bool | None


_HEARD_SQL = (
    "SELECT alert.id, alert.home, alert.room, alert.category, alert.severity, alert.state,"
    " alert.evidence, alert.first_raised_at, alert.acknowledged_by, alert.acknowledged_at,"
    " alert.reopen_count, home.id, home.estate, home.patch, home.telecare"
    " FROM alert LEFT OUTER JOIN home ON home.id = alert.home"
    " WHERE alert.id IN ({ids}) ORDER BY alert.id"
)


def heard_rows(tx: Tx, ids: Sequence[int]) -> list[HeardRow]:
    """The alerts `ids` (those that exist) and their homes, in id order."""
    if not ids:
        return []
    rows = tx.rows(_HEARD_SQL.format(ids=tx.marks(len(ids))), list(ids))
    return [
        HeardRow(
            int(r[0]),
            r[1],
            r[2],
            Category(r[3]),
            Severity(r[4]),
            State(r[5]),
            tx.read_json(r[6]),
            _aware(tx.read_time(r[7])),
            r[8],
            tx.read_time(r[9]),
            int(r[10]),
            r[11],
            r[12],
            r[13],
            None if r[14] is None else bool(r[14]),
        )
        for r in rows
    ]


def _aware(value: dt.datetime | None) -> dt.datetime:
    assert value is not None
    return value


_CLAIM_ROWS = 500  # jobs a statement inserts at most (SQLite takes 32,766 parameters)
_JOB_COLUMNS = (
    "alert_id",
    "purpose",
    "level",
    "repeat",
    "due_at",
    "state",
    "owner",
    "lease_until",
    "created_at",
)
_JOB_TIMES = frozenset({"due_at", "lease_until", "created_at"})
_CLAIM_SQL = (
    f"INSERT INTO notify_job ({', '.join(_JOB_COLUMNS)}) VALUES {{values}}"
    " ON CONFLICT (alert_id, purpose, level, repeat) DO NOTHING"
    " RETURNING id, alert_id, purpose, level, repeat, due_at, state"
)


def claim_new_direct(
    tx: Tx,
    plans: Iterable[tuple[int, Sequence[n.Step]]],
    now: dt.datetime,
    owner: str,
    until: dt.datetime,
) -> list[n.ClaimedJob]:
    """The jobs of new alerts not yet created (`schedule_many`'s rows), each that is due now
    created already claimed by `owner` under a lease to `until`: one statement where a
    schedule and then a claim took three. The jobs claimed, sorted by when they are due.

    Exactly once as a claim is: a step is inserted by one notifier only (the unique step
    key), and a notifier that inserted it claimed and dies leaves it to be taken again when
    its lease runs out, like any claim. A step another notifier created first is left alone
    (its creator claims it)."""
    rows = []
    for alert_id, steps in plans:
        for step in steps:
            row = _job_row(alert_id, step, now)
            if step.due_at <= now:
                row.update(state=JobState.CLAIMED.value, owner=owner, lease_until=until)
            rows.append(row)
    claimed: list[n.ClaimedJob] = []
    for start in range(0, len(rows), _CLAIM_ROWS):
        chunk = rows[start : start + _CLAIM_ROWS]
        values = ", ".join([f"({tx.marks(len(_JOB_COLUMNS))})"] * len(chunk))
        params = [
            tx.time(cast(dt.datetime | None, row[c])) if c in _JOB_TIMES else row[c]
            for row in chunk
            for c in _JOB_COLUMNS
        ]
        for job_id, alert_id, purpose, level, repeat, due_at, state in tx.rows(
            _CLAIM_SQL.format(values=values), params
        ):
            if JobState(state) is JobState.CLAIMED:
                due_at = _aware(tx.read_time(due_at))
                purpose = JobPurpose(purpose)
                claimed.append(
                    n.ClaimedJob(int(job_id), int(alert_id), purpose, level, repeat, due_at, until)
                )
    claimed.sort(key=lambda job: (job.due_at, job.id))
    return claimed


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
