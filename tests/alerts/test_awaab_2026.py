"""Issue 12, item 6: Awaab's Law's 2026 phase: excess cold and heat cases carry the clocks,
with the Regulations' emergency / significant split (DOMAIN.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.findings import Action, Finding
from alerts.rules.environment import HEAT
from hof.alertstore.api import AlertStore
from hof.alertstore.awaab import DEFAULT_CLOCKS
from hof.alertstore.engine import make_engine
from hof.alertstore.migrate import migrate
from hof.alertstore.vocabulary import Category, Severity
from tests.alerts.test_rules_trust import _bedroom_heating_fails_at_noon

AT = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)  # a Monday


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AlertStore]:
    url = f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
    migrate(url)
    opened = AlertStore(make_engine(url))
    yield opened
    opened.close()


def _raise(store: AlertStore, finding: Finding, at: dt.datetime = AT) -> str | None:
    result = store.raise_or_update(
        home=finding.home,
        rule=finding.rule.name,
        rule_version=finding.rule.version,
        category=finding.rule.category,
        audience=finding.rule.audience,
        severity=finding.severity,
        summary=finding.summary,
        evidence=finding.evidence,
        room=finding.room,
        at=at,
    )
    return result.alert.clocks.clock_class


def test_a_bedroom_at_9_degrees_is_an_emergency_hazard_with_the_24_hour_clock(
    store: AlertStore,
) -> None:
    """Today severe cold is 'significant': 10 working days to investigate a hypothermia risk."""
    [case] = _bedroom_heating_fails_at_noon(6.0)
    assert case.severity is Severity.SEVERE
    assert _raise(store, case) == "emergency"
    [alert] = store.list().items
    assert alert.clocks.investigation_due == AT + dt.timedelta(hours=24)
    assert alert.clocks.works_due == AT + dt.timedelta(hours=24)  # make safe within 24 h


@pytest.mark.parametrize(
    ("category", "severity", "klass"),
    [
        (Category.COLD, Severity.WATCH, None),
        (Category.COLD, Severity.SIGNIFICANT, "significant"),
        (Category.COLD, Severity.SEVERE, "emergency"),
        (Category.HEAT, Severity.WATCH, None),
        (Category.HEAT, Severity.SIGNIFICANT, "significant"),
        (Category.HEAT, Severity.SEVERE, "emergency"),
        (Category.DAMP_MOULD, Severity.SEVERE, "significant"),
        (Category.DAMP_MOULD, Severity.EMERGENCY, "emergency"),
        (Category.VENTILATION, Severity.SEVERE, None),
    ],
)
def test_the_split_per_hazard(category: Category, severity: Severity, klass: str | None) -> None:
    assert DEFAULT_CLOCKS.class_for(category, severity) == klass


def test_significant_heat_runs_the_working_day_clocks(store: AlertStore) -> None:
    finding = Finding(
        Action.RAISE,
        HEAT,
        "H1",
        "bedroom",
        Severity.SIGNIFICANT,
        AT.timestamp(),
        "Bedroom above 28 °C for 3.0 of the last 24 hours at night; now 29.0 °C.",
        {},
    )
    assert _raise(store, finding) == "significant"
    [alert] = store.list().items
    due = alert.clocks.investigation_due
    assert due is not None
    # 10 working days from Monday 30 November 2026: to the end of Monday 14 December, London.
    assert due == dt.datetime(2026, 12, 15, 0, 0, tzinfo=dt.UTC)
