"""The alert lifecycle on SQLite and PostgreSQL: raise, update, acknowledge, assign, resolve."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from alertstore_fixtures import *  # noqa: F403  (pytest fixtures, by name)

from hof.alertstore import (
    Action,
    AlertFilter,
    AlertNotFound,
    AlertStore,
    AlertStoreError,
    Outcome,
    Severity,
    State,
    StoreReason,
    TransitionRefused,
)
from hof.errors import HofError


def damp(store: AlertStore, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "home": "H-1",
        "room": "bedroom",
        "rule": "damp_air",
        "rule_version": 1,
        "category": "damp_mould",
        "audience": "housing_officer",
        "severity": "watch",
        "summary": "Bedroom air above 70 % RH for 14 of the last 24 hours.",
        "evidence": {"values": {"rh_hours_above": 14}, "thresholds": {"rh": 70, "hours": 12}},
    }
    values.update(overrides)
    return store.raise_or_update(**values)


def test_raise_then_acknowledge_assign_resolve(store: AlertStore) -> None:
    raised = damp(store)
    assert raised.action == "raised"
    alert = raised.alert
    assert alert.state is State.OPEN
    assert alert.evidence["summary"].startswith("Bedroom air")
    assert alert.evidence["thresholds"] == {"rh": 70, "hours": 12}

    acked = store.acknowledge(alert.id, by="officer.ann")
    assert acked.state is State.ACKNOWLEDGED
    assert acked.acknowledged_by == "officer.ann"
    assigned = store.assign(alert.id, to="damp-team", kind="team", by="officer.ann")
    assert (assigned.state, assigned.assigned_to) == (State.ASSIGNED, "damp-team")
    store.add_note(alert.id, by="surveyor.bob", text="Visit booked for Thursday.")
    resolved = store.resolve(alert.id, outcome="fixed", by="surveyor.bob", note="Extractor fitted")
    assert (resolved.state, resolved.outcome) == (State.RESOLVED, Outcome.FIXED)

    detail = store.get(alert.id)
    assert [e.action for e in detail.history] == [
        Action.RAISED,
        Action.ACKNOWLEDGED,
        Action.ASSIGNED,
        Action.NOTE,
        Action.RESOLVED,
    ]
    assert detail.notes[0].detail["text"] == "Visit booked for Thursday."
    assert detail.history[-1].actor == "surveyor.bob"
    assert detail.history[-1].detail == {"outcome": "fixed", "note": "Extractor fitted"}


def test_refusals_say_why(store: AlertStore) -> None:
    alert = damp(store).alert
    store.acknowledge(alert.id, by="ann")
    with pytest.raises(TransitionRefused) as twice:
        store.acknowledge(alert.id, by="bob")
    assert twice.value.reason is StoreReason.ALREADY_ACKNOWLEDGED
    assert "ann" in str(twice.value)

    store.resolve(alert.id, outcome=Outcome.FALSE_ALARM, by="ann")
    for attempt in (
        lambda: store.resolve(alert.id, outcome="fixed", by="bob"),
        lambda: store.acknowledge(alert.id, by="bob"),
        lambda: store.assign(alert.id, to="bob", by="bob"),
    ):
        with pytest.raises(TransitionRefused) as refused:
            attempt()
        assert refused.value.reason is StoreReason.ALREADY_RESOLVED
        assert isinstance(refused.value, HofError)
    # A resolved case can still be annotated.
    store.add_note(alert.id, by="bob", text="Tenant phoned to say thanks.")

    with pytest.raises(AlertNotFound):
        store.acknowledge(999_999, by="ann")
    with pytest.raises(TransitionRefused) as reserved:
        store.resolve(damp(store, rule="other").alert.id, outcome="cleared", by="ann")
    assert reserved.value.reason is StoreReason.OUTCOME_RESERVED
    with pytest.raises(AlertStoreError) as bad:
        store.resolve(alert.id, outcome="sorted", by="ann")
    assert bad.value.reason is StoreReason.BAD_INPUT
    with pytest.raises(AlertStoreError) as bad_category:
        damp(store, category="gremlins")
    assert "not a Category" in str(bad_category.value)
    with pytest.raises(AlertStoreError):
        damp(store, evidence={"when": dt.datetime.now()})  # not JSON data


def test_new_evidence_updates_the_open_alert_and_worst_severity_wins(
    store: AlertStore, clock: Any
) -> None:
    first = damp(store, severity="significant").alert
    clock.advance(minutes=30)
    second = damp(store, severity="watch", summary="Still damp, a little better.")
    assert second.action == "updated"
    assert second.alert.id == first.id
    assert second.alert.severity is Severity.SIGNIFICANT  # worst wins
    assert second.alert.last_seen_at == clock.now
    assert second.alert.first_raised_at == first.first_raised_at
    assert second.alert.evidence["summary"] == "Still damp, a little better."
    clock.advance(minutes=30)
    third = damp(store, severity="severe")
    assert third.alert.severity is Severity.SEVERE
    history = store.get(first.id).history
    updates = [e for e in history if e.action is Action.UPDATED and "severity_from" in e.detail]
    assert updates[-1].detail["severity_from"] == "significant"

    # A different room, or no room at all, is a different condition.
    other_room = damp(store, room="kitchen").alert
    whole_home = damp(store, room=None).alert
    assert len({first.id, other_room.id, whole_home.id}) == 3
    assert damp(store, room=None).alert.id == whole_home.id


def test_resolved_alert_does_not_absorb_new_evidence(store: AlertStore) -> None:
    alert = damp(store, category="leak", rule="water_leak", audience="both").alert
    store.resolve(alert.id, outcome="fixed", by="plumber")
    again = damp(store, category="leak", rule="water_leak", audience="both")
    assert again.action == "raised"
    assert again.alert.id != alert.id


def test_withdraw_a_cancelled_fall(store: AlertStore) -> None:
    fall = dict(
        rule="fall",
        room="hall",
        category="fall",
        audience="responder",
        severity="emergency",
        summary="Fall detected by the pendant: impact 3.1 g, then still.",
    )
    alert = damp(store, **fall).alert
    withdrawn = store.withdraw(home="H-1", rule="fall", room="hall", actor="pendant")
    assert withdrawn is not None
    assert (withdrawn.id, withdrawn.state, withdrawn.outcome) == (
        alert.id,
        State.RESOLVED,
        Outcome.WITHDRAWN,
    )
    assert store.withdraw(home="H-1", rule="fall", room="hall") is None
    assert store.get(alert.id).history[-1].action is Action.WITHDRAWN
    # A fall is not a condition that clears itself.
    damp(store, **fall)
    with pytest.raises(TransitionRefused) as refused:
        store.clear(home="H-1", rule="fall", room="hall")
    assert refused.value.reason is StoreReason.NOT_SELF_CLEARING


def test_list_filters_orders_and_pages(store: AlertStore, clock: Any) -> None:
    ids = {}
    for n, (home, severity, category, audience) in enumerate(
        [
            ("H-1", "watch", "damp_mould", "housing_officer"),
            ("H-2", "emergency", "fall", "responder"),
            ("H-3", "significant", "cold", "both"),
            ("H-4", "significant", "heat", "housing_officer"),
        ]
    ):
        clock.advance(minutes=1)
        ids[home] = damp(
            store,
            home=home,
            rule=f"r{n}",
            severity=severity,
            category=category,
            audience=audience,
        ).alert.id
    urgent = store.list()
    assert [a.home for a in urgent.items] == ["H-2", "H-4", "H-3", "H-1"]
    assert urgent.total == 4
    newest = store.list(order="newest")
    assert [a.home for a in newest.items] == ["H-4", "H-3", "H-2", "H-1"]
    page = store.list(limit=2, offset=2)
    assert ([a.home for a in page.items], page.total) == (["H-3", "H-1"], 4)

    officer = store.list(AlertFilter(audiences=["housing_officer"]))
    assert {a.home for a in officer.items} == {"H-1", "H-3", "H-4"}  # `both` included
    store.acknowledge(ids["H-2"], by="responder.cat")
    acked = store.list(AlertFilter(states=[State.ACKNOWLEDGED]))
    assert [a.home for a in acked.items] == ["H-2"]
    assert store.list(AlertFilter(homes=["H-3"], categories=["cold"])).total == 1
    assert store.list(AlertFilter(severities=["significant"])).total == 2
    with pytest.raises(AlertStoreError):
        store.list(limit=0)


def test_routine_updates_are_recorded_at_most_hourly(store: AlertStore, clock: Any) -> None:
    alert = damp(store).alert
    for _ in range(11):
        clock.advance(minutes=10)
        damp(store)
    updates = [e for e in store.get(alert.id).history if e.action is Action.UPDATED]
    # Raised at 0; evidence every 10 minutes to 110: written at 60 only. A worse severity is
    # written at once.
    assert len(updates) == 1
    clock.advance(minutes=1)
    damp(store, severity="severe")
    updates = [e for e in store.get(alert.id).history if e.action is Action.UPDATED]
    assert len(updates) == 2
    assert updates[-1].detail["severity_from"] == "watch"


def test_late_evidence_does_not_move_the_case_backwards(store: AlertStore, clock: Any) -> None:
    now = clock.now
    alert = damp(store, summary="Newest.").alert
    late = damp(
        store, summary="From an evaluation that arrived late.", at=now - dt.timedelta(hours=1)
    )
    assert late.alert.id == alert.id
    assert late.alert.last_seen_at == now
    assert late.alert.evidence["summary"] == "Newest."


def test_inputs_are_checked_at_the_edge(store: AlertStore) -> None:
    for bad in (
        {"home": " "},
        {"home": "H" * 65},
        {"room": "r" * 65},
        {"rule_version": -1},
        {"summary": ""},
        {"at": dt.datetime(2026, 1, 1)},  # naive: which zone?
        {"evidence": {"ratio": float("nan")}},
    ):
        with pytest.raises(AlertStoreError) as refused:
            damp(store, **bad)
        assert refused.value.reason is StoreReason.BAD_INPUT, bad
    # A blank room is the whole home, the same condition as no room.
    assert damp(store, room="  ").alert.id == damp(store, room=None).alert.id


def test_list_filters_by_the_registry_patch(store: AlertStore) -> None:
    from hof.registry import HomeIn, upsert_homes

    upsert_homes(
        store.engine,
        [
            HomeIn(id="P-N", reference="P-N", address="1 North Road", patch="North"),
            HomeIn(id="P-S", reference="P-S", address="1 South Road", patch="South"),
        ],
    )
    for home in ("P-N", "P-S", "P-UNREGISTERED"):
        damp(store, home=home)
    north = store.list(AlertFilter(patches=["North"]))
    assert [a.home for a in north.items] == ["P-N"]
    both = store.list(AlertFilter(patches=["North", "South"]))
    assert {a.home for a in both.items} == {"P-N", "P-S"}
