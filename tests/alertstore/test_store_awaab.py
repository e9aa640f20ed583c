"""Awaab's Law clocks on cases: known dates across Christmas, overdue, policies, duties."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from alertstore_fixtures import *  # noqa: F403  (pytest fixtures, by name)

from hof.alertstore import AlertFilter, AlertStore, Duty, StoreReason, TransitionRefused

UTC = dt.UTC
FRIDAY = dt.datetime(2026, 12, 18, 10, 0, tzinfo=UTC)  # London is on GMT in December

MOULD = dict(
    home="H-7",
    room="bedroom",
    rule="surface_mould",
    rule_version=1,
    category="damp_mould",
    audience="housing_officer",
    summary="Mould index above 3 on the bedroom's north wall.",
)


def test_significant_hazard_clocks_across_christmas(store: AlertStore) -> None:
    alert = store.raise_or_update(**MOULD, severity="significant", at=FRIDAY).alert
    clocks = alert.clocks
    assert clocks.clock_class == "significant"
    assert clocks.became_aware_at == FRIDAY
    # 10 working days after Friday 18 December 2026 (the day of awareness does not count):
    #   Mon 21 (1), Tue 22 (2), Wed 23 (3), Thu 24 (4),
    #   Fri 25 Christmas Day; Sat 26 Boxing Day falls on a weekend, so its substitute is
    #   Mon 28; Sat/Sun skipped,
    #   Tue 29 (5), Wed 30 (6), Thu 31 (7), Fri 1 Jan New Year's Day, weekend,
    #   Mon 4 (8), Tue 5 (9), Wed 6 January 2027 (10).
    # Due by the end of Wednesday 6 January (London = UTC in winter): overdue from midnight.
    assert clocks.investigation_due == dt.datetime(2027, 1, 7, 0, 0, tzinfo=UTC)
    assert clocks.summary_due is None  # starts when the investigation ends
    assert alert.overdue == ()

    before = store.list(AlertFilter(overdue=True), at=dt.datetime(2027, 1, 6, 23, 59, tzinfo=UTC))
    after = store.list(AlertFilter(overdue=True), at=dt.datetime(2027, 1, 7, 0, 1, tzinfo=UTC))
    assert (before.total, after.total) == (0, 1)
    assert after.items[0].overdue == ("investigation",)

    ended = dt.datetime(2027, 1, 6, 15, 0, tzinfo=UTC)
    case = store.record_duty(alert.id, Duty.INVESTIGATED, by="surveyor.dee", at=ended)
    # Written summary: 3 working days after Wed 6 Jan: Thu 7, Fri 8, Mon 11 -> end of Mon 11.
    assert case.clocks.summary_due == dt.datetime(2027, 1, 12, 0, 0, tzinfo=UTC)
    # Safety work: 5 working days: Thu 7, Fri 8, Mon 11, Tue 12, Wed 13 -> end of Wed 13.
    assert case.clocks.works_due == dt.datetime(2027, 1, 14, 0, 0, tzinfo=UTC)
    # Further works started within 12 weeks: 6 Jan + 84 days = Wed 31 March 2027, by its end;
    # British Summer Time began on Sunday 28 March, so London's midnight is 23:00 UTC.
    assert case.clocks.further_works_due == dt.datetime(2027, 3, 31, 23, 0, tzinfo=UTC)

    late = dt.datetime(2027, 1, 12, 9, 0, tzinfo=UTC)
    assert store.get(alert.id, at=late).alert.overdue == ("summary",)
    store.record_duty(alert.id, "summary_sent", by="officer.ann", at=late)
    assert store.get(alert.id, at=late).alert.overdue == ()
    with pytest.raises(TransitionRefused) as twice:
        store.record_duty(alert.id, "summary_sent", by="officer.ann", at=late)
    assert twice.value.reason is StoreReason.DUTY_ALREADY_RECORDED


def test_emergency_hazard_is_made_safe_within_24_hours(store: AlertStore) -> None:
    alert = store.raise_or_update(**MOULD, severity="emergency", at=FRIDAY).alert
    due = FRIDAY + dt.timedelta(hours=24)
    assert alert.clocks.clock_class == "emergency"
    assert (alert.clocks.investigation_due, alert.clocks.works_due) == (due, due)
    overdue = store.get(alert.id, at=due + dt.timedelta(seconds=1)).alert.overdue
    assert overdue == ("investigation", "works")


def test_clocks_start_when_a_watch_becomes_significant(store: AlertStore) -> None:
    watch = store.raise_or_update(**MOULD, severity="watch", at=FRIDAY).alert
    assert watch.clocks.clock_class is None
    monday = dt.datetime(2026, 12, 21, 8, 0, tzinfo=UTC)
    worse = store.raise_or_update(**MOULD, severity="significant", at=monday).alert
    assert worse.clocks.became_aware_at == monday
    # From Monday 21 Dec: 22, 23, 24, 29, 30, 31, 4, 5, 6, 7 January -> end of Thu 7 Jan.
    assert worse.clocks.investigation_due == dt.datetime(2027, 1, 8, tzinfo=UTC)


def test_clocks_from_an_officers_confirmation_when_policy_says_so(
    make_store: Callable[..., AlertStore],
) -> None:
    store = make_store(aware_from="confirmed")
    alert = store.raise_or_update(**MOULD, severity="significant", at=FRIDAY).alert
    assert alert.clocks.became_aware_at is None
    confirmed_at = dt.datetime(2026, 12, 22, 11, 0, tzinfo=UTC)
    case = store.confirm(alert.id, by="officer.ann", at=confirmed_at)
    assert case.clocks.became_aware_at == confirmed_at
    # From Tue 22 Dec: 23, 24, 29, 30, 31, 4, 5, 6, 7, 8 January -> end of Fri 8 Jan.
    assert case.clocks.investigation_due == dt.datetime(2027, 1, 9, tzinfo=UTC)
    with pytest.raises(TransitionRefused):
        store.confirm(alert.id, by="officer.ann")


def test_a_cleared_condition_keeps_its_legal_clock(store: AlertStore, clock: Any) -> None:
    alert = store.raise_or_update(**MOULD, severity="significant", at=FRIDAY).alert
    store.clear(home="H-7", rule="surface_mould", room="bedroom", at=FRIDAY)
    later = dt.datetime(2027, 1, 8, tzinfo=UTC)
    assert store.get(alert.id, at=later).alert.overdue == ("investigation",)
    # A case a person closed stops its clocks.
    store.resolve(
        store.raise_or_update(
            **{**MOULD, "room": "hall"}, severity="significant", at=FRIDAY
        ).alert.id,
        outcome="false_alarm",
        by="surveyor.dee",
        at=FRIDAY,
    )
    assert store.list(AlertFilter(overdue=True), at=later).total == 1


def test_duties_are_refused_where_they_do_not_apply(store: AlertStore) -> None:
    fall = store.raise_or_update(
        home="H-7",
        rule="fall",
        rule_version=1,
        category="fall",
        audience="responder",
        severity="emergency",
        summary="Fall detected.",
        at=FRIDAY,
    ).alert
    assert fall.clocks.clock_class is None  # a person's fall is not a housing hazard
    with pytest.raises(TransitionRefused) as none:
        store.record_duty(fall.id, "investigated", by="x")
    assert none.value.reason is StoreReason.NO_CLOCKS
    mould = store.raise_or_update(**MOULD, severity="significant", at=FRIDAY).alert
    with pytest.raises(TransitionRefused) as order:
        store.record_duty(mould.id, "summary_sent", by="x")
    assert order.value.reason is StoreReason.DUTY_OUT_OF_ORDER


def test_escalating_to_emergency_starts_the_24_hour_clock(store: AlertStore) -> None:
    store.raise_or_update(**MOULD, severity="significant", at=FRIDAY)
    monday = dt.datetime(2026, 12, 21, 9, 0, tzinfo=UTC)
    case = store.raise_or_update(**MOULD, severity="emergency", at=monday).alert
    assert case.clocks.clock_class == "emergency"
    assert case.clocks.became_aware_at == FRIDAY  # of the hazard; the emergency came later
    assert case.clocks.investigation_due == monday + dt.timedelta(hours=24)
    assert case.clocks.works_due == monday + dt.timedelta(hours=24)
    # A case never steps down: a later significant reading keeps the emergency clocks.
    calmer = store.raise_or_update(**MOULD, severity="significant", at=monday).alert
    assert calmer.clocks.clock_class == "emergency"
