"""The escalation ladder computed from an alert's times."""

from __future__ import annotations

import dataclasses
import datetime as dt

from dashboard.escalation import countdown, escalation_of
from hof.alertstore import AlertView, Audience, Category, Severity, State
from hof.alertstore.records import CaseClocks
from hof.settings import EscalationStep

T0 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
LADDER = (
    EscalationStep(after_s=0, to="on-duty responder"),
    EscalationStep(after_s=120, to="team lead"),
    EscalationStep(after_s=600, to="duty manager"),
)


def _alert(**changes: object) -> AlertView:
    clocks = CaseClocks(*([None] * 10))
    base = AlertView(
        id=1, home="H", room=None, rule="fall", rule_version=1, category=Category.FALL,
        audience=Audience.RESPONDER, severity=Severity.EMERGENCY, state=State.OPEN, outcome=None,
        first_raised_at=T0, last_seen_at=T0, evidence={}, acknowledged_by=None,
        acknowledged_at=None, assigned_to=None, assignee_kind=None, assigned_by=None,
        assigned_at=None, resolved_by=None, resolved_at=None, reopen_count=0, clocks=clocks,
        overdue=(),
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_countdown_reads_like_a_clock() -> None:
    assert countdown(42) == "0:42"
    assert countdown(725) == "12:05"
    assert countdown(3725) == "1:02:05"
    assert countdown(-5) == "0:00"


def test_an_unacknowledged_alert_climbs_the_ladder() -> None:
    first = escalation_of(_alert(), LADDER, T0 + dt.timedelta(seconds=78))
    assert first is not None
    assert first.text == "With on-duty responder; next: team lead in 0:42"
    assert first.next_at == T0 + dt.timedelta(seconds=120)
    later = escalation_of(_alert(), LADDER, T0 + dt.timedelta(seconds=300))
    assert later is not None
    assert later.reached == ("on-duty responder", "team lead")
    assert later.text == "With team lead; next: duty manager in 5:00"
    last = escalation_of(_alert(), LADDER, T0 + dt.timedelta(hours=2))
    assert last is not None
    assert (last.next_to, last.text) == (None, "With duty manager (last step)")


def test_acknowledging_stops_it_and_officer_cases_do_not_escalate() -> None:
    acked = _alert(
        state=State.ACKNOWLEDGED,
        acknowledged_by="r@example.org",
        acknowledged_at=T0 + dt.timedelta(seconds=130),
    )
    stopped = escalation_of(acked, LADDER, T0 + dt.timedelta(hours=1))
    assert stopped is not None
    assert stopped.stopped
    assert stopped.reached == ("on-duty responder", "team lead")
    assert stopped.text == "Acknowledged by r@example.org: escalation stopped"
    damp = _alert(audience=Audience.HOUSING_OFFICER, category=Category.DAMP_MOULD)
    assert escalation_of(damp, LADDER, T0) is None


def test_resolved_alerts_and_an_empty_ladder() -> None:
    done = _alert(state=State.RESOLVED, resolved_at=T0 + dt.timedelta(seconds=30))
    ended = escalation_of(done, LADDER, T0 + dt.timedelta(hours=1))
    assert ended is not None
    assert (ended.stopped, ended.text) == (True, "Resolved: escalation ended")
    assert escalation_of(_alert(), (), T0) is None
    fresh = escalation_of(_alert(), LADDER[1:], T0 + dt.timedelta(seconds=5))
    assert fresh is not None
    assert fresh.text == "Not yet sent; next: team lead in 1:55"
    assert fresh.reached == ()
