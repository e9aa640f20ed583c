"""Homes in the registry: validated input, upsert in batches, and import from a landlord's CSV."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from hof.errors import HofError
from hof.registry.models import Home, HomeCondition
from hof.topic import is_valid_id

__all__ = [
    "CSV_COLUMNS",
    "HomeIn",
    "import_homes",
    "insert_for",
    "read_homes_csv",
    "upsert_homes",
]

CSV_COLUMNS = ("id", "reference", "address", "postcode", "estate", "ward", "patch", "telecare")
_BATCH = 1000


class HomeIn(BaseModel):
    """A home as a landlord's system or a CSV row gives it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(max_length=64)
    reference: str = Field(min_length=1, max_length=64)
    address: str = Field(min_length=1, max_length=300)
    postcode: str = Field(default="", max_length=16)
    estate: str = Field(default="", max_length=100)
    ward: str = Field(default="", max_length=100)
    patch: str = Field(default="", max_length=100)
    telecare: bool = False

    @field_validator("id")
    @classmethod
    def _topic_id(cls, value: str) -> str:
        if not is_valid_id(value):
            raise ValueError("must be a valid topic id (letters, digits, '-' and '_')")
        return value

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, value: str) -> str:
        return " ".join(value.upper().split())


def insert_for(engine: Engine) -> Callable[[Any], PgInsert | SqliteInsert]:
    """The `insert` of `engine`'s dialect (SQLite or PostgreSQL), which has ON CONFLICT."""
    return pg_insert if engine.dialect.name == "postgresql" else sqlite_insert


def upsert(engine: Engine) -> sa.Insert:
    """INSERT ... ON CONFLICT (id) DO UPDATE, in the dialect of `engine`."""
    statement = insert_for(engine)(Home)
    kept = {c: statement.excluded[c] for c in CSV_COLUMNS if c != "id"}
    return statement.on_conflict_do_update(index_elements=[Home.id], set_=kept)


def _placeholder_condition(engine: Engine) -> sa.Insert:
    """A new home's empty need summary, so that it is listed (last, needing nothing) from the
    moment it is registered; the overview walks `home_condition`, and the dashboard's next
    round fills it in. An existing summary is left as it is."""
    statement = insert_for(engine)(HomeCondition)
    return statement.on_conflict_do_nothing(index_elements=[HomeCondition.home])


def upsert_homes(engine: Engine, homes: Iterable[HomeIn], *, now: dt.datetime | None = None) -> int:
    """Insert or update homes by id, in batches; returns how many were written."""
    when = now or dt.datetime.now(dt.UTC)
    written = 0
    batch: list[HomeIn] = []

    def flush() -> None:
        nonlocal written
        if not batch:
            return
        with engine.begin() as conn:
            conn.execute(upsert(engine), [{**h.model_dump(), "created_at": when} for h in batch])
            conn.execute(
                _placeholder_condition(engine),
                [{"home": h.id, "refreshed_at": when} for h in batch],
            )
        written += len(batch)
        batch.clear()

    for home in homes:
        batch.append(home)
        if len(batch) >= _BATCH:
            flush()
    flush()
    return written


def read_homes_csv(path: Path) -> Iterator[HomeIn]:
    """Homes from a CSV with a header row; a bad row stops the import with its line number."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise HofError(f"cannot read {path}: {exc.strerror}") from exc
    with handle:
        reader = csv.DictReader(handle)
        missing = {"id", "reference", "address"} - set(reader.fieldnames or ())
        if missing:
            raise HofError(f"{path}: the header lacks {', '.join(sorted(missing))}")
        for row in reader:
            values = {k: v for k, v in row.items() if k in CSV_COLUMNS and v is not None}
            if "telecare" in values:
                values["telecare"] = values["telecare"].strip().lower() in {"1", "true", "yes", "y"}
            try:
                yield HomeIn(**values)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
                )
                raise HofError(f"{path} line {reader.line_num}: {problems}") from exc


def import_homes(engine: Engine, path: Path) -> int:
    """Import (insert or update) every home in a CSV file."""
    return upsert_homes(engine, read_homes_csv(path))
