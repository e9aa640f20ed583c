"""The alert store: alerts as cases with a lifecycle, append-only history and Awaab's Law clocks.

The rules engine (`alerts/`) writes here and the dashboard reads and acts here; they never
import each other. SQLite under the state directory by default, PostgreSQL in production.
"""

from hof.alertstore.aio import AsyncAlertStore
from hof.alertstore.api import AlertStore
from hof.alertstore.awaab import DEFAULT_CLOCKS, ClockPolicy, Clocks, HazardClocks, Span
from hof.alertstore.engine import make_engine, store_url
from hof.alertstore.errors import (
    AlertNotFound,
    AlertStoreError,
    StoreReason,
    StoreUnavailable,
    TransitionRefused,
)
from hof.alertstore.migrate import migrate
from hof.alertstore.records import AlertDetail, AlertFilter, AlertView, HistoryEntry, Page
from hof.alertstore.vocabulary import (
    Action,
    AssigneeKind,
    Audience,
    Category,
    Duty,
    Outcome,
    Severity,
    State,
)
from hof.alertstore.workingdays import add_working_days, bank_holidays, is_working_day

__all__ = [
    "DEFAULT_CLOCKS",
    "Action",
    "AlertDetail",
    "AlertFilter",
    "AlertNotFound",
    "AlertStore",
    "AlertStoreError",
    "AlertView",
    "AssigneeKind",
    "AsyncAlertStore",
    "Audience",
    "Category",
    "ClockPolicy",
    "Clocks",
    "Duty",
    "HazardClocks",
    "HistoryEntry",
    "Outcome",
    "Page",
    "Severity",
    "Span",
    "State",
    "StoreReason",
    "StoreUnavailable",
    "TransitionRefused",
    "add_working_days",
    "bank_holidays",
    "is_working_day",
    "make_engine",
    "migrate",
    "store_url",
]

# The registry's tables (homes, accounts, audit) share this database and its migrations, so its
# models must be on the same metadata whenever the alert store's are.
import hof.registry.models  # noqa: F401
