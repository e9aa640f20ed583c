"""Awaab's Law clocks on an alert row: start or escalate them; the investigation's end."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hof.alertstore.awaab import (
    ClockPolicy,
    Clocks,
    dues_after_investigation,
    dues_at_awareness,
)
from hof.alertstore.models import Alert

__all__ = ["case_clocks", "end_investigation", "iso", "start_clocks"]


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _earliest(*times: dt.datetime | None) -> dt.datetime | None:
    present = [t for t in times if t is not None]
    return min(present) if present else None


def case_clocks(policy: ClockPolicy, row: Alert) -> tuple[str, Clocks] | None:
    """The class ("emergency" or "significant") and clocks the row's category and severity carry."""
    chosen = policy.clocks_for(row.category, row.severity)
    klass = policy.class_for(row.category, row.severity)
    if chosen is None or klass is None:
        return None
    return klass, chosen


def start_clocks(policy: ClockPolicy, row: Alert, at: dt.datetime) -> dict[str, Any] | None:
    """Start (or escalate to emergency) the row's clocks at `at`; what changed, for the history."""
    found = case_clocks(policy, row)
    if found is None:
        return None
    klass, clocks = found
    if row.clock_class in (klass, "emergency"):
        return None  # running already; a case never steps down from emergency
    row.clock_class = klass
    row.became_aware_at = row.became_aware_at or at
    # Becoming aware of an emergency starts its own 24-hour clock, whenever that is.
    aware = at if klass == "emergency" else row.became_aware_at
    dues = dues_at_awareness(clocks, aware)
    # Escalating never gives more time than the case already had.
    row.investigation_due = _earliest(row.investigation_due, dues.investigation_due)
    row.works_due = _earliest(row.works_due, dues.works_due)
    return {
        "clock_class": klass,
        "became_aware_at": aware.isoformat(),
        "investigation_due": iso(row.investigation_due),
        "works_due": iso(row.works_due),
    }


def end_investigation(clocks: Clocks, row: Alert, at: dt.datetime) -> dict[str, Any]:
    """The investigation ended at `at`: start the summary, works and further-works clocks."""
    assert row.became_aware_at is not None
    row.investigation_ended_at = at
    dues = dues_after_investigation(clocks, row.became_aware_at, at)
    row.summary_due = dues.summary_due
    if row.works_done_at is None:
        row.works_due = _earliest(row.works_due, dues.works_due)
    row.further_works_due = dues.further_works_due
    return {
        "summary_due": iso(row.summary_due),
        "works_due": iso(row.works_due),
        "further_works_due": iso(row.further_works_due),
    }
