"""The alert store's typed API: raise, update, clear, withdraw, acknowledge, assign, resolve, list.

Every method is one database transaction. Transitions are checked against the alert's state
inside that transaction (the row is locked on PostgreSQL; SQLite writers queue with BEGIN
IMMEDIATE), and refusals raise `TransitionRefused` with a reason. Methods are synchronous and
thread-safe; an asyncio service calls them through `AsyncAlertStore`, which runs them in
worker threads.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hof.alertstore.awaab import (
    DEFAULT_CLOCKS,
    ClockPolicy,
    Clocks,
    dues_after_investigation,
    dues_at_awareness,
)
from hof.alertstore.engine import WRITE, make_engine, store_url
from hof.alertstore.errors import (
    AlertNotFound,
    AlertStoreError,
    StoreReason,
    StoreUnavailable,
    TransitionRefused,
)
from hof.alertstore.models import Alert, AlertHistory
from hof.alertstore.records import (
    AlertDetail,
    AlertFilter,
    AlertView,
    HistoryEntry,
    Page,
    RaiseResult,
)
from hof.alertstore.vocabulary import (
    SELF_CLEARING,
    Action,
    AssigneeKind,
    Audience,
    Category,
    Duty,
    Outcome,
    Severity,
    State,
)
from hof.settings import Settings

__all__ = ["AlertStore", "utc_now"]

_RACE_RETRIES = 5
_E = TypeVar("_E", Category, Audience, Severity, Outcome, AssigneeKind, Duty)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None:
        raise AlertStoreError(StoreReason.BAD_INPUT, f"naive time {at.isoformat()}: give a zone")
    return at.astimezone(dt.UTC)


def _text(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise AlertStoreError(StoreReason.BAD_INPUT, f"{what} must not be empty")
    return value


def _enum_value(kind: type[_E], value: _E | str) -> _E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise AlertStoreError(
            StoreReason.BAD_INPUT, f"{value!r} is not a {kind.__name__}; one of: {allowed}"
        ) from None


def _json_object(evidence: Mapping[str, Any]) -> dict[str, Any]:
    """The evidence as plain JSON data, refused here rather than half-way into the database."""
    try:
        data = json.loads(json.dumps(dict(evidence), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise AlertStoreError(StoreReason.BAD_INPUT, f"evidence is not JSON data: {exc}") from exc
    assert isinstance(data, dict)
    return data


def _urgency() -> sa.ColumnElement[int]:
    return sa.case(
        {severity.value: severity.rank for severity in Severity}, value=Alert.severity, else_=0
    )


class AlertStore:
    """The alert store over one SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(
        self,
        engine: Engine,
        *,
        clocks: ClockPolicy = DEFAULT_CLOCKS,
        reopen_window: dt.timedelta = dt.timedelta(hours=72),
        aware_from: Literal["raised", "confirmed"] = "raised",
        update_history_every: dt.timedelta = dt.timedelta(hours=1),
        page_size_max: int = 500,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.engine = engine
        self.clocks = clocks
        self.reopen_window = reopen_window
        self.aware_from = aware_from
        # New evidence for an open alert arrives every evaluation; a history row for each would
        # bury the people's actions, so routine updates are recorded at most this often (a
        # change of severity or rule version is always recorded).
        self.update_history_every = update_history_every
        self.page_size_max = page_size_max
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> AlertStore:
        """A store on the settings' database (the SQLite file under state_dir by default)."""
        conf = settings.alertstore
        engine = make_engine(store_url(settings), sqlite_busy_timeout_s=conf.sqlite_busy_timeout_s)
        return cls(
            engine,
            reopen_window=dt.timedelta(seconds=conf.reopen_window_s),
            aware_from=conf.aware_from,
            page_size_max=conf.page_size_max,
            **kwargs,
        )

    def close(self) -> None:
        self.engine.dispose()

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def _session(self, *, write: bool) -> Iterator[Session]:
        try:
            with self.engine.connect() as connection:
                if write:
                    connection = connection.execution_options(**{WRITE: True})
                with Session(bind=connection, expire_on_commit=False) as session, session.begin():
                    yield session
        except sa_exc.IntegrityError:
            raise  # the callers that expect a race handle it
        except sa_exc.SQLAlchemyError as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def _now(self, at: dt.datetime | None) -> dt.datetime:
        return _aware(at) if at is not None else _aware(self._clock())

    @staticmethod
    def _locked(session: Session, alert_id: int) -> Alert:
        row = session.get(Alert, alert_id, with_for_update=True)
        if row is None:
            raise AlertNotFound(f"no alert {alert_id}")
        return row

    @staticmethod
    def _record(
        session: Session,
        row: Alert,
        action: Action,
        actor: str,
        at: dt.datetime,
        **detail: Any,
    ) -> AlertHistory:
        entry = AlertHistory(alert_id=row.id, at=at, actor=actor, action=action, detail=detail)
        session.add(entry)
        return entry

    @staticmethod
    def _refuse_resolved(row: Alert, doing: str) -> None:
        if row.state is State.RESOLVED:
            raise TransitionRefused(
                StoreReason.ALREADY_RESOLVED,
                f"alert {row.id} was resolved ({row.outcome}) at {row.resolved_at}; "
                f"cannot {doing} it",
            )

    @staticmethod
    def _key(home: str, rule: str, room: str | None) -> list[sa.ColumnElement[bool]]:
        return [
            Alert.home == home,
            Alert.rule == rule,
            sa.func.coalesce(Alert.room, "") == (room or ""),
        ]

    def _open_for(self, session: Session, home: str, rule: str, room: str | None) -> Alert | None:
        query = (
            sa.select(Alert)
            .where(*self._key(home, rule, room), Alert.state != State.RESOLVED)
            .with_for_update()
        )
        return session.scalars(query).one_or_none()

    # -- Awaab's Law clocks -------------------------------------------------------------------

    def _case_clocks(self, row: Alert) -> tuple[str, Clocks] | None:
        chosen = self.clocks.clocks_for(row.category, row.severity)
        if chosen is None:
            return None
        klass = "emergency" if row.severity in self.clocks.emergency_severities else "significant"
        return klass, chosen

    def _start_clocks(self, row: Alert, at: dt.datetime) -> dict[str, Any] | None:
        """Start (or escalate to emergency) the case's clocks; what changed, for the history."""
        found = self._case_clocks(row)
        if found is None:
            return None
        klass, clocks = found
        if row.clock_class == klass or (row.clock_class == "emergency"):
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
            "investigation_due": _iso(row.investigation_due),
            "works_due": _iso(row.works_due),
        }

    # -- the rules engine's side --------------------------------------------------------------

    def raise_or_update(
        self,
        *,
        home: str,
        rule: str,
        rule_version: int,
        category: Category | str,
        audience: Audience | str,
        severity: Severity | str,
        summary: str,
        evidence: Mapping[str, Any] | None = None,
        room: str | None = None,
        at: dt.datetime | None = None,
        actor: str = "rules",
    ) -> RaiseResult:
        """Open an alert for (home, rule, room), or update the open one with new evidence.

        The worst severity seen wins and `last_seen_at` advances. A self-clearing alert that
        cleared within the reopen window is reopened as the same case. Two workers racing to
        raise the same condition end with one alert: the database's partial unique index
        refuses the second insert, and the loser retries as an update.
        """
        values = {
            "home": _text(home, "home"),
            "rule": _text(rule, "rule"),
            "room": room.strip() or None if room is not None else None,
            "rule_version": rule_version,
            "category": _enum_value(Category, category),
            "audience": _enum_value(Audience, audience),
            "severity": _enum_value(Severity, severity),
        }
        when = self._now(at)
        body = {"summary": _text(summary, "summary"), **_json_object(evidence or {})}
        body.setdefault("observed_at", when.isoformat())
        for _attempt in range(_RACE_RETRIES):
            try:
                with self._session(write=True) as session:
                    return self._raise_in(session, values, body, when, actor)
            except sa_exc.IntegrityError as exc:
                if "uq_alert_open" not in str(exc):
                    raise StoreUnavailable(f"integrity error: {exc}") from exc
                # Another worker opened the same alert first: go round again and update it.
                continue
        raise StoreUnavailable(
            f"could not raise {rule} for {home}/{room} after {_RACE_RETRIES} attempts"
        )

    def _raise_in(
        self,
        session: Session,
        values: dict[str, Any],
        body: dict[str, Any],
        when: dt.datetime,
        actor: str,
    ) -> RaiseResult:
        severity: Severity = values["severity"]
        row = self._open_for(session, values["home"], values["rule"], values["room"])
        action: Literal["raised", "updated", "reopened"]
        if row is not None:
            action = "updated"
            self._update(session, row, values, body, when, actor)
        else:
            row = self._reopenable(session, values, when)
            if row is not None:
                action = "reopened"
                was = row.severity
                row.severity = max(row.severity, severity, key=lambda s: s.rank)
                restored = State.OPEN
                if row.assigned_to is not None:
                    restored = State.ASSIGNED
                elif row.acknowledged_by is not None:
                    restored = State.ACKNOWLEDGED
                detail = {
                    "cleared_at": _iso(row.resolved_at),
                    "severity_from": was.value,
                    "severity": row.severity.value,
                    "state": restored.value,
                    "summary": body["summary"],
                }
                row.state = restored
                row.outcome = None
                row.resolved_at = None
                row.resolved_by = None
                row.reopen_count += 1
                row.last_seen_at = max(row.last_seen_at, when)
                row.evidence = body
                row.rule_version = values["rule_version"]
                session.flush()  # the unique index speaks now, inside the retry loop
                self._record(session, row, Action.REOPENED, actor, when, **detail)
            else:
                action = "raised"
                row = Alert(
                    **values,
                    state=State.OPEN,
                    first_raised_at=when,
                    last_seen_at=when,
                    evidence=body,
                    reopen_count=0,
                )
                session.add(row)
                session.flush()
                self._record(
                    session,
                    row,
                    Action.RAISED,
                    actor,
                    when,
                    severity=severity.value,
                    rule_version=row.rule_version,
                    summary=body["summary"],
                    evidence=body,
                )
            if self.aware_from == "raised":
                started = self._start_clocks(row, when)
                if started is not None:
                    self._record(session, row, Action.UPDATED, actor, when, clocks=started)
        session.flush()
        return RaiseResult(AlertView.of(row, when), action)

    def _update(
        self,
        session: Session,
        row: Alert,
        values: dict[str, Any],
        body: dict[str, Any],
        when: dt.datetime,
        actor: str,
    ) -> None:
        new: Severity = values["severity"]
        was = row.severity
        worse = new.rank > was.rank
        version_changed = values["rule_version"] != row.rule_version
        if worse:
            row.severity = new
        row.rule_version = values["rule_version"]
        # Evidence from a late, out-of-order evaluation must not move the case backwards.
        if when >= row.last_seen_at:
            row.last_seen_at = when
            row.evidence = body
        last_recorded = session.scalar(
            sa.select(sa.func.max(AlertHistory.at)).where(
                AlertHistory.alert_id == row.id,
                AlertHistory.action.in_([Action.RAISED, Action.UPDATED, Action.REOPENED]),
            )
        )
        stale = last_recorded is None or when - _utc(last_recorded) >= self.update_history_every
        detail: dict[str, Any] = {"severity": row.severity.value, "summary": body["summary"]}
        if worse:
            detail["severity_from"] = was.value
        if version_changed:
            detail["rule_version"] = row.rule_version
        clocks = self._start_clocks(row, when) if self.aware_from == "raised" else None
        if clocks is not None:
            detail["clocks"] = clocks
        if worse or version_changed or clocks is not None or stale:
            self._record(session, row, Action.UPDATED, actor, when, **detail, evidence=body)

    def _reopenable(
        self, session: Session, values: dict[str, Any], when: dt.datetime
    ) -> Alert | None:
        if values["category"] not in SELF_CLEARING:
            return None
        newest = session.scalars(
            sa.select(Alert)
            .where(
                *self._key(values["home"], values["rule"], values["room"]),
                Alert.state == State.RESOLVED,
            )
            .order_by(Alert.resolved_at.desc(), Alert.id.desc())
            .limit(1)
            .with_for_update()
        ).one_or_none()
        if newest is None or newest.outcome is not Outcome.CLEARED or newest.resolved_at is None:
            return None
        return newest if when - newest.resolved_at <= self.reopen_window else None

    def clear(
        self,
        *,
        home: str,
        rule: str,
        room: str | None = None,
        summary: str = "The condition has cleared.",
        at: dt.datetime | None = None,
        actor: str = "rules",
    ) -> AlertView | None:
        """The condition has gone by itself: resolve the open alert with outcome `cleared`.

        None when nothing is open for that condition (a clear is repeated while it stays clear).
        """
        when = self._now(at)
        with self._session(write=True) as session:
            row = self._open_for(session, home, rule, room)
            if row is None:
                return None
            if row.category not in SELF_CLEARING:
                raise TransitionRefused(
                    StoreReason.NOT_SELF_CLEARING,
                    f"alert {row.id} is {row.category.value}, which a person must resolve",
                )
            self._close(row, Outcome.CLEARED, actor, when)
            self._record(session, row, Action.CLEARED, actor, when, summary=summary)
            session.flush()
            return AlertView.of(row, when)

    def withdraw(
        self,
        *,
        home: str,
        rule: str,
        room: str | None = None,
        reason: str = "Cancelled by the wearer within the confirm window.",
        at: dt.datetime | None = None,
        actor: str = "rules",
    ) -> AlertView | None:
        """Withdraw the open alert (e.g. a fall cancelled in time): resolved, `withdrawn`.

        None when nothing is open for that condition.
        """
        when = self._now(at)
        with self._session(write=True) as session:
            row = self._open_for(session, home, rule, room)
            if row is None:
                return None
            self._close(row, Outcome.WITHDRAWN, actor, when)
            self._record(session, row, Action.WITHDRAWN, actor, when, reason=reason)
            session.flush()
            return AlertView.of(row, when)

    @staticmethod
    def _close(row: Alert, outcome: Outcome, actor: str, when: dt.datetime) -> None:
        row.state = State.RESOLVED
        row.outcome = outcome
        row.resolved_by = actor
        row.resolved_at = when

    # -- the people's side ---------------------------------------------------------------------

    def acknowledge(self, alert_id: int, *, by: str, at: dt.datetime | None = None) -> AlertView:
        """Someone has seen the alert and is on it (only from `open`)."""
        by = _text(by, "by")
        when = self._now(at)
        with self._session(write=True) as session:
            row = self._locked(session, alert_id)
            self._refuse_resolved(row, "acknowledge")
            if row.state is not State.OPEN:
                raise TransitionRefused(
                    StoreReason.ALREADY_ACKNOWLEDGED,
                    f"alert {row.id} was acknowledged by {row.acknowledged_by} "
                    f"at {_iso(row.acknowledged_at)}",
                )
            row.state = State.ACKNOWLEDGED
            row.acknowledged_by = by
            row.acknowledged_at = when
            self._record(session, row, Action.ACKNOWLEDGED, by, when)
            session.flush()
            return AlertView.of(row, when)

    def assign(
        self,
        alert_id: int,
        *,
        to: str,
        by: str,
        kind: AssigneeKind | str = AssigneeKind.PERSON,
        at: dt.datetime | None = None,
    ) -> AlertView:
        """Give the alert to a person or a team; assigning an open alert acknowledges it too."""
        to, by = _text(to, "to"), _text(by, "by")
        assignee_kind = _enum_value(AssigneeKind, kind)
        when = self._now(at)
        with self._session(write=True) as session:
            row = self._locked(session, alert_id)
            self._refuse_resolved(row, "assign")
            detail: dict[str, Any] = {"to": to, "kind": assignee_kind.value}
            if row.assigned_to is not None:
                detail["from"] = row.assigned_to
            if row.acknowledged_by is None:
                row.acknowledged_by = by
                row.acknowledged_at = when
            row.state = State.ASSIGNED
            row.assigned_to = to
            row.assignee_kind = assignee_kind
            row.assigned_by = by
            row.assigned_at = when
            self._record(session, row, Action.ASSIGNED, by, when, **detail)
            session.flush()
            return AlertView.of(row, when)

    def resolve(
        self,
        alert_id: int,
        *,
        outcome: Outcome | str,
        by: str,
        note: str | None = None,
        at: dt.datetime | None = None,
    ) -> AlertView:
        """Close the case with an outcome (not `cleared`, which only the sensor can say)."""
        by = _text(by, "by")
        result = _enum_value(Outcome, outcome)
        if result is Outcome.CLEARED:
            raise TransitionRefused(
                StoreReason.OUTCOME_RESERVED,
                "`cleared` means the condition went away by itself; the rules say that (clear())",
            )
        when = self._now(at)
        with self._session(write=True) as session:
            row = self._locked(session, alert_id)
            self._refuse_resolved(row, "resolve")
            self._close(row, result, by, when)
            detail: dict[str, Any] = {"outcome": result.value}
            if note:
                detail["note"] = note
            self._record(session, row, Action.RESOLVED, by, when, **detail)
            session.flush()
            return AlertView.of(row, when)

    def add_note(
        self, alert_id: int, *, by: str, text: str, at: dt.datetime | None = None
    ) -> HistoryEntry:
        """A note on the case, in any state (a resolved case can still be annotated)."""
        by, text = _text(by, "by"), _text(text, "text")
        when = self._now(at)
        with self._session(write=True) as session:
            row = self._locked(session, alert_id)
            entry = self._record(session, row, Action.NOTE, by, when, text=text)
            session.flush()
            return HistoryEntry.of(entry)

    def confirm(self, alert_id: int, *, by: str, at: dt.datetime | None = None) -> AlertView:
        """An officer confirms the potential hazard; under `aware_from="confirmed"` clocks start."""
        by = _text(by, "by")
        when = self._now(at)
        with self._session(write=True) as session:
            row = self._locked(session, alert_id)
            self._refuse_resolved(row, "confirm")
            if any(
                e.action is Action.CONFIRMED
                for e in session.scalars(
                    sa.select(AlertHistory).where(AlertHistory.alert_id == row.id)
                )
            ):
                raise TransitionRefused(
                    StoreReason.ALREADY_CONFIRMED, f"alert {row.id} is confirmed already"
                )
            detail: dict[str, Any] = {}
            if self.aware_from == "confirmed":
                started = self._start_clocks(row, when)
                if started is not None:
                    detail["clocks"] = started
            self._record(session, row, Action.CONFIRMED, by, when, **detail)
            session.flush()
            return AlertView.of(row, when)

    def record_duty(
        self, alert_id: int, duty: Duty | str, *, by: str, at: dt.datetime | None = None
    ) -> AlertView:
        """Record an Awaab's Law duty as done; the investigation's end starts the later clocks."""
        by = _text(by, "by")
        done = _enum_value(Duty, duty)
        when = self._now(at)
        with self._session(write=True) as session:
            row = self._locked(session, alert_id)
            found = self._case_clocks(row) if row.clock_class is not None else None
            if found is None or row.became_aware_at is None:
                raise TransitionRefused(
                    StoreReason.NO_CLOCKS, f"alert {row.id} carries no Awaab's Law clocks"
                )
            _klass, clocks = found
            column = {
                Duty.INVESTIGATED: "investigation_ended_at",
                Duty.SUMMARY_SENT: "summary_sent_at",
                Duty.MADE_SAFE: "works_done_at",
                Duty.FURTHER_WORKS_STARTED: "further_works_started_at",
            }[done]
            if getattr(row, column) is not None:
                raise TransitionRefused(
                    StoreReason.DUTY_ALREADY_RECORDED,
                    f"{done.value} was recorded for alert {row.id} at {getattr(row, column)}",
                )
            if done in (Duty.SUMMARY_SENT, Duty.FURTHER_WORKS_STARTED) and (
                row.investigation_ended_at is None
            ):
                raise TransitionRefused(
                    StoreReason.DUTY_OUT_OF_ORDER,
                    f"record the investigation's end on alert {row.id} before {done.value}",
                )
            setattr(row, column, when)
            detail: dict[str, Any] = {"duty": done.value}
            if done is Duty.INVESTIGATED:
                dues = dues_after_investigation(clocks, row.became_aware_at, when)
                row.summary_due = dues.summary_due
                if row.works_done_at is None:
                    row.works_due = dues.works_due
                row.further_works_due = dues.further_works_due
                detail.update(
                    summary_due=_iso(row.summary_due),
                    works_due=_iso(row.works_due),
                    further_works_due=_iso(row.further_works_due),
                )
            self._record(session, row, Action.DUTY, by, when, **detail)
            session.flush()
            return AlertView.of(row, when)

    # -- reading -------------------------------------------------------------------------------

    def get(self, alert_id: int, *, at: dt.datetime | None = None) -> AlertDetail:
        """The alert with its evidence and whole history, oldest first."""
        when = self._now(at)
        with self._session(write=False) as session:
            row = session.get(Alert, alert_id)
            if row is None:
                raise AlertNotFound(f"no alert {alert_id}")
            history = session.scalars(
                sa.select(AlertHistory)
                .where(AlertHistory.alert_id == alert_id)
                .order_by(AlertHistory.id)
            ).all()
            return AlertDetail(AlertView.of(row, when), tuple(HistoryEntry.of(h) for h in history))

    def list(
        self,
        where: AlertFilter | None = None,
        *,
        order: Literal["urgent", "newest"] = "urgent",
        limit: int = 50,
        offset: int = 0,
        at: dt.datetime | None = None,
    ) -> Page:
        """Alerts matching `where`: most urgent (worst severity, then latest) or newest first.

        An audience filter also matches alerts for `both`.
        """
        if not 1 <= limit <= self.page_size_max:
            raise AlertStoreError(
                StoreReason.BAD_INPUT, f"limit must be 1..{self.page_size_max}, not {limit}"
            )
        if offset < 0:
            raise AlertStoreError(StoreReason.BAD_INPUT, f"offset must be >= 0, not {offset}")
        when = self._now(at)
        conditions = _conditions(where or AlertFilter(), when)
        ordering: list[sa.ColumnElement[Any]]
        if order == "urgent":
            ordering = [_urgency().desc(), Alert.last_seen_at.desc(), Alert.id.desc()]
        else:
            ordering = [Alert.first_raised_at.desc(), Alert.id.desc()]
        with self._session(write=False) as session:
            total = session.scalar(sa.select(sa.func.count()).select_from(Alert).where(*conditions))
            rows = session.scalars(
                sa.select(Alert).where(*conditions).order_by(*ordering).limit(limit).offset(offset)
            ).all()
            return Page(tuple(AlertView.of(r, when) for r in rows), total or 0, limit, offset)


def _conditions(where: AlertFilter, now: dt.datetime) -> list[sa.ColumnElement[bool]]:
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
        conditions.append(_overdue(now) if where.overdue else sa.not_(_overdue(now)))
    return conditions


def _overdue(now: dt.datetime) -> sa.ColumnElement[bool]:
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


def _earliest(*times: dt.datetime | None) -> dt.datetime | None:
    present = [t for t in times if t is not None]
    return min(present) if present else None


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
