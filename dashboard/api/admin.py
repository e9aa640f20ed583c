"""API: who am I, and for admins: accounts, homes (bulk upsert from a landlord's system) and
the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from dashboard import accounts, admin, audit
from dashboard.access import Principal, Role
from dashboard.api.models import MAX_ROW_ID
from dashboard.deps import ApiUser, Ctx, api_roles
from hof.registry import HomeIn, upsert_homes

router = APIRouter()
Admin = Annotated[Principal, Depends(api_roles(Role.ADMIN))]


class Me(BaseModel):
    email: str
    name: str
    role: str
    patches: list[str]
    cares_for: list[str] = Field(
        description="Homes this account is a named carer of (their health data included)"
    )
    sees_health_data: bool = Field(
        description="Falls, help calls and activity: responders only, in their patches' homes "
        "and the homes they care for; never housing officers or admins"
    )


@router.get(
    "/me", response_model=Me, tags=["accounts"], summary="The account this token or session is"
)
async def me(who: ApiUser) -> Me:
    return Me(
        email=who.email,
        name=who.name,
        role=who.role.value,
        patches=list(who.patches),
        cares_for=list(who.cares_for),
        sees_health_data=who.sees_health,
    )


class UserOut(BaseModel):
    email: str
    name: str
    role: Role
    patches: list[str]
    active: bool
    last_login_at: dt.datetime | None


class UserIn(BaseModel):
    email: str = Field(max_length=320)
    name: str = Field(default="", max_length=200)
    role: Role
    patches: list[str] = Field(default_factory=list, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


@router.get("/admin/users", response_model=list[UserOut], tags=["admin"], summary="Accounts")
async def list_users(ctx: Ctx, who: Admin) -> list[UserOut]:
    users = await run_in_threadpool(accounts.list_users, ctx.engine)
    return [
        UserOut(
            email=u.email,
            name=u.name,
            role=u.role,
            patches=list(u.patches),
            active=u.active,
            last_login_at=u.last_login_at,
        )
        for u in users
    ]


@router.post(
    "/admin/users",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    tags=["admin"],
    summary="Add an account",
)
async def add_user(body: UserIn, ctx: Ctx, who: Admin) -> UserOut:
    try:
        user = await run_in_threadpool(
            lambda: accounts.create_user(
                ctx.engine,
                email=body.email,
                name=body.name,
                role=body.role,
                password=body.password,
                patches=tuple(body.patches),
            )
        )
    except accounts.AccountError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from exc
    await run_in_threadpool(
        audit.record, ctx.engine, who, "add_user", subject=user.email, detail={"role": user.role}
    )
    return UserOut(
        email=user.email,
        name=user.name,
        role=user.role,
        patches=list(user.patches),
        active=user.active,
        last_login_at=None,
    )


# A home's property reference is unique: one already held by another home id is a conflict.
CONFLICT = "a property reference in the request already belongs to another home"


class HomesWritten(BaseModel):
    written: int


@router.post(
    "/admin/homes",
    response_model=HomesWritten,
    tags=["admin"],
    summary="Insert or update homes by id (up to 5,000 a call)",
)
async def put_homes(
    body: Annotated[list[HomeIn], Field(max_length=5000)], ctx: Ctx, who: Admin
) -> HomesWritten:
    try:
        written = await run_in_threadpool(upsert_homes, ctx.engine, body)
    except IntegrityError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, CONFLICT) from exc
    await run_in_threadpool(
        audit.record, ctx.engine, who, "upsert_homes", detail={"homes": written}
    )
    return HomesWritten(written=written)


class AuditOut(BaseModel):
    id: int
    at: dt.datetime
    actor: str
    role: str
    via: str
    action: str
    home: str | None
    subject: str | None
    detail: dict[str, Any]


@router.get(
    "/admin/audit",
    response_model=list[AuditOut],
    tags=["admin"],
    summary="The audit log, newest first (page back with `before`)",
)
async def audit_log(
    ctx: Ctx,
    who: Admin,
    home: str = "",
    actor: str = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
) -> list[AuditOut]:
    rows = await run_in_threadpool(
        lambda: admin.audit_events(ctx.engine, home=home, actor=actor, limit=limit, before=before)
    )
    return [AuditOut.model_validate(row, from_attributes=True) for row in rows]
