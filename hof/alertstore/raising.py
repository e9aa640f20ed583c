"""The rules' side of a case inside one transaction: raise a new alert, update or reopen one."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.orm import Session

from hof.alertstore.awaab import ClockPolicy
from hof.alertstore.caseclocks import iso, start_clocks
from hof.alertstore.history import last_recorded_update, record
from hof.alertstore.inputs import ConditionKey
from hof.alertstore.models import Alert
from hof.alertstore.queries import newest_resolved, open_for
from hof.alertstore.records import AlertView, RaiseResult
from hof.alertstore.vocabulary import (
    SELF_CLEARING,
    Action,
    Audience,
    Category,
    Outcome,
    Severity,
    State,
)

__all__ = [
    "Finding",
    "RaisePolicy",
    "new_alert",
    "new_alert_values",
    "raise_in",
    "raised_detail",
    "update_in",
]


@dataclass(frozen=True, slots=True)
class RaisePolicy:
    """The store's policies that shape a raise."""

    clocks: ClockPolicy
    aware_from: Literal["raised", "confirmed"]
    reopen_window: dt.timedelta
    # New evidence for an open alert arrives at every evaluation; a history row for each would
    # bury the people's actions, so routine updates are written at most this often (a change of
    # severity, rule version or clocks always is).
    update_history_every: dt.timedelta


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's finding, already checked: the condition, how bad, and the evidence."""

    key: ConditionKey
    rule_version: int
    category: Category
    audience: Audience
    severity: Severity
    evidence: dict[str, Any]  # with its "summary"
    at: dt.datetime
    actor: str


def raise_in(session: Session, policy: RaisePolicy, finding: Finding) -> RaiseResult:
    """Raise, update or reopen; an IntegrityError on uq_alert_open means another worker won."""
    action: Literal["raised", "updated", "reopened"]
    row = open_for(session, finding.key)
    if row is not None:
        action = "updated"
        _update(session, policy, row, finding)
    else:
        row = _reopenable(session, policy, finding)
        if row is not None:
            action = "reopened"
            _reopen(session, row, finding)
        else:
            action = "raised"
            row = _new(session, finding)
        if policy.aware_from == "raised":
            started = start_clocks(policy.clocks, row, finding.at)
            if started is not None:
                record(session, row, Action.UPDATED, finding.actor, finding.at, clocks=started)
    session.flush()
    return RaiseResult(AlertView.of(row, finding.at), action)


def new_alert_values(finding: Finding) -> dict[str, Any]:
    """The columns of a new open alert for the finding (every other one NULL)."""
    return {
        "home": finding.key.home,
        "rule": finding.key.rule,
        "room": finding.key.room,
        "rule_version": finding.rule_version,
        "category": finding.category,
        "audience": finding.audience,
        "severity": finding.severity,
        "state": State.OPEN,
        "first_raised_at": finding.at,
        "last_seen_at": finding.at,
        "evidence": finding.evidence,
        "reopen_count": 0,
    }


def new_alert(finding: Finding) -> Alert:
    """The row of a new open alert for the finding (not yet in any session)."""
    return Alert(**new_alert_values(finding))


def _new(session: Session, finding: Finding) -> Alert:
    row = new_alert(finding)
    session.add(row)
    session.flush()  # the unique index speaks now, inside the caller's retry loop
    record(session, row, Action.RAISED, finding.actor, finding.at, **raised_detail(finding))
    return row


def raised_detail(finding: Finding) -> dict[str, Any]:
    """What the history says of a new alert."""
    return {
        "severity": finding.severity.value,
        "rule_version": finding.rule_version,
        "summary": finding.evidence["summary"],
        "evidence": finding.evidence,
    }


def update_in(session: Session, policy: RaisePolicy, finding: Finding) -> RaiseResult | None:
    """Update the condition's open alert with the finding's words and evidence, always kept in
    its history; None, with nothing written, when none is open (a note about a case is no
    reason to open one, and an officer may have closed it)."""
    row = open_for(session, finding.key)
    if row is None:
        return None
    _update(session, policy, row, finding, always=True)
    session.flush()
    return RaiseResult(AlertView.of(row, finding.at), "updated")


def _update(
    session: Session, policy: RaisePolicy, row: Alert, finding: Finding, *, always: bool = False
) -> None:
    was = row.severity
    worse = finding.severity.rank > was.rank
    version_changed = finding.rule_version != row.rule_version
    if worse:
        row.severity = finding.severity
    row.rule_version = finding.rule_version
    # Evidence from a late, out-of-order evaluation must not move the case backwards.
    if finding.at >= row.last_seen_at:
        row.last_seen_at = finding.at
        row.evidence = finding.evidence
    last = last_recorded_update(session, row)
    stale = last is None or finding.at - last >= policy.update_history_every
    detail: dict[str, Any] = {
        "severity": row.severity.value,
        "summary": finding.evidence["summary"],
    }
    if worse:
        detail["severity_from"] = was.value
    if version_changed:
        detail["rule_version"] = row.rule_version
    clocks = start_clocks(policy.clocks, row, finding.at) if policy.aware_from == "raised" else None
    if clocks is not None:
        detail["clocks"] = clocks
    if worse or version_changed or clocks is not None or stale or always:
        record(
            session,
            row,
            Action.UPDATED,
            finding.actor,
            finding.at,
            **detail,
            evidence=finding.evidence,
        )


def _reopenable(session: Session, policy: RaisePolicy, finding: Finding) -> Alert | None:
    """The condition's case if it cleared itself within the reopen window."""
    if finding.category not in SELF_CLEARING:
        return None
    newest = newest_resolved(session, finding.key)
    if newest is None or newest.outcome is not Outcome.CLEARED or newest.resolved_at is None:
        return None
    return newest if finding.at - newest.resolved_at <= policy.reopen_window else None


def _reopen(session: Session, row: Alert, finding: Finding) -> None:
    was = row.severity
    row.severity = max(row.severity, finding.severity, key=lambda s: s.rank)
    # Back to where it was: an assigned case stays with its assignee.
    restored = State.OPEN
    if row.assigned_to is not None:
        restored = State.ASSIGNED
    elif row.acknowledged_by is not None:
        restored = State.ACKNOWLEDGED
    detail = {
        "cleared_at": iso(row.resolved_at),
        "severity_from": was.value,
        "severity": row.severity.value,
        "state": restored.value,
        "summary": finding.evidence["summary"],
    }
    row.state = restored
    row.outcome = None
    row.resolved_at = None
    row.resolved_by = None
    row.reopen_count += 1
    row.last_seen_at = max(row.last_seen_at, finding.at)
    row.evidence = finding.evidence
    row.rule_version = finding.rule_version
    session.flush()  # the unique index speaks now, inside the caller's retry loop
    record(session, row, Action.REOPENED, finding.actor, finding.at, **detail)
