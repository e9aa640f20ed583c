"""Environmental alerts clear themselves and reopen as the same case within the window."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alertstore_fixtures import *  # noqa: F403  (pytest fixtures, by name)

from hof.alertstore import Action, AlertStore, Outcome, State

COLD = dict(
    home="H-5",
    room="living",
    rule="excess_cold",
    rule_version=2,
    category="cold",
    audience="housing_officer",
    severity="significant",
    summary="Living room below 16 °C for 7 of the last 24 hours.",
)


def test_clear_then_reopen_within_the_window(
    make_store: Callable[..., AlertStore], clock: Any
) -> None:
    import datetime as dt

    store = make_store(reopen_window=dt.timedelta(hours=48))
    alert = store.raise_or_update(**COLD).alert
    store.assign(alert.id, to="surveyor.dee", by="officer.ann")
    clock.advance(hours=5)
    cleared = store.clear(home="H-5", rule="excess_cold", room="living", summary="Back above 18 °C")
    assert cleared is not None
    assert (cleared.state, cleared.outcome) == (State.RESOLVED, Outcome.CLEARED)
    assert store.clear(home="H-5", rule="excess_cold", room="living") is None  # repeated clear

    clock.advance(hours=47)
    again = store.raise_or_update(**{**COLD, "severity": "watch"})
    assert again.action == "reopened"
    assert again.alert.id == alert.id
    # The same case carries on: still with the surveyor, worst severity, reopen counted.
    assert again.alert.state is State.ASSIGNED
    assert again.alert.assigned_to == "surveyor.dee"
    assert again.alert.outcome is None
    assert again.alert.severity.value == "significant"
    assert again.alert.reopen_count == 1
    assert again.alert.first_raised_at == alert.first_raised_at
    # Its Awaab's Law clocks did not restart.
    assert again.alert.clocks.became_aware_at == alert.clocks.became_aware_at

    actions = [e.action for e in store.get(alert.id).history]
    assert Action.CLEARED in actions
    assert actions[-1] is Action.REOPENED
    assert store.get(alert.id).history[-1].detail["state"] == "assigned"


def test_returning_after_the_window_is_a_new_case(
    make_store: Callable[..., AlertStore], clock: Any
) -> None:
    import datetime as dt

    store = make_store(reopen_window=dt.timedelta(hours=24))
    first = store.raise_or_update(**COLD).alert
    store.clear(home="H-5", rule="excess_cold", room="living")
    clock.advance(hours=25)
    again = store.raise_or_update(**COLD)
    assert again.action == "raised"
    assert again.alert.id != first.id


def test_a_case_a_person_closed_is_not_reopened(store: AlertStore, clock: Any) -> None:
    first = store.raise_or_update(**COLD).alert
    store.resolve(first.id, outcome="fixed", by="surveyor.dee")
    clock.advance(minutes=10)
    again = store.raise_or_update(**COLD)
    assert again.action == "raised"
    assert again.alert.id != first.id
