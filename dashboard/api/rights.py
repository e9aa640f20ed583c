"""API for admins: a home's consent per data stream, its named carers, subject access export,
erasure, and the audit of one home (docs/data-protection.md). Each call is audited."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, status
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from dashboard import admin, audit
from dashboard.access import Principal, Role
from dashboard.deps import Ctx, api_roles
from hof.consent import Stream
from hof.errors import HofError
from hof.registry.carers import CareError, care_history, end_care, name_carer
from hof.registry.consent import (
    Basis,
    ConsentIn,
    consent_history,
)
from hof.rights.operations import erase_home, export_home
from hof.rights.records import Actor

router = APIRouter()
Admin = Annotated[Principal, Depends(api_roles(Role.ADMIN))]
HomeId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


def _actor(who: Principal) -> Actor:
    return Actor(who.email, role=who.role.value, via=who.via)


class ConsentOut(BaseModel):
    stream: Stream
    granted: bool
    basis: Basis
    recorded_by: str
    recorded_at: dt.datetime
    note: str
    purged_at: dt.datetime | None


class ConsentDecision(BaseModel):
    stream: Stream
    granted: bool
    basis: Basis = Basis.CONSENT
    note: str = Field(default="", max_length=500)


class ConsentState(BaseModel):
    home: str
    current: dict[Stream, bool]
    unrecorded_default: list[Stream]
    history: list[ConsentOut]
    published: bool = True


def _state(ctx: Ctx, home: str, published: bool = True) -> ConsentState:
    rows = consent_history(ctx.engine, home)
    current: dict[Stream, bool] = {}
    for row in rows:
        current[Stream(row.stream)] = row.granted
    return ConsentState(
        home=home,
        current=current,
        unrecorded_default=[Stream(s) for s in ctx.settings.rights.unrecorded],
        history=[ConsentOut.model_validate(r, from_attributes=True) for r in rows],
        published=published,
    )


@router.get(
    "/admin/homes/{home_id}/consent",
    response_model=ConsentState,
    tags=["rights"],
    summary="A home's consent per data stream, with its history",
)
async def get_consent(home_id: HomeId, ctx: Ctx, who: Admin) -> ConsentState:
    return await run_in_threadpool(_state, ctx, home_id)


@router.post(
    "/admin/homes/{home_id}/consent",
    response_model=ConsentState,
    tags=["rights"],
    summary="Record a consent decision; the running services obey it within seconds",
)
async def post_consent(
    home_id: HomeId, body: ConsentDecision, ctx: Ctx, who: Admin
) -> ConsentState:
    decision = ConsentIn(home=home_id, **body.model_dump())
    try:
        published = await run_in_threadpool(
            admin.record_consent, ctx.settings, ctx.engine, who, decision
        )
    except HofError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    return await run_in_threadpool(_state, ctx, home_id, published)


@router.get(
    "/admin/homes/{home_id}/export",
    tags=["rights"],
    summary="Subject access: everything held about a home, as one zip (audited)",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
async def export(home_id: HomeId, ctx: Ctx, who: Admin) -> Response:
    bundle = await export_home(ctx.settings, ctx.engine, home_id, _actor(who))
    return Response(
        bundle,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{home_id}-subject-access.zip"',
            "Cache-Control": "no-store",
        },
    )


class ErasureIn(BaseModel):
    reason: str = Field(min_length=3, max_length=500)


class ErasureOut(BaseModel):
    home: str
    points: dict[str, int]
    rows: dict[str, int]
    retained: int
    nothing_left: bool
    services_told: bool


@router.post(
    "/admin/homes/{home_id}/erase",
    response_model=ErasureOut,
    tags=["rights"],
    summary="Erasure: delete everything held about a home (audited with the reason)",
)
async def erase(home_id: HomeId, body: ErasureIn, ctx: Ctx, who: Admin) -> ErasureOut:
    report = await erase_home(ctx.settings, ctx.engine, home_id, _actor(who), body.reason)
    return ErasureOut(**report.as_dict())


@router.get(
    "/admin/homes/{home_id}/audit.csv",
    tags=["rights"],
    summary="The audit of one home as CSV: who viewed, exported or changed it (audited)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def audit_csv(home_id: HomeId, ctx: Ctx, who: Admin) -> Response:
    await run_in_threadpool(
        lambda: audit.record(ctx.engine, who, "export_audit", home=home_id, detail={})
    )
    rows = await run_in_threadpool(
        lambda: admin.audit_events(ctx.engine, home=home_id, actor="", limit=100_000, before=0)
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "at", "actor", "role", "via", "action", "home", "subject", "detail"])
    for r in rows:
        writer.writerow(
            [r.id, r.at.isoformat(), r.actor, r.role, r.via, r.action, r.home, r.subject, r.detail]
        )
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{home_id}-audit.csv"'},
    )


class CarerOut(BaseModel):
    email: str
    name: str
    relationship: str
    recorded_by: str
    recorded_at: dt.datetime
    ended_by: str | None
    ended_at: dt.datetime | None


class CarersOut(BaseModel):
    home: str
    carers: list[CarerOut] = Field(description="Live and ended care relationships, newest first")


class CarerIn(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    relationship: str = Field(
        min_length=1, max_length=100, description="e.g. 'district nurse', 'care agency'"
    )


class CarerEnd(BaseModel):
    email: str = Field(min_length=3, max_length=320)


def _carers(ctx: Ctx, home: str) -> CarersOut:
    rows = care_history(ctx.engine, home)
    return CarersOut(
        home=home, carers=[CarerOut.model_validate(r, from_attributes=True) for r in rows]
    )


@router.get(
    "/admin/homes/{home_id}/carers",
    response_model=CarersOut,
    tags=["rights"],
    summary="A home's named carers (responder accounts who see its health data), with history",
)
async def get_carers(home_id: HomeId, ctx: Ctx, who: Admin) -> CarersOut:
    return await run_in_threadpool(_carers, ctx, home_id)


@router.post(
    "/admin/homes/{home_id}/carers",
    response_model=CarersOut,
    tags=["rights"],
    summary="Name a responder account as a carer of the home (audited)",
    responses={409: {"description": "Not a responder account, unknown, or already a carer"}},
)
async def post_carer(home_id: HomeId, body: CarerIn, ctx: Ctx, who: Admin) -> CarersOut:
    try:
        row = await run_in_threadpool(
            lambda: name_carer(
                ctx.engine,
                home_id,
                body.email,
                relationship=body.relationship,
                recorded_by=who.email,
            )
        )
    except CareError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    await run_in_threadpool(
        lambda: audit.record(
            ctx.engine,
            who,
            "name_carer",
            home=home_id,
            subject=row.email,
            detail={"relationship": row.relationship},
        )
    )
    return await run_in_threadpool(_carers, ctx, home_id)


@router.post(
    "/admin/homes/{home_id}/carers/end",
    response_model=CarersOut,
    tags=["rights"],
    summary="End a carer's relationship to the home: it no longer sees the home (audited)",
    responses={409: {"description": "Not a carer of this home"}},
)
async def end_carer(home_id: HomeId, body: CarerEnd, ctx: Ctx, who: Admin) -> CarersOut:
    try:
        row = await run_in_threadpool(
            lambda: end_care(ctx.engine, home_id, body.email, ended_by=who.email)
        )
    except CareError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    await run_in_threadpool(
        lambda: audit.record(ctx.engine, who, "end_carer", home=home_id, subject=row.email)
    )
    return await run_in_threadpool(_carers, ctx, home_id)
