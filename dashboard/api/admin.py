"""API: who am I, and (for admins) accounts and the audit log."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from dashboard.deps import ApiUser

router = APIRouter(tags=["accounts"])


class Me(BaseModel):
    email: str
    name: str
    role: str
    patches: list[str]
    sees_health_data: bool


@router.get("/me", response_model=Me, summary="The account this token or session acts as")
async def me(who: ApiUser) -> Me:
    return Me(
        email=who.email,
        name=who.name,
        role=who.role.value,
        patches=list(who.patches),
        sees_health_data=who.sees_health,
    )
