"""Damp, mould and other hazard cases with their Awaab's Law clocks, overdue first.

Ordered in SQL so the list costs the same however many cases a landlord has: overdue first,
then by the next deadline (the first duty not yet done, in the order the law runs them).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from dashboard.access import Principal, audiences_for
from dashboard.context import Context
from dashboard.db import reading
from dashboard.templating import when, words
from hof.alertstore import AlertView, Audience, Category, Outcome, State
from hof.alertstore.models import Alert
from hof.alertstore.queries import overdue_sql
from hof.registry import Home

__all__ = ["CASE_CATEGORIES", "CaseRow", "Clock", "case_list", "clocks_of", "evidence_rows"]

# Hazards the landlord's Awaab's Law duties cover (damp and mould now; cold and heat from 2026).
CASE_CATEGORIES = (Category.DAMP_MOULD, Category.COLD, Category.HEAT, Category.VENTILATION)


@dataclass(frozen=True, slots=True)
class Clock:
    duty: str
    due: dt.datetime | None
    done: dt.datetime | None
    status: Literal["done", "overdue", "due", "waiting", "none"]
    text: str


def _days(delta: dt.timedelta) -> str:
    days = delta.total_seconds() / 86400
    if abs(days) < 1:
        hours = max(1, round(abs(delta.total_seconds()) / 3600))
        return f"{hours} hour{'s' if hours != 1 else ''}"
    n = round(abs(days))
    return f"{n} day{'s' if n != 1 else ''}"


def clocks_of(a: AlertView, now: dt.datetime) -> list[Clock]:
    """Each duty's clock as words and a status, for the tags on the case pages."""
    c = a.clocks
    running = a.state is not State.RESOLVED or a.outcome is Outcome.CLEARED
    after = "when the investigation ends"
    duties = (
        ("Investigation", c.investigation_due, c.investigation_ended_at, "from awareness"),
        ("Written summary to tenant", c.summary_due, c.summary_sent_at, after),
        ("Safety works", c.works_due, c.works_done_at, after),
        ("Further works started", c.further_works_due, c.further_works_started_at, after),
    )
    out = []
    for duty, due, done, starts in duties:
        if done is not None:
            late = f", {_days(done - due)} late" if due is not None and done > due else ""
            out.append(Clock(duty, due, done, "done", f"Done {done:%-d %b %Y}{late}"))
        elif c.clock_class is None:  # below the hazard level the duties start at
            out.append(Clock(duty, None, None, "none", "No legal clock"))
        elif not running:
            out.append(Clock(duty, due, None, "none", "Case closed"))
        elif due is None:
            out.append(Clock(duty, None, None, "waiting", f"Starts {starts}"))
        elif now > due:
            out.append(Clock(duty, due, None, "overdue", f"Overdue by {_days(now - due)}"))
        else:
            out.append(Clock(duty, due, None, "due", f"Due in {_days(due - now)}"))
    return out


@dataclass(frozen=True, slots=True)
class CaseRow:
    alert: AlertView
    address: str
    clocks: list[Clock]
    next_due: dt.datetime | None


def _next_due() -> sa.ColumnElement[Any]:
    def pending(due: Any, done: Any) -> sa.ColumnElement[Any]:
        return sa.case((done.is_(None), due), else_=None)

    return sa.func.coalesce(
        pending(Alert.investigation_due, Alert.investigation_ended_at),
        pending(Alert.summary_due, Alert.summary_sent_at),
        pending(Alert.works_due, Alert.works_done_at),
        pending(Alert.further_works_due, Alert.further_works_started_at),
    )


def case_list(
    ctx: Context,
    who: Principal,
    *,
    state: Literal["open", "closed", "any"] = "open",
    overdue_only: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[CaseRow], int]:
    now = dt.datetime.now(dt.UTC)
    where: list[sa.ColumnElement[bool]] = [Alert.category.in_(CASE_CATEGORIES)]
    audiences = audiences_for(who)
    if audiences:
        where.append(Alert.audience.in_({*audiences, Audience.BOTH}))
    if not who.all_patches:
        where.append(Home.patch.in_(who.patches))
    running = sa.or_(Alert.state != State.RESOLVED, Alert.outcome == Outcome.CLEARED)
    if state == "open":
        where.append(running)
    elif state == "closed":
        where.append(sa.not_(running))
    if overdue_only:
        where.append(overdue_sql(now))
    late = sa.case((overdue_sql(now), 0), else_=1)
    query = (
        sa.select(Alert, Home.address, _next_due())
        .join(Home, Home.id == Alert.home, isouter=who.all_patches)
        .where(*where)
        .order_by(late, _next_due().is_(None), _next_due(), Alert.first_raised_at.desc())
        .limit(limit)
        .offset(offset)
    )
    count = (
        sa.select(sa.func.count())
        .select_from(Alert)
        .join(Home, Home.id == Alert.home, isouter=who.all_patches)
        .where(*where)
    )
    with reading(ctx.engine) as session:
        rows = session.execute(query).all()
        total = int(session.scalar(count) or 0)
    out = []
    for alert, address, next_due in rows:
        view = AlertView.of(alert, now)
        out.append(CaseRow(view, address or alert.home, clocks_of(view, now), next_due))
    return out, total


# Units of the figures the rules put in evidence (alerts/rules), so a surveyor reads "17.2 °C".
UNITS = {
    "temperature": " °C",
    "dew_point": " °C",
    "surface_temperature": " °C",
    "humidity": " %",
    "surface_rh": " %",
    "rh": " %",
    "co2": " ppm",
    "hours_above": " h",
    "hours_rh_high": " h",
    "hours_surface_rh_high": " h",
    "rh_hours_above": " h",
}


def _figure(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int | float):
        return f"{value:g}{UNITS.get(key, '')}"
    if isinstance(value, str):
        try:
            stamp = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        return when(stamp) if stamp.tzinfo else value
    if isinstance(value, dict):
        return "; ".join(f"{words(k)}: {_figure(str(k), v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_figure(key, v) for v in value)
    return str(value)


def evidence_rows(evidence: dict[str, Any]) -> list[tuple[str, str]]:
    """The sensors' evidence as (label, figure with its unit) for the case pages."""
    return [(words(k), _figure(k, v)) for k, v in evidence.items() if k != "summary"]
