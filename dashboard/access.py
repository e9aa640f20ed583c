"""Who may see what: roles, patches and the health data a housing officer never sees.

Enforced where data leaves (every API and page query goes through these), not by hiding links.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import sqlalchemy as sa

from hof.alertstore import Audience, Category
from hof.registry import Home

__all__ = [
    "ALL_PATCHES",
    "HEALTH_CATEGORIES",
    "HEALTH_EVENTS",
    "Principal",
    "Role",
    "audiences_for",
    "categories_for",
    "home_clause",
]

ALL_PATCHES = "*"
# Health-related data (DESIGN.md: seen only by the people caring for the tenant).
HEALTH_CATEGORIES = frozenset({Category.FALL, Category.BUTTON, Category.INACTIVITY})
HEALTH_EVENTS = frozenset({"fall", "button", "motion", "presence", "activity"})


class Role(StrEnum):
    HOUSING_OFFICER = "housing_officer"
    RESPONDER = "responder"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


@dataclass(frozen=True, slots=True)
class Principal:
    """The person (or their API token) making a request."""

    user_id: int
    email: str
    name: str
    role: Role
    patches: tuple[str, ...]
    via: Literal["page", "api"]
    csrf: str = ""  # the session's form token; empty for API tokens (no cookies, no CSRF)

    @property
    def all_patches(self) -> bool:
        return self.role is Role.ADMIN or ALL_PATCHES in self.patches

    @property
    def sees_health(self) -> bool:
        """Falls, help calls, inactivity and activity data: carers and admins only."""
        return self.role is not Role.HOUSING_OFFICER

    def may_see_patch(self, patch: str) -> bool:
        return self.all_patches or patch in self.patches


def audiences_for(p: Principal) -> tuple[Audience, ...]:
    """The alert audiences this person works: an audience filter also matches `both`."""
    if p.role is Role.HOUSING_OFFICER:
        return (Audience.HOUSING_OFFICER, Audience.BOTH)
    if p.role is Role.RESPONDER:
        return (Audience.RESPONDER, Audience.BOTH)
    return ()  # admin: every audience


def categories_for(p: Principal) -> tuple[Category, ...]:
    """The alert categories this person may see (empty means all)."""
    if p.sees_health:
        return ()
    return tuple(c for c in Category if c not in HEALTH_CATEGORIES)


def home_clause(p: Principal) -> sa.ColumnElement[bool]:
    """A WHERE clause on `home` limiting rows to this person's patches."""
    if p.all_patches:
        return sa.true()
    return Home.patch.in_(p.patches)


def patches_or_all(p: Principal) -> Collection[str] | None:
    """The patches to limit a query to, or None for all of them."""
    return None if p.all_patches else p.patches
