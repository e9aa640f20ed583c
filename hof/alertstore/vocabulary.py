"""The alert store's words: categories, audiences, severities, states, outcomes, history actions."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "SELF_CLEARING",
    "Action",
    "AssigneeKind",
    "Audience",
    "Category",
    "Duty",
    "Outcome",
    "Severity",
    "State",
]


class Category(StrEnum):
    """What kind of condition an alert is about (the rules engine's `RuleInfo.category`)."""

    DAMP_MOULD = "damp_mould"
    COLD = "cold"
    HEAT = "heat"
    VENTILATION = "ventilation"
    FALL = "fall"
    BUTTON = "button"
    INACTIVITY = "inactivity"
    LEAK = "leak"
    SMOKE = "smoke"
    DEVICE_OFFLINE = "device_offline"
    LOW_BATTERY = "low_battery"
    TAMPER = "tamper"


# Conditions a sensor can see go away by itself; the rest need a person to close them.
SELF_CLEARING = frozenset(
    {
        Category.DAMP_MOULD,
        Category.COLD,
        Category.HEAT,
        Category.VENTILATION,
        Category.DEVICE_OFFLINE,
        Category.LOW_BATTERY,
    }
)


class Audience(StrEnum):
    """Who the alert is for; health-related alerts go to responders only."""

    HOUSING_OFFICER = "housing_officer"
    RESPONDER = "responder"
    BOTH = "both"


class Severity(StrEnum):
    """How bad, in increasing order; `rank` compares them (worst wins on update)."""

    WATCH = "watch"
    SIGNIFICANT = "significant"
    SEVERE = "severe"
    EMERGENCY = "emergency"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


# A dict, not `list.index`: the rules compare ranks at every reading of every room.
_SEVERITY_RANK = {severity: i for i, severity in enumerate(Severity)}


class State(StrEnum):
    """Where an alert is in its life: open -> acknowledged -> assigned -> resolved."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"


class Outcome(StrEnum):
    """How a resolved alert ended."""

    FIXED = "fixed"
    FALSE_ALARM = "false_alarm"
    TENANT_DECLINED = "tenant_declined"
    NO_ACCESS = "no_access"
    WITHDRAWN = "withdrawn"  # the wearer cancelled within the confirm window
    CLEARED = "cleared"  # the condition went away by itself (sensor), may reopen
    DUPLICATE = "duplicate"
    OTHER = "other"


class AssigneeKind(StrEnum):
    PERSON = "person"
    TEAM = "team"


class Duty(StrEnum):
    """Awaab's Law duties a case records as done; each stops one clock."""

    INVESTIGATED = "investigated"  # investigation ended: starts the summary and works clocks
    SUMMARY_SENT = "summary_sent"  # written summary given to the tenant
    MADE_SAFE = "made_safe"  # emergency or safety work done
    FURTHER_WORKS_STARTED = "further_works_started"


class Action(StrEnum):
    """What a history row records."""

    RAISED = "raised"
    UPDATED = "updated"
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    NOTE = "note"
    RESOLVED = "resolved"
    CLEARED = "cleared"
    WITHDRAWN = "withdrawn"
    REOPENED = "reopened"
    CONFIRMED = "confirmed"
    DUTY = "duty"
