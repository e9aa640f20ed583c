"""A case's clocks in words, from its times alone."""

from __future__ import annotations

import dataclasses
import datetime as dt

from dashboard.cases import clocks_of, evidence_rows
from hof.alertstore import AlertView, Audience, Category, Outcome, Severity, State
from hof.alertstore.records import CaseClocks

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def _case(clocks: CaseClocks, **changes: object) -> AlertView:
    base = AlertView(
        id=1, home="H", room="bedroom", rule="damp_mould", rule_version=2,
        category=Category.DAMP_MOULD, audience=Audience.HOUSING_OFFICER,
        severity=Severity.SIGNIFICANT, state=State.OPEN, outcome=None, first_raised_at=T0,
        last_seen_at=T0, evidence={}, acknowledged_by=None, acknowledged_at=None,
        assigned_to=None, assignee_kind=None, assigned_by=None, assigned_at=None,
        resolved_by=None, resolved_at=None, reopen_count=0, clocks=clocks, overdue=(),
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


RUNNING = CaseClocks(
    "significant", T0, T0 + 14 * DAY, T0 + 16 * DAY, T0 + 21 * DAY, None,
    T0 + 23 * DAY, None, T0 + 100 * DAY, None,
)  # fmt: skip


def test_each_duty_reads_done_late_overdue_or_due() -> None:
    now = T0 + 30 * DAY
    texts = [(c.duty, c.status, c.text) for c in clocks_of(_case(RUNNING), now)]
    assert texts == [
        ("Investigation", "done", "Done 18 Nov 2026, 2 days late"),
        ("Written summary to tenant", "overdue", "Overdue by 9 days"),
        ("Safety works", "overdue", "Overdue by 7 days"),
        ("Further works started", "due", "Due in 70 days"),
    ]
    soon = clocks_of(_case(RUNNING), T0 + 100 * DAY - dt.timedelta(hours=5))[3]
    assert soon.text == "Due in 5 hours"


def test_waiting_closed_and_clockless_cases() -> None:
    fresh = CaseClocks("significant", T0, T0 + 14 * DAY, *([None] * 7))
    waiting = clocks_of(_case(fresh), T0 + DAY)
    assert [c.text for c in waiting[1:]] == ["Starts when the investigation ends"] * 3
    closed = _case(RUNNING, state=State.RESOLVED, outcome=Outcome.FIXED)
    assert [c.text for c in clocks_of(closed, T0 + 30 * DAY)][1:] == ["Case closed"] * 3
    # A sensor clearing the condition does not stop the landlord's duties.
    cleared = _case(RUNNING, state=State.RESOLVED, outcome=Outcome.CLEARED)
    assert clocks_of(cleared, T0 + 30 * DAY)[1].status == "overdue"
    none = CaseClocks(*([None] * 10))
    assert {c.text for c in clocks_of(_case(none), T0)} == {"No legal clock"}


def test_evidence_reads_with_units_and_local_times() -> None:
    rows = evidence_rows(
        {
            "summary": "Bedroom humidity above 70 %.",
            "temperature": 17.25,
            "humidity": 81,
            "surface_estimated": True,
            "observed_at": "2026-10-24T02:53:36.722113+00:00",
            "thresholds": {"rh": 70, "hours": 16},
            "source": "env-1",
        }
    )
    assert rows == [
        ("Temperature", "17.25 °C"),
        ("Humidity", "81 %"),
        ("Surface estimated", "Yes"),
        ("Observed at", "24 Oct 2026 03:53"),
        ("Thresholds", "Rh: 70 %; Hours: 16"),
        ("Source", "env-1"),
    ]
