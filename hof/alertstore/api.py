"""The alert store's typed API: raise, update, clear, withdraw, acknowledge, assign, resolve, list.

Every method is one database transaction. Transitions are checked against the alert's state
inside that transaction (the row is locked on PostgreSQL; SQLite writers queue with BEGIN
IMMEDIATE), and refusals raise `TransitionRefused` with a reason. Methods are synchronous and
thread-safe; an asyncio service calls them through `AsyncAlertStore`, which runs them in
worker threads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hof.alertstore import direct
from hof.alertstore.awaab import DEFAULT_CLOCKS, ClockPolicy
from hof.alertstore.caseclocks import case_clocks, end_investigation, iso, start_clocks
from hof.alertstore.engine import WRITE, make_engine, store_url
from hof.alertstore.errors import (
    AlertNotFound,
    AlertStoreError,
    StoreReason,
    StoreUnavailable,
    TransitionRefused,
)
from hof.alertstore.eventraise import (
    EvidenceWithOpen,
    RaiseRequest,
    raise_events_in,
    raise_plain_direct,
)
from hof.alertstore.history import record
from hof.alertstore.inputs import (
    ConditionKey,
    aware_utc,
    check_rule_version,
    condition_key,
    json_object,
    nonempty,
    parse_enum,
)
from hof.alertstore.models import Alert, AlertHistory
from hof.alertstore.queries import filter_conditions, locked, open_for, urgency
from hof.alertstore.raising import Finding, RaisePolicy, raise_in, update_in
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

# How often a raise goes round again after losing a race on the unique index. One retry is
# enough in principle (the winner's row is then visible); more only under pathological churn.
_RACE_RETRIES = 5

_T = TypeVar("_T")

_DUTY_COLUMNS = {
    Duty.INVESTIGATED: "investigation_ended_at",
    Duty.SUMMARY_SENT: "summary_sent_at",
    Duty.MADE_SAFE: "works_done_at",
    Duty.FURTHER_WORKS_STARTED: "further_works_started_at",
}


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _checked(request: RaiseRequest, when: dt.datetime, actor: str) -> Finding:
    """A raise's input checked, as the finding the store writes (AlertStoreError if bad)."""
    body = {
        "summary": nonempty(request.summary, "summary", 2000),
        **json_object(request.evidence or {}),
    }
    body.setdefault("observed_at", when.isoformat())
    return Finding(
        key=condition_key(request.home, request.rule, request.room),
        rule_version=check_rule_version(request.rule_version),
        category=parse_enum(Category, request.category),
        audience=parse_enum(Audience, request.audience),
        severity=parse_enum(Severity, request.severity),
        evidence=body,
        at=when,
        actor=actor,
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
        self.page_size_max = page_size_max
        self._policy = RaisePolicy(clocks, aware_from, reopen_window, update_history_every)
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

    # -- plumbing ------------------------------------------------------------------------------

    @contextmanager
    def _session(self, *, write: bool) -> Iterator[Session]:
        try:
            with self.engine.connect() as connection:
                if write:
                    connection = connection.execution_options(**{WRITE: True})
                with Session(bind=connection, expire_on_commit=False) as session, session.begin():
                    yield session
        except sa_exc.IntegrityError:
            raise  # raise_or_update expects a lost race; anything else is translated there
        except sa_exc.SQLAlchemyError as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def _now(self, at: dt.datetime | None) -> dt.datetime:
        return aware_utc(at if at is not None else self._clock())

    @staticmethod
    def _refuse_resolved(row: Alert, doing: str) -> None:
        if row.state is State.RESOLVED:
            raise TransitionRefused(
                StoreReason.ALREADY_RESOLVED,
                f"alert {row.id} was resolved ({row.outcome}) at {iso(row.resolved_at)}; "
                f"cannot {doing} it",
            )

    @staticmethod
    def _close(row: Alert, outcome: Outcome, actor: str, when: dt.datetime) -> None:
        row.state = State.RESOLVED
        row.outcome = outcome
        row.resolved_by = actor
        row.resolved_at = when

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
        request = RaiseRequest(
            home, rule, rule_version, category, audience, severity, summary, evidence, room
        )
        finding = _checked(request, self._now(at), nonempty(actor, "actor"))
        return self._raced(
            lambda session: raise_in(session, self._policy, finding),
            f"{rule} for {home}/{room}",
        )

    def update_open(
        self, request: RaiseRequest, *, at: dt.datetime | None = None, actor: str = "rules"
    ) -> RaiseResult | None:
        """Update the open alert of `request`'s condition with its words and evidence, kept in
        its history; None, with nothing written, when none is open. For what a rule says of a
        case it is letting go (its signs gone, waiting out its hold), which must not open one:
        `raise_or_update` would open a new case where an officer had closed the last.
        """
        finding = _checked(request, self._now(at), nonempty(actor, "actor"))
        with self._session(write=True) as session:
            return update_in(session, self._policy, finding)

    def raise_events(
        self,
        requests: Sequence[RaiseRequest],
        *,
        evidence_with_open: EvidenceWithOpen | None = None,
        at: dt.datetime | None = None,
        actor: str = "rules",
    ) -> list[RaiseResult | AlertStoreError | None]:
        """Raise a batch of findings in order, in one transaction (a group commit).

        Each is what `raise_or_update` would do with it, except that an event already in the
        store (an alert of a category a person resolves, same home and rule, whose evidence has
        the same `time`) is a repeat: None, and nothing is written. `evidence_with_open` gives
        the evidence to store from the finding's and its open alert's. A request the store
        refuses (bad input) is its error, in its place; the others are raised.
        """
        when, actor = self._now(at), nonempty(actor, "actor")
        results: list[RaiseResult | AlertStoreError | None] = []
        checked: list[Finding] = []
        for request in requests:
            try:
                checked.append(_checked(request, when, actor))
                results.append(None)
            except AlertStoreError as exc:
                results.append(exc)
        plain = self._raise_plain(checked, evidence_with_open)
        raised = iter(
            plain
            if plain is not None
            else self._raced(
                lambda session: raise_events_in(session, self._policy, checked, evidence_with_open),
                f"{len(checked)} events",
            )
        )
        return [r if isinstance(r, AlertStoreError) else next(raised) for r in results]

    def _raise_plain(
        self, checked: Sequence[Finding], evidence_with_open: EvidenceWithOpen | None
    ) -> list[RaiseResult | None] | None:
        """The batch raised below SQLAlchemy when every finding is a plain new alert (a
        fall: hof.alertstore.direct); None, with nothing written, when the batch needs the
        ORM's path or lost a race to another worker's insert (that path retries as an update).
        """
        try:
            with direct.write(self.engine) as tx:
                return raise_plain_direct(tx, self._policy, checked, evidence_with_open)
        except sa_exc.IntegrityError as exc:
            if "uq_alert_open" not in str(exc):
                raise StoreUnavailable(f"integrity error: {exc}") from exc
            return None
        except sa_exc.SQLAlchemyError as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def _raced(self, write: Callable[[Session], _T], what: str) -> _T:
        """One write transaction, gone through again when it lost a race on uq_alert_open."""
        for _attempt in range(_RACE_RETRIES):
            try:
                with self._session(write=True) as session:
                    return write(session)
            except sa_exc.IntegrityError as exc:
                if "uq_alert_open" not in str(exc):
                    raise StoreUnavailable(f"integrity error: {exc}") from exc
                # Another worker opened the same alert first: go round again and update it.
        raise StoreUnavailable(f"could not raise {what} after {_RACE_RETRIES} attempts")

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
        return self._end(
            condition_key(home, rule, room), Outcome.CLEARED, actor, at, summary=summary
        )

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
        return self._end(
            condition_key(home, rule, room), Outcome.WITHDRAWN, actor, at, reason=reason
        )

    def _end(
        self,
        key: ConditionKey,
        outcome: Outcome,
        actor: str,
        at: dt.datetime | None,
        **detail: str,
    ) -> AlertView | None:
        when = self._now(at)
        with self._session(write=True) as session:
            row = open_for(session, key)
            if row is None:
                return None
            if outcome is Outcome.CLEARED and row.category not in SELF_CLEARING:
                raise TransitionRefused(
                    StoreReason.NOT_SELF_CLEARING,
                    f"alert {row.id} is {row.category.value}, which a person must resolve",
                )
            self._close(row, outcome, actor, when)
            action = Action.CLEARED if outcome is Outcome.CLEARED else Action.WITHDRAWN
            record(session, row, action, actor, when, **detail)
            session.flush()
            return AlertView.of(row, when)

    # -- the people's side ---------------------------------------------------------------------

    def acknowledge(self, alert_id: int, *, by: str, at: dt.datetime | None = None) -> AlertView:
        """Someone has seen the alert and is on it (only from `open`)."""
        by = nonempty(by, "by")
        when = self._now(at)
        with self._session(write=True) as session:
            row = locked(session, alert_id)
            self._refuse_resolved(row, "acknowledge")
            if row.state is not State.OPEN:
                raise TransitionRefused(
                    StoreReason.ALREADY_ACKNOWLEDGED,
                    f"alert {row.id} was acknowledged by {row.acknowledged_by} "
                    f"at {iso(row.acknowledged_at)}",
                )
            row.state = State.ACKNOWLEDGED
            row.acknowledged_by = by
            row.acknowledged_at = when
            record(session, row, Action.ACKNOWLEDGED, by, when)
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
        to, by = nonempty(to, "to"), nonempty(by, "by")
        assignee_kind = parse_enum(AssigneeKind, kind)
        when = self._now(at)
        with self._session(write=True) as session:
            row = locked(session, alert_id)
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
            record(session, row, Action.ASSIGNED, by, when, **detail)
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
        by = nonempty(by, "by")
        result = parse_enum(Outcome, outcome)
        if result is Outcome.CLEARED:
            raise TransitionRefused(
                StoreReason.OUTCOME_RESERVED,
                "`cleared` means the condition went away by itself; the rules say that (clear())",
            )
        when = self._now(at)
        with self._session(write=True) as session:
            row = locked(session, alert_id)
            self._refuse_resolved(row, "resolve")
            self._close(row, result, by, when)
            detail: dict[str, Any] = {"outcome": result.value}
            if note:
                detail["note"] = note
            record(session, row, Action.RESOLVED, by, when, **detail)
            session.flush()
            return AlertView.of(row, when)

    def add_note(
        self, alert_id: int, *, by: str, text: str, at: dt.datetime | None = None
    ) -> HistoryEntry:
        """A note on the case, in any state (a resolved case can still be annotated)."""
        by, text = nonempty(by, "by"), nonempty(text, "text")
        when = self._now(at)
        with self._session(write=True) as session:
            row = locked(session, alert_id)
            entry = record(session, row, Action.NOTE, by, when, text=text)
            session.flush()
            return HistoryEntry.of(entry)

    def confirm(self, alert_id: int, *, by: str, at: dt.datetime | None = None) -> AlertView:
        """An officer confirms the potential hazard; under `aware_from="confirmed"` clocks start."""
        by = nonempty(by, "by")
        when = self._now(at)
        with self._session(write=True) as session:
            row = locked(session, alert_id)
            self._refuse_resolved(row, "confirm")
            confirmed = session.scalar(
                sa.select(sa.func.count()).where(
                    AlertHistory.alert_id == row.id, AlertHistory.action == Action.CONFIRMED
                )
            )
            if confirmed:
                raise TransitionRefused(
                    StoreReason.ALREADY_CONFIRMED, f"alert {row.id} is confirmed already"
                )
            detail: dict[str, Any] = {}
            if self.aware_from == "confirmed":
                started = start_clocks(self.clocks, row, when)
                if started is not None:
                    detail["clocks"] = started
            record(session, row, Action.CONFIRMED, by, when, **detail)
            session.flush()
            return AlertView.of(row, when)

    def record_duty(
        self, alert_id: int, duty: Duty | str, *, by: str, at: dt.datetime | None = None
    ) -> AlertView:
        """Record an Awaab's Law duty as done; the investigation's end starts the later clocks."""
        by = nonempty(by, "by")
        done = parse_enum(Duty, duty)
        when = self._now(at)
        with self._session(write=True) as session:
            row = locked(session, alert_id)
            found = case_clocks(self.clocks, row) if row.clock_class is not None else None
            if found is None or row.became_aware_at is None:
                raise TransitionRefused(
                    StoreReason.NO_CLOCKS, f"alert {row.id} carries no Awaab's Law clocks"
                )
            column = _DUTY_COLUMNS[done]
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
            detail: dict[str, Any] = {"duty": done.value}
            if done is Duty.INVESTIGATED:
                detail.update(end_investigation(found[1], row, when))
            else:
                setattr(row, column, when)
            record(session, row, Action.DUTY, by, when, **detail)
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

        An audience filter also matches alerts for `both`; `overdue` is judged at `at` (now).
        """
        if not 1 <= limit <= self.page_size_max:
            raise AlertStoreError(
                StoreReason.BAD_INPUT, f"limit must be 1..{self.page_size_max}, not {limit}"
            )
        if offset < 0:
            raise AlertStoreError(StoreReason.BAD_INPUT, f"offset must be >= 0, not {offset}")
        when = self._now(at)
        conditions = filter_conditions(where or AlertFilter(), when)
        ordering: list[sa.ColumnElement[Any]]
        if order == "urgent":
            ordering = [urgency().desc(), Alert.last_seen_at.desc(), Alert.id.desc()]
        else:
            ordering = [Alert.first_raised_at.desc(), Alert.id.desc()]
        with self._session(write=False) as session:
            total = session.scalar(sa.select(sa.func.count()).select_from(Alert).where(*conditions))
            rows = session.scalars(
                sa.select(Alert).where(*conditions).order_by(*ordering).limit(limit).offset(offset)
            ).all()
            return Page(tuple(AlertView.of(r, when) for r in rows), total or 0, limit, offset)
