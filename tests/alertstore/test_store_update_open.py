"""`update_open`: what a rule says of a case it is letting go (its signs gone, waiting out its
hold) updates the open case and its history, and never opens one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alertstore_fixtures import *  # noqa: F403  (pytest fixtures, by name)

from hof.alertstore import Action, AlertFilter, AlertStore, Outcome
from hof.alertstore.eventraise import RaiseRequest

DAMP = dict(
    home="H-7",
    room="bedroom",
    rule="damp_mould",
    rule_version=1,
    category="damp_mould",
    audience="housing_officer",
    severity="significant",
    summary="Bedroom estimated wall surface RH averaging 82 % over the last 30 days.",
    evidence={"surface_rh": 82.0},
)
HELD = {
    **DAMP,
    "severity": "watch",
    "summary": "Bedroom: no sign of damp or mould since 1 Dec 2026 10:00; the case clears on "
    "15 Dec 2026 10:00 unless one returns.",
    "evidence": {"signs_gone_at": "2026-12-01T10:00:00+00:00"},
}


def test_the_open_case_takes_the_words_and_keeps_them_in_its_history(
    make_store: Callable[..., AlertStore], clock: Any
) -> None:
    store = make_store()
    alert = store.raise_or_update(**DAMP).alert
    clock.advance(minutes=5)  # well inside the routine updates' history interval
    held = store.update_open(RaiseRequest(**HELD))
    assert held is not None
    assert held.action == "updated"
    assert held.alert.id == alert.id
    assert held.alert.evidence["summary"] == HELD["summary"]
    assert held.alert.evidence["signs_gone_at"] == "2026-12-01T10:00:00+00:00"
    assert held.alert.severity.value == "significant"  # the worst seen stands
    last = store.get(alert.id).history[-1]
    assert last.action is Action.UPDATED
    assert last.detail["summary"] == HELD["summary"]


def test_no_open_case_is_none_and_nothing_is_written(
    make_store: Callable[..., AlertStore], clock: Any
) -> None:
    store = make_store()
    assert store.update_open(RaiseRequest(**HELD)) is None
    assert store.list(AlertFilter()).items == ()


def test_a_case_an_officer_closed_is_not_opened_again(
    make_store: Callable[..., AlertStore], clock: Any
) -> None:
    store = make_store()
    alert = store.raise_or_update(**DAMP).alert
    store.resolve(alert.id, by="officer.ann", outcome=Outcome.FIXED, note="Extractor fitted.")
    clock.advance(hours=1)
    assert store.update_open(RaiseRequest(**HELD)) is None
    (only,) = store.list(AlertFilter()).items
    assert only.id == alert.id
    assert only.outcome is Outcome.FIXED
    # what `raise_or_update` would have done: a new case, opened by words that say no sign
    assert store.raise_or_update(**HELD).action == "raised"
