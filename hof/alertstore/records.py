"""What the alert store hands out: frozen views of alerts, their history, and pages of them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from hof.alertstore.models import Alert, AlertHistory
from hof.alertstore.vocabulary import (
    Action,
    AssigneeKind,
    Audience,
    Category,
    Outcome,
    Severity,
    State,
)

__all__ = [
    "AlertDetail",
    "AlertFilter",
    "AlertView",
    "CaseClocks",
    "HistoryEntry",
    "Page",
    "RaiseResult",
    "clocks_running",
    "overdue_duties",
]


@dataclass(frozen=True, slots=True)
class CaseClocks:
    """A case's Awaab's Law clocks: when the landlord became aware, what is due, what is done."""

    clock_class: str | None
    became_aware_at: dt.datetime | None
    investigation_due: dt.datetime | None
    investigation_ended_at: dt.datetime | None
    summary_due: dt.datetime | None
    summary_sent_at: dt.datetime | None
    works_due: dt.datetime | None
    works_done_at: dt.datetime | None
    further_works_due: dt.datetime | None
    further_works_started_at: dt.datetime | None


def clocks_running(state: State, outcome: Outcome | None) -> bool:
    """Whether the legal clocks still run: the case is live, or only its sensor cleared.

    A condition that clears itself has not been investigated, so the duty stands; a case a
    person closed (fixed, false alarm, withdrawn...) stops its clocks.
    """
    return state is not State.RESOLVED or outcome is Outcome.CLEARED


def overdue_duties(row: Alert, now: dt.datetime) -> tuple[str, ...]:
    """The duties past their due time and not recorded as done."""
    if not clocks_running(row.state, row.outcome):
        return ()
    pairs = (
        ("investigation", row.investigation_due, row.investigation_ended_at),
        ("summary", row.summary_due, row.summary_sent_at),
        ("works", row.works_due, row.works_done_at),
        ("further_works", row.further_works_due, row.further_works_started_at),
    )
    return tuple(
        name for name, due, done in pairs if due is not None and done is None and now > due
    )


@dataclass(frozen=True, slots=True)
class AlertView:
    """One alert as the dashboard and the rules engine see it."""

    id: int
    home: str
    room: str | None
    rule: str
    rule_version: int
    category: Category
    audience: Audience
    severity: Severity
    state: State
    outcome: Outcome | None
    first_raised_at: dt.datetime
    last_seen_at: dt.datetime
    evidence: dict[str, Any]
    acknowledged_by: str | None
    acknowledged_at: dt.datetime | None
    assigned_to: str | None
    assignee_kind: AssigneeKind | None
    assigned_by: str | None
    assigned_at: dt.datetime | None
    resolved_by: str | None
    resolved_at: dt.datetime | None
    reopen_count: int
    clocks: CaseClocks
    overdue: tuple[str, ...]

    @classmethod
    def of(cls, row: Alert, now: dt.datetime) -> AlertView:
        return cls(
            id=row.id,
            home=row.home,
            room=row.room,
            rule=row.rule,
            rule_version=row.rule_version,
            category=row.category,
            audience=row.audience,
            severity=row.severity,
            state=row.state,
            outcome=row.outcome,
            first_raised_at=row.first_raised_at,
            last_seen_at=row.last_seen_at,
            evidence=dict(row.evidence),
            acknowledged_by=row.acknowledged_by,
            acknowledged_at=row.acknowledged_at,
            assigned_to=row.assigned_to,
            assignee_kind=row.assignee_kind,
            assigned_by=row.assigned_by,
            assigned_at=row.assigned_at,
            resolved_by=row.resolved_by,
            resolved_at=row.resolved_at,
            reopen_count=row.reopen_count,
            clocks=CaseClocks(
                clock_class=row.clock_class,
                became_aware_at=row.became_aware_at,
                investigation_due=row.investigation_due,
                investigation_ended_at=row.investigation_ended_at,
                summary_due=row.summary_due,
                summary_sent_at=row.summary_sent_at,
                works_due=row.works_due,
                works_done_at=row.works_done_at,
                further_works_due=row.further_works_due,
                further_works_started_at=row.further_works_started_at,
            ),
            overdue=overdue_duties(row, now),
        )


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One change to an alert: who did what, when, with the details."""

    id: int
    alert_id: int
    at: dt.datetime
    actor: str
    action: Action
    detail: dict[str, Any]

    @classmethod
    def of(cls, row: AlertHistory) -> HistoryEntry:
        return cls(row.id, row.alert_id, row.at, row.actor, row.action, dict(row.detail))


@dataclass(frozen=True, slots=True)
class AlertDetail:
    """An alert with its whole history, oldest first (notes are history entries too)."""

    alert: AlertView
    history: tuple[HistoryEntry, ...]

    @property
    def notes(self) -> tuple[HistoryEntry, ...]:
        return tuple(entry for entry in self.history if entry.action is Action.NOTE)


@dataclass(frozen=True, slots=True)
class RaiseResult:
    """What `raise_or_update` did: opened a new alert, updated the open one, or reopened one."""

    alert: AlertView
    action: Literal["raised", "updated", "reopened"]


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Which alerts to list; an empty collection or None means any."""

    states: Collection[State] = ()
    categories: Collection[Category] = ()
    audiences: Collection[Audience] = ()
    severities: Collection[Severity] = ()
    homes: Collection[str] = ()
    overdue: bool | None = None  # True: only overdue cases; False: only those not overdue
    # Only homes of these patches (the registry's `home.patch`), or these homes besides (a
    # carer's: docs/data-protection.md); both empty means any home.
    patches: Collection[str] = ()
    also_homes: Collection[str] = ()


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing and the total that matched."""

    items: tuple[AlertView, ...]
    total: int
    limit: int
    offset: int
