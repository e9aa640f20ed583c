"""The SQL the store asks: a condition's open alert, its newest resolved one, filters, urgency."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hof.alertstore.errors import AlertNotFound
from hof.alertstore.inputs import ConditionKey
from hof.alertstore.models import Alert
from hof.alertstore.records import AlertFilter
from hof.alertstore.vocabulary import Audience, Category, Outcome, Severity, State

__all__ = [
    "filter_conditions",
    "locked",
    "newest_resolved",
    "open_for",
    "overdue_sql",
    "urgency",
]


def _matches(key: ConditionKey) -> list[sa.ColumnElement[bool]]:
    # The same expression as the unique index uq_alert_open, so the index serves the lookup.
    return [
        Alert.home == key.home,
        Alert.rule == key.rule,
        sa.func.coalesce(Alert.room, "") == (key.room or ""),
    ]


def locked(session: Session, alert_id: int) -> Alert:
    """The alert, locked for this transaction (PostgreSQL; SQLite writers are serial anyway)."""
    row = session.get(Alert, alert_id, with_for_update=True)
    if row is None:
        raise AlertNotFound(f"no alert {alert_id}")
    return row


def open_for(session: Session, key: ConditionKey) -> Alert | None:
    """The condition's open (not resolved) alert, locked; the unique index allows one at most."""
    query = sa.select(Alert).where(*_matches(key), Alert.state != State.RESOLVED).with_for_update()
    return session.scalars(query).one_or_none()


def newest_resolved(session: Session, key: ConditionKey) -> Alert | None:
    """The condition's most recently resolved alert, locked (the candidate for reopening)."""
    query = (
        sa.select(Alert)
        .where(*_matches(key), Alert.state == State.RESOLVED)
        .order_by(Alert.resolved_at.desc(), Alert.id.desc())
        .limit(1)
        .with_for_update()
    )
    return session.scalars(query).one_or_none()


def urgency() -> sa.ColumnElement[int]:
    """Severity as its rank, for ordering worst first."""
    return sa.case(
        {severity.value: severity.rank for severity in Severity}, value=Alert.severity, else_=0
    )


def filter_conditions(where: AlertFilter, now: dt.datetime) -> list[sa.ColumnElement[bool]]:
    """WHERE clauses for a listing; an audience also matches alerts meant for `both`."""
    conditions: list[sa.ColumnElement[bool]] = []
    if where.states:
        conditions.append(Alert.state.in_([State(s) for s in where.states]))
    if where.categories:
        conditions.append(Alert.category.in_([Category(c) for c in where.categories]))
    if where.audiences:
        audiences = {Audience(a) for a in where.audiences} | {Audience.BOTH}
        conditions.append(Alert.audience.in_(sorted(audiences)))
    if where.severities:
        conditions.append(Alert.severity.in_([Severity(s) for s in where.severities]))
    if where.homes:
        conditions.append(Alert.home.in_(list(where.homes)))
    if where.overdue is not None:
        conditions.append(overdue_sql(now) if where.overdue else sa.not_(overdue_sql(now)))
    scope: list[sa.ColumnElement[bool]] = []
    if where.patches:
        # Imported here: the registry's models import this package's models.
        from hof.registry.models import Home

        in_patches = sa.select(Home.id).where(Home.patch.in_(list(where.patches)))
        scope.append(Alert.home.in_(in_patches))
    if where.also_homes:
        scope.append(Alert.home.in_(list(where.also_homes)))
    if scope:
        conditions.append(sa.or_(*scope))
    return conditions


def overdue_sql(now: dt.datetime) -> sa.ColumnElement[bool]:
    """SQL for `records.overdue_duties(row, now)` being non-empty."""
    running = sa.or_(Alert.state != State.RESOLVED, Alert.outcome == Outcome.CLEARED)
    late = sa.or_(
        *(
            sa.and_(due.is_not(None), done.is_(None), due < now)
            for due, done in (
                (Alert.investigation_due, Alert.investigation_ended_at),
                (Alert.summary_due, Alert.summary_sent_at),
                (Alert.works_due, Alert.works_done_at),
                (Alert.further_works_due, Alert.further_works_started_at),
            )
        )
    )
    return sa.and_(running, late)
