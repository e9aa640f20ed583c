"""Consent in the registry: each decision appended with who recorded it, when and on what
lawful basis; the current consent per home and stream; its publication to the services.

Recording is not enough: the services learn a home's consents from the retained platform-only
topic `hof/consent/{home}` (hof/consent.py), so every function here that changes consent is
followed by `publish_current` for the homes it changed (the CLI and the admin API do both).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
from collections.abc import Collection, Iterable, Iterator
from enum import StrEnum
from pathlib import Path

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.engine import Engine

from hof.alertstore.engine import WRITE
from hof.consent import Stream, consent_payload, consent_topic, publish_consents
from hof.errors import HofError
from hof.registry.models import Home, HomeConsent
from hof.settings import MqttSettings
from hof.topic import is_valid_id

__all__ = [
    "CONSENT_CSV_COLUMNS",
    "Basis",
    "ConsentIn",
    "consent_history",
    "current_consents",
    "mark_purged",
    "pending_purges",
    "publish_current",
    "read_consent_csv",
    "record_consents",
]


class Basis(StrEnum):
    """A lawful basis for processing (UK GDPR Article 6(1))."""

    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTERESTS = "vital_interests"
    PUBLIC_TASK = "public_task"
    LEGITIMATE_INTERESTS = "legitimate_interests"


class ConsentIn(BaseModel):
    """One consent decision: a home's stream granted or withdrawn, and on what basis."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    home: str = Field(max_length=64)
    stream: Stream
    granted: bool
    basis: Basis = Basis.CONSENT
    note: str = Field(default="", max_length=500)

    @field_validator("home")
    @classmethod
    def _topic_id(cls, value: str) -> str:
        if not is_valid_id(value):
            raise ValueError("must be a valid topic id (letters, digits, '-' and '_')")
        return value


def _latest(homes: Collection[str] | None) -> sa.Select[HomeConsent]:
    newest = sa.select(sa.func.max(HomeConsent.id)).group_by(HomeConsent.home, HomeConsent.stream)
    if homes is not None:
        newest = newest.where(HomeConsent.home.in_(list(homes)))
    return sa.select(HomeConsent).where(HomeConsent.id.in_(newest))


def current_consents(
    engine: Engine, homes: Collection[str] | None = None
) -> dict[str, dict[Stream, HomeConsent]]:
    """Each home's latest decision per stream (homes with none are absent)."""
    out: dict[str, dict[Stream, HomeConsent]] = {}
    with engine.connect() as conn:
        for row in conn.execute(_latest(homes)).all():
            consent = HomeConsent(**row._mapping)
            out.setdefault(consent.home, {})[Stream(consent.stream)] = consent
    return out


def consent_history(engine: Engine, home: str) -> list[HomeConsent]:
    """Every decision recorded for a home, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(HomeConsent).where(HomeConsent.home == home).order_by(HomeConsent.id)
        ).all()
    return [HomeConsent(**row._mapping) for row in rows]


def record_consents(
    engine: Engine,
    decisions: Iterable[ConsentIn],
    *,
    recorded_by: str,
    now: dt.datetime | None = None,
) -> list[str]:
    """Append each decision that changes a home's consent; returns the homes changed.

    A decision the same as the current one is not appended again (an import run twice records
    nothing new). A home that is not in the registry is refused with HofError.
    """
    when = now or dt.datetime.now(dt.UTC)
    wanted = list(decisions)
    if not wanted:
        return []
    homes = {d.home for d in wanted}
    # It reads, then appends: on SQLite the write lock is taken at BEGIN (the store's WRITE),
    # else another process's commit between the two failed the insert at once.
    with engine.execution_options(**{WRITE: True}).begin() as conn:
        known = set(conn.execute(sa.select(Home.id).where(Home.id.in_(homes))).scalars())
        if missing := homes - known:
            raise HofError(f"not in the registry: {', '.join(sorted(missing)[:10])}")
        current = {
            (row.home, row.stream): (row.granted, row.basis)
            for row in conn.execute(_latest(homes)).all()
        }
        changed: list[str] = []
        for d in wanted:
            key = (d.home, d.stream.value)
            if current.get(key) == (d.granted, d.basis.value):
                continue
            current[key] = (d.granted, d.basis.value)
            conn.execute(
                sa.insert(HomeConsent).values(
                    home=d.home,
                    stream=d.stream.value,
                    granted=d.granted,
                    basis=d.basis.value,
                    recorded_by=recorded_by,
                    recorded_at=when,
                    note=d.note,
                    # A withdrawal schedules the deletion of what was held under it (the
                    # expiry job's purge); a grant has nothing to delete.
                    purged_at=None if not d.granted else when,
                )
            )
            if d.home not in changed:
                changed.append(d.home)
    return changed


def pending_purges(engine: Engine) -> list[HomeConsent]:
    """Withdrawals whose data has not yet been deleted, that are still the current decision."""
    latest = {
        c.id
        for streams in current_consents(engine).values()
        for c in streams.values()
        if not c.granted and c.purged_at is None
    }
    if not latest:
        return []
    with engine.connect() as conn:
        rows = conn.execute(sa.select(HomeConsent).where(HomeConsent.id.in_(latest))).all()
    return [HomeConsent(**row._mapping) for row in rows]


def mark_purged(engine: Engine, ids: Collection[int], at: dt.datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.update(HomeConsent).where(HomeConsent.id.in_(list(ids))).values(purged_at=at)
        )


def consent_messages(
    engine: Engine, homes: Collection[str] | None = None
) -> list[tuple[str, bytes]]:
    """The retained message of each home's current consents (homes with a record)."""
    now = dt.datetime.now(dt.UTC)
    return [
        (
            consent_topic(home),
            consent_payload(home, {s: c.granted for s, c in streams.items()}, now),
        )
        for home, streams in sorted(current_consents(engine, homes).items())
    ]


def publish_current(
    mqtt: MqttSettings, engine: Engine, homes: Collection[str] | None = None
) -> int:
    """Publish the current consents of `homes` (every home with a record when None) to the
    running services; returns how many homes. Blocking: call it off an event loop."""
    messages = consent_messages(engine, homes)
    asyncio.run(publish_consents(mqtt, messages, timeout_s=mqtt.timeout_s))
    return len(messages)


CONSENT_CSV_COLUMNS = {f"consent_{s.value}": s for s in Stream}
_YES = {"1", "true", "yes", "y"}
_NO = {"0", "false", "no", "n"}


def read_consent_csv(path: Path) -> Iterator[ConsentIn]:
    """Consent decisions from a homes CSV's optional columns `consent_environment`,
    `consent_activity` and `consent_telecare` (yes/no; blank leaves it as it is) and
    `consent_basis` (for the streams the row grants; default `consent`)."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise HofError(f"cannot read {path}: {exc.strerror}") from exc
    with handle:
        reader = csv.DictReader(handle)
        for row in reader:
            for column, stream in CONSENT_CSV_COLUMNS.items():
                value = (row.get(column) or "").strip().lower()
                if not value:
                    continue
                if value not in _YES | _NO:
                    raise HofError(f"{path} line {reader.line_num}: {column}: say yes or no")
                basis = (row.get("consent_basis") or "").strip() or Basis.CONSENT.value
                try:
                    yield ConsentIn(
                        home=(row.get("id") or "").strip(),
                        stream=stream,
                        granted=value in _YES,
                        basis=basis if value in _YES else Basis.CONSENT.value,
                        note=f"imported from {path.name}",
                    )
                except ValidationError as exc:
                    problems = "; ".join(
                        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
                    )
                    raise HofError(f"{path} line {reader.line_num}: {problems}") from exc
