"""The alert store's errors: every refusal carries a stable reason code and says why.

HofError
└── AlertStoreError        reason + detail
    ├── AlertNotFound      no alert with that id (or no open alert for that condition)
    ├── TransitionRefused  the alert's state does not allow the change asked for
    └── StoreUnavailable   the database refused or could not be reached
"""

from __future__ import annotations

from enum import StrEnum

from hof.errors import HofError

__all__ = [
    "AlertNotFound",
    "AlertStoreError",
    "StoreReason",
    "StoreUnavailable",
    "TransitionRefused",
]


class StoreReason(StrEnum):
    """Why the alert store refused; stable codes for logs, metrics and API responses."""

    NOT_FOUND = "not_found"
    ALREADY_RESOLVED = "already_resolved"
    ALREADY_ACKNOWLEDGED = "already_acknowledged"
    NOT_SELF_CLEARING = "not_self_clearing"
    OUTCOME_RESERVED = "outcome_reserved"
    NO_CLOCKS = "no_clocks"
    DUTY_ALREADY_RECORDED = "duty_already_recorded"
    DUTY_OUT_OF_ORDER = "duty_out_of_order"
    ALREADY_CONFIRMED = "already_confirmed"
    BAD_INPUT = "bad_input"
    DATABASE = "database"


class AlertStoreError(HofError):
    """Root of the alert store's errors; `reason` is a stable code, `detail` says exactly why."""

    def __init__(self, reason: StoreReason, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}")


class AlertNotFound(AlertStoreError):
    """No alert with that id, or no open alert for that (home, rule, room)."""

    def __init__(self, detail: str) -> None:
        super().__init__(StoreReason.NOT_FOUND, detail)


class TransitionRefused(AlertStoreError):
    """The change is not allowed from the alert's current state (e.g. resolving twice)."""


class StoreUnavailable(AlertStoreError):
    """The database refused the work or could not be reached (translated from SQLAlchemy)."""

    def __init__(self, detail: str) -> None:
        super().__init__(StoreReason.DATABASE, detail)
