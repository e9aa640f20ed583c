"""Raising telecare events in a batch: one transaction, SQL Core for the common case.

A burst of falls used to be raised one at a time, each a read of the home's earlier alerts and
then an ORM unit of work of its own (about 10 ms of CPU each on a loaded machine: the fiftieth
fall of a burst waited half a second, docs/notify.md, Latency). Here a batch of events reads
the earlier alerts of all its homes in one query, and opens each new alert with two Core
inserts (the alert, then its history row); the rare cases that need the ORM's rules (an open
alert to update, a category that reopens or carries Awaab's Law clocks) go through the same
`raise_in` as a single raise, in the same transaction. Whatever the path, the rows written are
the same as `AlertStore.raise_or_update`'s.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hof.alertstore.direct import Tx
from hof.alertstore.models import Alert, AlertHistory, Base
from hof.alertstore.raising import (
    Finding,
    RaisePolicy,
    new_alert_values,
    raise_in,
    raised_detail,
)
from hof.alertstore.records import AlertView, CaseClocks, RaiseResult
from hof.alertstore.vocabulary import SELF_CLEARING, Action, Audience, Category, Severity, State

__all__ = [
    "EvidenceWithOpen",
    "Known",
    "RaiseRequest",
    "raise_events_in",
    "raise_plain_direct",
]

# The evidence a raise stores, given the evidence of the condition's alerts still open (the
# rules engine names every device that raised an open fall in it).
EvidenceWithOpen = Callable[[dict[str, Any], Sequence[Mapping[str, Any]]], dict[str, Any]]

# The tables themselves, for Core statements (the ORM's unit of work is what this avoids).
_ALERT = Base.metadata.tables[Alert.__tablename__]
_HISTORY = Base.metadata.tables[AlertHistory.__tablename__]
# Built once: building a statement costs more CPU than running it on SQLite.
_KNOWN = (
    sa.select(
        _ALERT.c.id, _ALERT.c.home, _ALERT.c.rule, _ALERT.c.room, _ALERT.c.state, _ALERT.c.evidence
    )
    .where(
        _ALERT.c.home.in_(sa.bindparam("homes", expanding=True)),
        _ALERT.c.category.in_(sa.bindparam("categories", expanding=True)),
    )
    .order_by(_ALERT.c.id)
)
_INSERT_ALERT = sa.insert(_ALERT)
_NO_CLOCKS = CaseClocks(None, None, None, None, None, None, None, None, None, None)
_INSERT_HISTORY = sa.insert(_HISTORY)


@dataclass(frozen=True, slots=True)
class RaiseRequest:
    """One raise of a batch: `AlertStore.raise_or_update`'s arguments."""

    home: str
    rule: str
    rule_version: int
    category: Category | str
    audience: Audience | str
    severity: Severity | str
    summary: str
    evidence: Mapping[str, Any] | None = None
    room: str | None = None


@dataclass(frozen=True, slots=True)
class Known:
    """An alert of one of the batch's homes, as far as a raise needs to know it."""

    id: int
    rule: str
    room: str | None
    state: State
    evidence: Mapping[str, Any]


def _known(session: Session, findings: Sequence[Finding]) -> dict[str, list[Known]]:
    """The batch's homes' alerts of the batch's categories, open or not, in one query."""
    homes = sorted({f.key.home for f in findings})
    categories = sorted({f.category for f in findings})
    rows = session.connection().execute(_KNOWN, {"homes": homes, "categories": categories})
    known: dict[str, list[Known]] = defaultdict(list)
    for alert_id, home, rule, room, state, evidence in rows:
        known[home].append(Known(alert_id, rule, room, state, evidence))
    return known


def _lean(policy: RaisePolicy, finding: Finding) -> bool:
    """Whether a new alert for `finding` is plain: nothing to reopen, no clocks to start."""
    if finding.category in SELF_CLEARING:
        return False
    return policy.clocks.class_for(finding.category, finding.severity) is None


def _insert(session: Session, finding: Finding) -> RaiseResult:
    """Open a new alert for the finding. The unique index speaks here, at once.

    The row is `raising.new_alert`'s, made as a dict and its view as a dataclass: building
    the ORM object and reading its every attribute back was half of a single fall's raise
    (docs/notify.md, Leaner fall path)."""
    params = new_alert_values(finding)
    inserted = session.connection().execute(_INSERT_ALERT, params)
    key = inserted.inserted_primary_key
    assert key is not None
    return _result(int(key[0]), finding)


def _result(alert_id: int, finding: Finding) -> RaiseResult:
    """What a raise that opened alert `alert_id` for `finding` returns."""
    view = AlertView(
        id=alert_id,
        home=finding.key.home,
        room=finding.key.room,
        rule=finding.key.rule,
        rule_version=finding.rule_version,
        category=finding.category,
        audience=finding.audience,
        severity=finding.severity,
        state=State.OPEN,
        outcome=None,
        first_raised_at=finding.at,
        last_seen_at=finding.at,
        evidence=dict(finding.evidence),
        acknowledged_by=None,
        acknowledged_at=None,
        assigned_to=None,
        assignee_kind=None,
        assigned_by=None,
        assigned_at=None,
        resolved_by=None,
        resolved_at=None,
        reopen_count=0,
        clocks=_NO_CLOCKS,
        overdue=(),  # no clocks, so no duty
    )
    return RaiseResult(view, "raised")


def _raised_row(alert_id: int, finding: Finding) -> dict[str, Any]:
    """The history row of a new alert, as `raising._new` writes it."""
    return {
        "alert_id": alert_id,
        "at": finding.at,
        "actor": finding.actor,
        "action": Action.RAISED,
        "detail": raised_detail(finding),
    }


def _decide(
    earlier: list[Known],
    policy: RaisePolicy,
    finding: Finding,
    evidence_with_open: EvidenceWithOpen | None,
) -> tuple[Finding | None, bool]:
    """The finding as it will be stored (None: a repeat, nothing to write), and whether a
    plain insert is all it needs (False: an open alert to update, a reopening or clocks)."""
    rule, room = finding.key.rule, finding.key.room
    when = finding.evidence.get("time")
    repeat = finding.category not in SELF_CLEARING  # an event: one alert per event
    if repeat and any(k.rule == rule and k.evidence.get("time") == when for k in earlier):
        return None, False
    mine = [k for k in earlier if k.rule == rule and (k.room or "") == (room or "")]
    still_open = [k for k in mine if k.state is not State.RESOLVED]
    if evidence_with_open is not None:
        evidence = evidence_with_open(finding.evidence, [k.evidence for k in still_open])
        finding = dataclasses.replace(finding, evidence=evidence)
    return finding, not still_open and _lean(policy, finding)


def raise_events_in(
    session: Session,
    policy: RaisePolicy,
    findings: Sequence[Finding],
    evidence_with_open: EvidenceWithOpen | None = None,
) -> list[RaiseResult | None]:
    """Raise each finding in order, in the caller's transaction; None for a repeat.

    A repeat is an event already in the store: an alert of the same home and rule, of a
    category a person resolves, whose evidence carries the same `time` (a redelivery after a
    restart). An IntegrityError on
    uq_alert_open means another worker won a race: the caller rolls back and goes again.
    """
    if not findings:
        return []
    known = _known(session, findings)
    history: list[dict[str, Any]] = []

    def write_history() -> None:
        if history:
            session.connection().execute(_INSERT_HISTORY, history)
            history.clear()

    results: list[RaiseResult | None] = []
    for asked in findings:
        earlier = known[asked.key.home]
        finding, plain = _decide(earlier, policy, asked, evidence_with_open)
        if finding is None:
            results.append(None)
            continue
        if plain:
            result = _insert(session, finding)
            history.append(_raised_row(result.alert.id, finding))
        else:
            write_history()  # the ORM's own reads must see every row written so far
            result = raise_in(session, policy, finding)
        alert = result.alert
        known[finding.key.home] = [k for k in earlier if k.id != alert.id] + [
            Known(alert.id, alert.rule, alert.room, alert.state, alert.evidence)
        ]
        results.append(result)
    write_history()
    return results


# The same statements as `_KNOWN`, `_insert` and `_raised_row` make, below SQLAlchemy.
_KNOWN_SQL = (
    "SELECT id, home, rule, room, state, evidence FROM alert"
    " WHERE home IN ({homes}) AND category IN ({categories}) ORDER BY id"
)
_INSERT_ALERT_SQL = (
    "INSERT INTO alert (home, rule, room, rule_version, category, audience, severity, state,"
    " first_raised_at, last_seen_at, evidence, reopen_count)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0) RETURNING id"
)
_INSERT_HISTORY_SQL = (
    "INSERT INTO alert_history (alert_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)"
)


def raise_plain_direct(
    tx: Tx,
    policy: RaisePolicy,
    findings: Sequence[Finding],
    evidence_with_open: EvidenceWithOpen | None = None,
) -> list[RaiseResult | None] | None:
    """`raise_events_in` below SQLAlchemy, for a batch whose findings are all new alerts of
    the plain kind (a fall in a home with none open: nearly every one). None, having written
    nothing, when one of them needs more (an open alert to update, a reopening, clocks to
    start): the caller rolls back and raises the batch through `raise_events_in`.
    """
    if not findings:
        return []
    homes = sorted({f.key.home for f in findings})
    categories = sorted({f.category.value for f in findings})
    sql = _KNOWN_SQL.format(homes=tx.marks(len(homes)), categories=tx.marks(len(categories)))
    known: dict[str, list[Known]] = defaultdict(list)
    for alert_id, home, rule, room, state, evidence in tx.rows(sql, [*homes, *categories]):
        known[home].append(Known(alert_id, rule, room, State(state), tx.read_json(evidence)))
    planned: list[Finding | None] = []
    for asked in findings:
        finding, plain = _decide(known[asked.key.home], policy, asked, evidence_with_open)
        if finding is not None and not plain:
            return None
        planned.append(finding)
        if finding is not None:
            # Seen by the batch's later findings as the alert it will be (its id unused).
            key = finding.key
            new = Known(0, key.rule, key.room, State.OPEN, finding.evidence)
            known[key.home].append(new)
    results: list[RaiseResult | None] = []
    for finding in planned:
        if finding is None:
            results.append(None)
            continue
        (alert_id,) = tx.rows(
            _INSERT_ALERT_SQL,
            [
                finding.key.home,
                finding.key.rule,
                finding.key.room,
                finding.rule_version,
                finding.category.value,
                finding.audience.value,
                finding.severity.value,
                State.OPEN.value,
                tx.time(finding.at),
                tx.time(finding.at),
                tx.json(finding.evidence),
            ],
        )[0]
        row = _raised_row(int(alert_id), finding)
        tx.rows(
            _INSERT_HISTORY_SQL,
            [
                row["alert_id"],
                tx.time(row["at"]),
                row["actor"],
                Action.RAISED.value,
                tx.json(row["detail"]),
            ],
        )
        results.append(_result(int(alert_id), finding))
    return results
