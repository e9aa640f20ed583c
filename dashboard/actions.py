"""Reading and acting on alerts as a particular person: what they may see, and what they do.

An alert outside the person's patches or of a kind their role may not see is "not found",
never "forbidden", so its existence is not revealed (a housing officer asking for a fall).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any, Literal

import sqlalchemy as sa

from dashboard import audit
from dashboard.access import Principal, audiences_for, categories_for
from dashboard.context import Context
from dashboard.db import reading
from hof.alertstore import (
    AlertDetail,
    AlertFilter,
    AlertNotFound,
    AlertView,
    AssigneeKind,
    Audience,
    Category,
    Duty,
    Outcome,
    Page,
    State,
)
from hof.registry import Home

__all__ = [
    "LIVE_STATES",
    "PERSON_OUTCOMES",
    "Action",
    "act",
    "addresses",
    "live_alerts",
    "now",
    "patch_of",
    "visible_alert",
    "visible_filter",
]

LIVE_STATES = (State.OPEN, State.ACKNOWLEDGED, State.ASSIGNED)
# What a person may close a case with; `cleared` and `withdrawn` are said by sensors.
PERSON_OUTCOMES = tuple(o for o in Outcome if o not in (Outcome.CLEARED, Outcome.WITHDRAWN))
Action = Literal["acknowledge", "assign", "resolve", "note", "duty"]


def visible_filter(
    who: Principal,
    *,
    categories: Collection[Category] = (),
    patches: Collection[str] = (),
    **kw: Any,
) -> AlertFilter | None:
    """The filter for what this person may see (their patches and the homes they care for),
    narrowed to `categories` and `patches` if given; None when they asked only for categories
    or patches they may not see, or have neither a patch nor a home they care for (an empty
    `patches` in AlertFilter means every home, so it must never stand for "none")."""
    mine: tuple[str, ...] = () if who.all_patches else who.patches
    cared: tuple[str, ...] = () if who.all_patches else who.cares_for
    if patches:
        # Asking for patches narrows to them: the homes cared for elsewhere are left out.
        mine, cared = tuple(p for p in patches if who.may_see_patch(p)), ()
        if not mine:
            return None
    elif not who.all_patches and not mine and not cared:
        return None
    allowed = categories_for(who)
    if categories:
        wanted = [c for c in categories if not allowed or c in allowed]
        if not wanted:
            return None
        allowed = tuple(wanted)
    return AlertFilter(
        audiences=audiences_for(who),
        categories=allowed,
        patches=mine,
        also_homes=cared,
        **kw,
    )


def _may_see(who: Principal, a: AlertView, patch: str | None) -> bool:
    if not who.may_see_home(a.home, patch):
        return False  # outside their patches and care; a home not in the registry: admins only
    audiences = audiences_for(who)
    if audiences and a.audience not in (*audiences, Audience.BOTH):
        return False
    categories = categories_for(who)
    return not categories or a.category in categories


def patch_of(ctx: Context, home: str) -> str | None:
    with reading(ctx.engine) as session:
        return session.scalar(sa.select(Home.patch).where(Home.id == home))


def visible_alert(ctx: Context, who: Principal, alert_id: int) -> AlertDetail | None:
    try:
        detail = ctx.store.get(alert_id)
    except AlertNotFound:
        return None
    return detail if _may_see(who, detail.alert, patch_of(ctx, detail.alert.home)) else None


def addresses(ctx: Context, homes: Collection[str]) -> dict[str, str]:
    if not homes:
        return {}
    with reading(ctx.engine) as session:
        rows = session.execute(sa.select(Home.id, Home.address).where(Home.id.in_(set(homes))))
        return {home: address for home, address in rows}


def live_alerts(
    ctx: Context, who: Principal, *, limit: int, categories: Collection[Category] = ()
) -> Page:
    """Open alerts most urgent first (worst severity, then most recently seen), as this person
    may see."""
    where = visible_filter(who, categories=categories, states=LIVE_STATES)
    if where is None:
        return Page((), 0, limit, 0)
    return ctx.store.list(where, order="urgent", limit=limit)


def act(
    ctx: Context,
    who: Principal,
    alert_id: int,
    action: Action,
    *,
    to: str = "",
    team: bool = False,
    outcome: str = "",
    note: str = "",
    duty: str = "",
) -> AlertView | None:
    """Do `action` as this person; None when they may not see the alert. Store refusals
    (TransitionRefused, AlertStoreError for bad input) are raised for the caller to show."""
    if visible_alert(ctx, who, alert_id) is None:
        return None
    by = who.email
    store = ctx.store
    if action == "acknowledge":
        view = store.acknowledge(alert_id, by=by)
    elif action == "assign":
        target = by if to.strip().lower() in ("", "me") else to.strip()
        kind = AssigneeKind.TEAM if team else AssigneeKind.PERSON
        view = store.assign(alert_id, to=target, by=by, kind=kind)
    elif action == "resolve":
        view = store.resolve(alert_id, outcome=outcome, by=by, note=note.strip() or None)
    elif action == "note":
        store.add_note(alert_id, by=by, text=note.strip())
        view = store.get(alert_id).alert
    else:
        view = store.record_duty(alert_id, Duty(duty) if duty in set(Duty) else duty, by=by)
    detail = {k: v for k, v in (("to", to), ("outcome", outcome), ("duty", duty)) if v}
    audit.record(
        ctx.engine, who, action, home=view.home, subject=f"alert {alert_id}", detail=detail
    )
    return view


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
