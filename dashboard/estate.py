"""The estate overview: a person's homes ranked by need, filtered, searched, counted, paged.

All of it in SQL over `home` JOIN `home_condition`, indexed on need, so a page costs the same
at 50,000 homes as at 50.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dashboard.access import Principal, home_clause
from dashboard.db import reading
from hof.registry import Home, HomeCondition

__all__ = [
    "RISKS",
    "Counts",
    "EstateFilter",
    "EstatePage",
    "HomeRow",
    "find_home",
    "options",
    "overview",
]

RISKS = ("high", "medium", "low", "none")


@dataclass(frozen=True, slots=True)
class EstateFilter:
    estate: str = ""
    ward: str = ""
    risk: str = ""
    q: str = ""  # address, postcode or property reference

    def as_dict(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (
                ("estate", self.estate),
                ("ward", self.ward),
                ("risk", self.risk),
                ("q", self.q),
            )
            if v
        }


@dataclass(frozen=True, slots=True)
class HomeRow:
    id: str
    reference: str
    address: str
    postcode: str
    estate: str
    ward: str
    patch: str
    need: float
    risk: str
    damp_cases: int
    damp_worst: str | None
    overdue_cases: int
    mould_index: float | None
    mould_room: str | None
    cold_hours: float
    hot_hours: float
    devices_offline: int
    low_battery: int
    last_reading_at: dt.datetime | None
    changed_at: dt.datetime | None  # when this home's figures last changed


@dataclass(frozen=True, slots=True)
class Counts:
    homes: int
    with_damp_cases: int
    overdue: int
    high_risk: int
    devices_offline: int


@dataclass(frozen=True, slots=True)
class EstatePage:
    rows: tuple[HomeRow, ...]
    counts: Counts
    limit: int
    offset: int


def _where(who: Principal, f: EstateFilter, dialect: str) -> list[sa.ColumnElement[bool]]:
    where = [home_clause(who)]
    if f.estate:
        where.append(Home.estate == f.estate)
    if f.ward:
        where.append(Home.ward == f.ward)
    if f.risk:
        where.append(HomeCondition.risk == f.risk)
    if f.q:
        # A reference or postcode from its start (postcodes with or without their space), an
        # address anywhere in it; case-insensitive, and the user's % and _ are plain text.
        # SQLite's LIKE already ignores case (as far as its lower() knows case: ASCII), so
        # lower() on every row there would only halve the search's speed.
        text = f.q.strip()
        squeezed = "".join(text.split()).upper()
        if dialect == "sqlite":
            reference = Home.reference.startswith(text, autoescape=True)
            address = Home.address.contains(text, autoescape=True)
        else:
            reference = Home.reference.istartswith(text, autoescape=True)
            address = Home.address.icontains(text, autoescape=True)
        postcode = sa.func.replace(Home.postcode, " ", "").startswith(squeezed, autoescape=True)
        where.append(sa.or_(reference, postcode, address))
    return where


def overview(
    engine: Engine, who: Principal, f: EstateFilter, *, limit: int, offset: int
) -> EstatePage:
    """A page of homes, most in need first, and the counts over every home that matches.

    Driven from `home_condition` (every home has a row from its registration, filled in by
    the summary's next round), so that a page walks the need index instead of sorting the
    estate. Ties go by SQLite's rowid, which that index holds, or by home id elsewhere.
    """
    where = _where(who, f, engine.dialect.name)
    tie = (
        sa.literal_column("home_condition.rowid")
        if engine.dialect.name == "sqlite"
        else HomeCondition.home
    )
    # A search matches few homes anywhere in the ranking: find them, then sort them, rather
    # than walk the need index until enough match (`+ 0` keeps the planner off that index).
    need = HomeCondition.need + 0 if f.q else HomeCondition.need
    query = (
        sa.select(Home, HomeCondition)
        .select_from(HomeCondition)
        .join(Home, Home.id == HomeCondition.home)
        .where(*where)
        .order_by(need.desc(), tie.desc())
        .limit(limit)
        .offset(offset)
    )
    counts_query = (
        sa.select(
            sa.func.count(),
            sa.func.count().filter(HomeCondition.damp_cases > 0),
            sa.func.count().filter(HomeCondition.overdue_cases > 0),
            sa.func.count().filter(HomeCondition.risk == "high"),
            sa.func.coalesce(sa.func.sum(HomeCondition.devices_offline), 0),
        )
        .select_from(HomeCondition)
        .join(Home, Home.id == HomeCondition.home)
        .where(*where)
    )
    with reading(engine) as session:
        rows = tuple(_row(home, cond) for home, cond in session.execute(query))
        total, damp, overdue, high, offline = session.execute(counts_query).one()
    return EstatePage(
        rows, Counts(int(total), int(damp), int(overdue), int(high), int(offline)), limit, offset
    )


def _row(home: Home, c: HomeCondition | None) -> HomeRow:
    return HomeRow(
        id=home.id,
        reference=home.reference,
        address=home.address,
        postcode=home.postcode,
        estate=home.estate,
        ward=home.ward,
        patch=home.patch,
        need=c.need if c else 0.0,
        risk=c.risk if c else "none",
        damp_cases=c.damp_cases if c else 0,
        damp_worst=c.damp_worst if c else None,
        overdue_cases=c.overdue_cases if c else 0,
        mould_index=c.mould_index if c else None,
        mould_room=c.mould_room if c else None,
        cold_hours=c.cold_hours if c else 0.0,
        hot_hours=c.hot_hours if c else 0.0,
        devices_offline=c.devices_offline if c else 0,
        low_battery=c.low_battery if c else 0,
        last_reading_at=c.last_reading_at if c else None,
        changed_at=c.refreshed_at if c else None,
    )


def options(engine: Engine, who: Principal) -> tuple[list[str], list[str]]:
    """The estates and wards in this person's patches, for the filter lists."""
    with reading(engine) as session:
        estates = session.scalars(
            sa.select(Home.estate).where(home_clause(who)).distinct().order_by(Home.estate)
        ).all()
        wards = session.scalars(
            sa.select(Home.ward).where(home_clause(who)).distinct().order_by(Home.ward)
        ).all()
    return [e for e in estates if e], [w for w in wards if w]


def find_home(engine: Engine, who: Principal, home_id: str) -> HomeRow | None:
    """One home with its summary, or None if it is unknown or outside the person's patches."""
    query = (
        sa.select(Home, HomeCondition)
        .outerjoin(HomeCondition, HomeCondition.home == Home.id)
        .where(Home.id == home_id, home_clause(who))
    )
    with reading(engine) as session:
        found = session.execute(query).first()
    return _row(*found) if found else None
