"""History is append-only: the database itself refuses UPDATE and DELETE on it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alertstore_fixtures import *  # noqa: F403  (pytest fixtures, by name)

from hof.alertstore import AlertStore


def test_history_rows_cannot_be_changed_or_deleted(store: AlertStore, raw: sa.Engine) -> None:
    alert = store.raise_or_update(
        home="H-2",
        rule="smoke",
        rule_version=1,
        category="smoke",
        audience="both",
        severity="emergency",
        summary="Smoke alarm sounding in the hall.",
    ).alert
    store.acknowledge(alert.id, by="responder.eve")
    before = store.get(alert.id).history
    assert len(before) == 2

    statements = ["UPDATE alert_history SET actor = 'someone else'", "DELETE FROM alert_history"]
    if raw.dialect.name == "postgresql":
        statements.append("TRUNCATE alert_history")  # SQLite has no TRUNCATE
    for statement in statements:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), raw.begin() as conn:
            conn.execute(sa.text(statement))
    assert store.get(alert.id).history == before
    # Deleting the alert itself is refused too: its history points at it.
    with pytest.raises(sa.exc.IntegrityError), raw.begin() as conn:
        conn.execute(sa.text("DELETE FROM alert"))
    # Appending is what the history is for.
    store.add_note(alert.id, by="responder.eve", text="False alarm: toast.")
    assert len(store.get(alert.id).history) == 3
