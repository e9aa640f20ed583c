"""The platform's registry: homes (address, reference, estate, ward, patch), the need summary the
dashboard ranks them by, and the dashboard's accounts, sessions, API tokens and audit log.

The tables live in the same database as the alert store and migrate with it.
"""

from hof.registry.homes import HomeIn, import_homes, insert_for, upsert_homes
from hof.registry.models import (
    ApiToken,
    AuditEvent,
    Home,
    HomeCondition,
    User,
    UserSession,
)

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Home",
    "HomeCondition",
    "HomeIn",
    "User",
    "UserSession",
    "import_homes",
    "insert_for",
    "upsert_homes",
]
