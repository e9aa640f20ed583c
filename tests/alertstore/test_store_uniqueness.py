"""One open alert per (home, rule, room), enforced by the database, even when workers race."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from alertstore_fixtures import *  # noqa: F403  (pytest fixtures, by name)

from hof.alertstore import Action, AlertFilter, AlertStore, TransitionRefused

RAISE = dict(
    home="H-9",
    room="kitchen",
    rule="damp_air",
    rule_version=1,
    category="damp_mould",
    audience="housing_officer",
    summary="Kitchen air above 70 % RH for 13 hours.",
)

INSERT = sa.text(
    "INSERT INTO alert (home, room, rule, rule_version, category, audience, severity, state, "
    "first_raised_at, last_seen_at, evidence, reopen_count) VALUES "
    "(:home, :room, 'damp_air', 1, 'damp_mould', 'housing_officer', 'watch', :state, "
    ":at, :at, '{}', 0)"
)


@pytest.mark.parametrize("room", ["kitchen", None])
def test_the_database_refuses_a_second_open_alert(raw: sa.Engine, room: str | None) -> None:
    at = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    with raw.begin() as conn:
        conn.execute(INSERT, {"home": "H-1", "room": room, "state": "open", "at": at})
    with pytest.raises(sa.exc.IntegrityError), raw.begin() as conn:
        conn.execute(INSERT, {"home": "H-1", "room": room, "state": "acknowledged", "at": at})
    # Resolved alerts are history: any number of them may sit beside the open one.
    resolved = sa.text(
        "INSERT INTO alert (home, room, rule, rule_version, category, audience, severity, state, "
        "outcome, first_raised_at, last_seen_at, evidence, reopen_count) VALUES "
        "('H-1', :room, 'damp_air', 1, 'damp_mould', 'housing_officer', 'watch', 'resolved', "
        "'fixed', :at, :at, '{}', 0)"
    )
    with raw.begin() as conn:
        conn.execute(resolved, {"room": room, "at": at})
        conn.execute(resolved, {"room": room, "at": at})


def test_racing_workers_end_with_one_alert(make_store: Callable[..., AlertStore]) -> None:
    workers = 8
    stores = [make_store() for _ in range(workers)]  # own engines: own connections
    start = threading.Barrier(workers)
    results: list[tuple[int, str]] = []
    errors: list[BaseException] = []

    def work(store: AlertStore, n: int) -> None:
        try:
            start.wait()
            severity = "severe" if n == 3 else "watch"
            result = store.raise_or_update(**RAISE, severity=severity)
            results.append((result.alert.id, result.action))
        except BaseException as exc:  # collected and re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s, n)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len({alert_id for alert_id, _ in results}) == 1
    assert sorted(action for _, action in results) == ["raised"] + ["updated"] * (workers - 1)
    page = stores[0].list(AlertFilter(homes=["H-9"]))
    assert page.total == 1
    assert page.items[0].severity.value == "severe"  # the worst of the racers won


def test_two_people_acknowledging_at_once_one_wins(
    make_store: Callable[..., AlertStore],
) -> None:
    first, second = make_store(), make_store()
    alert = first.raise_or_update(**RAISE, severity="watch").alert
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def ack(store: AlertStore, who: str) -> None:
        start.wait()
        try:
            store.acknowledge(alert.id, by=who)
            outcomes.append("ok")
        except TransitionRefused as exc:
            outcomes.append(exc.reason.value)

    threads = [
        threading.Thread(target=ack, args=(first, "ann")),
        threading.Thread(target=ack, args=(second, "bob")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["already_acknowledged", "ok"]
    acks = [e for e in first.get(alert.id).history if e.action is Action.ACKNOWLEDGED]
    assert len(acks) == 1
