"""The lifecycle against a model, driven by hypothesis through random sequences of calls."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from alertstore_fixtures import *  # noqa: F403  (pytest fixtures, by name)
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from hof.alertstore import AlertFilter, AlertStore, State, StoreReason, TransitionRefused

WINDOW = dt.timedelta(hours=72)
RULES = {"damp": ("damp_mould", True), "fall": ("fall", False)}  # category, self-clearing
KEYS = st.tuples(st.sampled_from(sorted(RULES)), st.sampled_from(["bedroom", None]))
SEVERITIES = ["watch", "significant", "severe", "emergency"]


@dataclass
class Case:
    """What the model expects of one alert."""

    key: tuple[str, str | None]
    state: str = "open"
    outcome: str | None = None
    resolved_at: dt.datetime | None = None
    acknowledged: bool = False
    assigned: bool = False
    severity: int = 0


class Lifecycle(RuleBasedStateMachine):
    def __init__(self, store: AlertStore, clock: Any) -> None:
        super().__init__()
        self.store = store
        self.clock = clock
        self.home = f"SM-{uuid.uuid4().hex[:10]}"  # examples share the database
        self.cases: dict[int, Case] = {}

    def _open(self, key: tuple[str, str | None]) -> int | None:
        found = [i for i, c in self.cases.items() if c.key == key and c.state != "resolved"]
        assert len(found) <= 1
        return found[0] if found else None

    def _refused(self, call: Any, reason: StoreReason) -> None:
        with pytest.raises(TransitionRefused) as refused:
            call()
        assert refused.value.reason is reason

    @rule(key=KEYS, severity=st.integers(0, 3))
    def raise_(self, key: tuple[str, str | None], severity: int) -> None:
        rule_name, room = key
        category, self_clearing = RULES[rule_name]
        result = self.store.raise_or_update(
            home=self.home,
            rule=rule_name,
            room=room,
            rule_version=1,
            category=category,
            audience="both",
            severity=SEVERITIES[severity],
            summary="A finding.",
        )
        open_id = self._open(key)
        resolved = [
            (c.resolved_at, i)
            for i, c in self.cases.items()
            if c.key == key and c.state == "resolved"
        ]
        newest = max(resolved) if resolved else None
        if open_id is not None:
            assert (result.action, result.alert.id) == ("updated", open_id)
            case = self.cases[open_id]
        elif (
            self_clearing
            and newest is not None
            and self.cases[newest[1]].outcome == "cleared"
            and self.clock.now - newest[0] <= WINDOW
        ):
            assert (result.action, result.alert.id) == ("reopened", newest[1])
            case = self.cases[newest[1]]
            case.state = (
                "assigned" if case.assigned else "acknowledged" if case.acknowledged else "open"
            )
            case.outcome = case.resolved_at = None
        else:
            assert result.action == "raised"
            assert result.alert.id not in self.cases
            case = self.cases[result.alert.id] = Case(key)
        case.severity = max(case.severity, severity)
        assert result.alert.state.value == case.state
        assert result.alert.severity.value == SEVERITIES[case.severity]

    @precondition(lambda self: self.cases)
    @rule(data=st.data())
    def acknowledge(self, data: st.DataObject) -> None:
        alert_id = data.draw(st.sampled_from(sorted(self.cases)))
        case = self.cases[alert_id]
        call = lambda: self.store.acknowledge(alert_id, by="ann")  # noqa: E731
        if case.state == "resolved":
            self._refused(call, StoreReason.ALREADY_RESOLVED)
        elif case.state != "open":
            self._refused(call, StoreReason.ALREADY_ACKNOWLEDGED)
        else:
            assert call().state is State.ACKNOWLEDGED
            case.state, case.acknowledged = "acknowledged", True

    @precondition(lambda self: self.cases)
    @rule(data=st.data())
    def assign(self, data: st.DataObject) -> None:
        alert_id = data.draw(st.sampled_from(sorted(self.cases)))
        case = self.cases[alert_id]
        call = lambda: self.store.assign(alert_id, to="team", kind="team", by="ann")  # noqa: E731
        if case.state == "resolved":
            self._refused(call, StoreReason.ALREADY_RESOLVED)
        else:
            assert call().state is State.ASSIGNED
            case.state, case.acknowledged, case.assigned = "assigned", True, True

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), outcome=st.sampled_from(["fixed", "false_alarm", "no_access"]))
    def resolve(self, data: st.DataObject, outcome: str) -> None:
        alert_id = data.draw(st.sampled_from(sorted(self.cases)))
        case = self.cases[alert_id]
        call = lambda: self.store.resolve(alert_id, outcome=outcome, by="ann")  # noqa: E731
        if case.state == "resolved":
            self._refused(call, StoreReason.ALREADY_RESOLVED)
        else:
            call()
            case.state, case.outcome, case.resolved_at = "resolved", outcome, self.clock.now

    @rule(key=KEYS)
    def clear(self, key: tuple[str, str | None]) -> None:
        open_id = self._open(key)
        call = lambda: self.store.clear(home=self.home, rule=key[0], room=key[1])  # noqa: E731
        if open_id is None:
            assert call() is None
        elif not RULES[key[0]][1]:
            self._refused(call, StoreReason.NOT_SELF_CLEARING)
        else:
            view = call()
            assert view is not None
            assert view.id == open_id
            case = self.cases[open_id]
            case.state, case.outcome, case.resolved_at = "resolved", "cleared", self.clock.now

    @rule(key=KEYS)
    def withdraw(self, key: tuple[str, str | None]) -> None:
        open_id = self._open(key)
        view = self.store.withdraw(home=self.home, rule=key[0], room=key[1])
        if open_id is None:
            assert view is None
        else:
            assert view is not None
            assert view.id == open_id
            case = self.cases[open_id]
            case.state, case.outcome, case.resolved_at = "resolved", "withdrawn", self.clock.now

    @rule(hours=st.sampled_from([1, 24, 71, 73]))
    def time_passes(self, hours: int) -> None:
        self.clock.advance(hours=hours)

    @invariant()
    def store_agrees_with_the_model(self) -> None:
        page = self.store.list(AlertFilter(homes=[self.home]), limit=500)
        assert page.total == len(self.cases)
        for alert in page.items:
            case = self.cases[alert.id]
            assert alert.state.value == case.state
            assert (alert.outcome.value if alert.outcome else None) == case.outcome
            assert (
                sum(
                    1
                    for a in page.items
                    if a.state is not State.RESOLVED
                    and (a.rule, a.room) == (alert.rule, alert.room)
                )
                <= 1
            )


def test_lifecycle_matches_the_model(make_store: Any, clock: Any) -> None:
    store = make_store(reopen_window=WINDOW)
    run_state_machine_as_test(
        lambda: Lifecycle(store, clock),
        settings=settings(
            max_examples=20,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
