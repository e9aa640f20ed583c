"""Named carers in the registry (migration 0006) and the alert filter's cared-for homes, on
SQLite and PostgreSQL alike: named once at a time, ended not deleted, only responders, and
erased with the home."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alertstore_fixtures import *  # noqa: F403  (pytest fixtures, by name)

from hof.alertstore import AlertFilter, AlertStore, make_engine
from hof.registry import HomeIn, User, upsert_homes
from hof.registry.carers import CareError, care_history, end_care, homes_cared_for, name_carer
from hof.registry.models import HomeCarer
from hof.rights.records import erase_rows


def _account(engine: sa.Engine, email: str, role: str, patches: list[str]) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                sa.insert(User)
                .values(
                    email=email,
                    name=email,
                    role=role,
                    patches=patches,
                    password_hash="x",
                    active=True,
                    failed_logins=0,
                    created_at=dt.datetime.now(dt.UTC),
                )
                .returning(User.id)
            ).scalar_one()
        )


def _cared(engine: sa.Engine, user_id: int) -> tuple[str, ...]:
    with sa.orm.Session(engine) as session:
        return homes_cared_for(session, user_id)


def test_named_carers_on_both_backends(db_url: str) -> None:
    store = AlertStore(make_engine(db_url))
    engine = store.engine
    try:
        upsert_homes(
            engine,
            [
                HomeIn(id="C-1", reference="R-C1", address="1 Care Road", patch="South"),
                HomeIn(id="C-2", reference="R-C2", address="2 Care Road", patch="South"),
                HomeIn(id="C-3", reference="R-C3", address="3 Care Road", patch="North"),
            ],
        )
        nurse = _account(engine, "nurse@example.org", "responder", [])
        _account(engine, "officer@example.org", "housing_officer", ["South"])
        by = "admin@example.org"
        name_carer(
            engine, "C-1", "Nurse@Example.org", relationship="district nurse", recorded_by=by
        )
        with pytest.raises(CareError, match="already a carer"):
            name_carer(engine, "C-1", "nurse@example.org", relationship="again", recorded_by=by)
        with pytest.raises(CareError, match="only a responder account"):
            name_carer(engine, "C-1", "officer@example.org", relationship="x", recorded_by=by)
        with pytest.raises(CareError, match="no home"):
            name_carer(engine, "C-9", "nurse@example.org", relationship="x", recorded_by=by)
        with pytest.raises(CareError, match="themselves"):
            name_carer(
                engine,
                "C-2",
                "nurse@example.org",
                relationship="x",
                recorded_by="nurse@example.org",
            )
        assert _cared(engine, nurse) == ("C-1",)

        # The alert filter: the patches' homes or the cared-for homes, never the others.
        falls = {}
        for home in ("C-1", "C-2", "C-3"):
            falls[home] = store.raise_or_update(
                home=home, rule="fall", rule_version=1, category="fall", audience="responder",
                severity="emergency", summary="Fall.",
            ).alert.id  # fmt: skip
        only_cared = store.list(AlertFilter(also_homes=["C-1"])).items
        assert [a.id for a in only_cared] == [falls["C-1"]]
        north_and_cared = store.list(AlertFilter(patches=["North"], also_homes=["C-1"])).items
        assert {a.id for a in north_and_cared} == {falls["C-1"], falls["C-3"]}

        ended = end_care(engine, "C-1", "nurse@example.org", ended_by=by)
        assert ended.ended_by == by
        assert _cared(engine, nurse) == ()
        with pytest.raises(CareError, match="not a carer"):
            end_care(engine, "C-1", "nurse@example.org", ended_by=by)
        # Named again after an end: a new row; the history keeps both, newest first.
        name_carer(engine, "C-1", "nurse@example.org", relationship="care agency", recorded_by=by)
        history = care_history(engine, "C-1")
        assert [(h.relationship, h.live) for h in history] == [
            ("care agency", True),
            ("district nurse", False),
        ]

        # Erasing the home takes its care relationships with its registry entry.
        erase_rows(engine, "C-1")
        with engine.connect() as conn:
            left = conn.execute(sa.select(sa.func.count()).select_from(HomeCarer)).scalar()
        assert left == 0
        assert _cared(engine, nurse) == ()
    finally:
        store.close()
