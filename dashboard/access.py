"""Who may see what: roles, patches, care relationships, and the health data only carers see.

Health data (falls, help calls, inactivity, activity) follows a care relationship, as in a
shared care record: the responders of the home's patch (its care team) and the responders an
admin named as the home's carers (hof/registry/carers.py). A housing officer never sees it, and
neither does an admin: managing accounts is not caring for anyone. Enforced where data leaves
(every API and page query goes through these), not by hiding links.
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
    # Homes this person is a named carer for, whatever their patches (responders only).
    cares_for: tuple[str, ...] = ()

    @property
    def all_patches(self) -> bool:
        return self.role is Role.ADMIN or ALL_PATCHES in self.patches

    @property
    def sees_health(self) -> bool:
        """Falls, help calls, inactivity and activity data: responders (a home's care team or
        its named carers) only, in the homes they may see."""
        return self.role is Role.RESPONDER

    def may_see_patch(self, patch: str) -> bool:
        return self.all_patches or patch in self.patches

    def may_see_home(self, home: str, patch: str | None) -> bool:
        """The home is in this person's patches or they care for it (`patch` None: the home is
        not in the registry, which only an admin sees)."""
        if self.all_patches or home in self.cares_for:
            return True
        return patch is not None and patch in self.patches


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
    """A WHERE clause on `home` limiting rows to this person's patches and the homes they
    care for."""
    if p.all_patches:
        return sa.true()
    if not p.cares_for:
        return Home.patch.in_(p.patches)
    return sa.or_(Home.patch.in_(p.patches), Home.id.in_(p.cares_for))


def patches_or_all(p: Principal) -> Collection[str] | None:
    """The patches to limit a query to, or None for all of them."""
    return None if p.all_patches else p.patches
