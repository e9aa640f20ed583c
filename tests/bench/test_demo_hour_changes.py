"""bench/cases/demo_hour.py counts a case's changes of state, not the updates of its words:
a routine update, a day counted or a hold begun each counted as a change, so a case that
said its hold was a case that changed twice."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from hofsupport import load_file

from hof.alertstore.records import HistoryEntry
from hof.alertstore.vocabulary import Action

_DEMO_HOUR = Path(__file__).resolve().parents[2] / "bench" / "cases" / "demo_hour.py"


def _state_change() -> Any:
    return load_file("bench_demo_hour", _DEMO_HOUR).state_change


def _entry(action: Action, **detail: Any) -> HistoryEntry:
    return HistoryEntry(1, 1, dt.datetime(2026, 12, 1, tzinfo=dt.UTC), "rules", action, detail)


def test_a_change_is_an_open_a_clear_a_reopening_or_a_worse_severity() -> None:
    changed = _state_change()
    for action in (Action.RAISED, Action.CLEARED, Action.REOPENED):
        assert changed(_entry(action))
    assert changed(_entry(Action.UPDATED, severity="severe", severity_from="significant"))


def test_new_words_for_the_same_case_are_not_a_change() -> None:
    changed = _state_change()
    assert not changed(_entry(Action.UPDATED, severity="significant", summary="no sign since"))
    assert not changed(_entry(Action.ACKNOWLEDGED))
