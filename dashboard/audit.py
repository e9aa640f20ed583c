"""The audit log: every view and export of a tenant's data, and every change, with who and how."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dashboard.access import Principal
from dashboard.db import writing
from hof.registry import AuditEvent

__all__ = ["record"]


def record(
    engine: Engine,
    who: Principal,
    action: str,
    *,
    home: str | None = None,
    subject: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    with writing(engine) as session:
        session.execute(
            sa.insert(AuditEvent).values(
                at=dt.datetime.now(dt.UTC),
                actor=who.email,
                role=who.role.value,
                via=who.via,
                action=action,
                home=home,
                subject=subject,
                detail=detail or {},
            )
        )
