"""A batch of telecare events raised in one transaction (`AlertStore.raise_events`): the same
rows as one `raise_or_update` each, a repeat of a stored event skipped, all or nothing."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest
from alertstore_fixtures import *  # noqa: F403  (pytest fixtures, by name)
from hofsupport import fall_request as fall
from sqlalchemy import event

from hof.alertstore import AlertStore, AlertStoreError
from hof.alertstore.eventraise import RaiseRequest
from hof.alertstore.records import RaiseResult


def with_devices(
    evidence: dict[str, Any], still_open: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    if "device" not in evidence:
        return evidence
    devices = {evidence["device"], *(e["device"] for e in still_open)}
    return {**evidence, "devices": sorted(devices)}


def done(result: RaiseResult | AlertStoreError | None) -> RaiseResult:
    assert isinstance(result, RaiseResult), result
    return result


def what_is_stored(store: AlertStore, alert_id: int) -> tuple[Any, ...]:
    detail = store.get(alert_id)
    alert = detail.alert
    view = (alert.room, alert.rule, alert.state, alert.severity, alert.evidence)
    history = tuple((h.action, h.actor, h.detail) for h in detail.history)
    return view, alert.clocks, history


def test_a_batch_writes_what_a_raise_each_writes(
    make_store: Callable[..., AlertStore],
) -> None:
    """The same requests one at a time go to homes "S-..." of the same database."""
    batched, single = make_store(), make_store()
    requests = [
        fall("H-1", 100.0),
        fall("H-2", 101.0, room="bedroom"),
        fall("H-1", 102.0, device="cord-1"),  # a second fall while the first is open: update
        RaiseRequest("H-3", "water_leak", 1, "leak", "both", "severe", "Water.", {"time": 1.0}),
    ]
    results = batched.raise_events(requests, evidence_with_open=with_devices)
    assert [done(r).action for r in results] == [
        "raised",
        "raised",
        "updated",
        "raised",
    ]
    ones = []
    for request in requests:
        home = "S-" + request.home
        earlier = [
            a.evidence for a in single.list().items if a.home == home and a.rule == request.rule
        ]
        evidence = with_devices(dict(request.evidence or {}), earlier)
        ones.append(
            single.raise_or_update(
                home=home,
                rule=request.rule,
                rule_version=request.rule_version,
                category=request.category,
                audience=request.audience,
                severity=request.severity,
                summary=request.summary,
                evidence=evidence,
                room=request.room,
            )
        )
    for got, want in zip(results, ones, strict=True):
        # The view handed back, but for its id and home.
        assert replace(done(got).alert, id=0, home="") == replace(want.alert, id=0, home="")
        assert what_is_stored(batched, done(got).alert.id) == what_is_stored(single, want.alert.id)
    assert done(results[2]).alert.evidence["devices"] == ["cord-1", "wear-1"]


def test_an_event_already_stored_is_a_repeat(store: AlertStore) -> None:
    first = done(store.raise_events([fall("H-1", 100.0)])[0])
    # Redelivered after a restart, with a new fall of another home: only the new one is raised.
    again = store.raise_events([fall("H-1", 100.0), fall("H-2", 100.0), fall("H-2", 100.0)])
    assert [again[0], again[2]] == [None, None]
    assert done(again[1]).action == "raised"
    assert sorted(a.home for a in store.list().items) == ["H-1", "H-2"]
    assert len(store.get(first.alert.id).history) == 1  # the repeat wrote nothing


def test_a_batch_is_one_transaction_all_or_nothing(store: AlertStore) -> None:
    # One connection taken from the pool: one transaction, whether it is the ORM's or the
    # plain path's below SQLAlchemy (hof.alertstore.direct).
    checkouts = [0]

    @event.listens_for(store.engine, "checkout")
    def _checkout(*_: Any) -> None:
        checkouts[0] += 1

    results = store.raise_events([fall(f"H-{i}", 100.0) for i in range(20)])
    assert all(r is not None for r in results)
    assert checkouts[0] == 1

    def fails_on_the_third(
        evidence: dict[str, Any], still_open: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        if evidence["time"] == 3.0:
            raise RuntimeError("the worker dies here")
        return evidence

    with pytest.raises(RuntimeError):
        store.raise_events(
            [fall(f"G-{i}", float(i)) for i in range(5)], evidence_with_open=fails_on_the_third
        )
    assert {a.home[0] for a in store.list(limit=100).items} == {"H"}  # no G: rolled back


def test_a_bad_request_is_refused_in_its_place(store: AlertStore) -> None:
    bad = RaiseRequest("H-1", "fall", 1, "no_such_category", "responder", "emergency", "x")
    results = store.raise_events([fall("H-0", 1.0), bad, fall("H-2", 1.0)])
    assert isinstance(results[1], AlertStoreError)
    assert [a.home for a in store.list(order="newest").items] == ["H-2", "H-0"]


def test_a_lost_race_goes_round_again_as_an_update(
    make_store: Callable[..., AlertStore], backend: str
) -> None:
    """Another worker opens the same alert between this batch's read and its insert."""
    if backend == "sqlite":
        pytest.skip("SQLite's writers are serial: the other worker would wait for this one")
    mine, other = make_store(), make_store()
    others: list[object] = []

    def open_it_first(
        evidence: dict[str, Any], still_open: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        if not others:
            others.append(other.raise_events([fall("H-1", 5.0)]))
        return evidence

    [got] = mine.raise_events([fall("H-1", 9.0)], evidence_with_open=open_it_first)
    result = done(got)
    assert result.action == "updated"
    assert [a.id for a in mine.list().items] == [result.alert.id]
    assert result.alert.evidence["time"] == 9.0
