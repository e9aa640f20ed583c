"""What a rule concludes: raise, clear or withdraw an alert, with evidence a person can read."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hof.alertstore.vocabulary import Audience, Category, Severity

__all__ = ["Action", "Audience", "Category", "Finding", "RuleInfo", "Severity"]


class Action(StrEnum):
    RAISE = "raise"  # open an alert, or update the open one with new evidence
    CLEAR = "clear"  # the condition has gone (environmental, device health)
    WITHDRAW = "withdraw"  # the wearer cancelled within the confirm window
    # The open case's evidence brought up to date, its severity the same: a humid day or a
    # night of condensation counted, which a restarted worker takes back from the evidence.
    # Stored as a raise would be; not a change of the case's state.
    NOTE = "note"
    # A damp or cold case's signs have gone and it waits out its hold before it clears: the
    # open case's words and evidence say so. Never opens a case: an officer may have closed it
    # meanwhile, and no sign is no reason to open one.
    HOLD = "hold"


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """A rule's identity, who it is for and where its defaults come from."""

    name: str
    version: int
    category: Category
    audience: Audience
    source: str


@dataclass(frozen=True, slots=True)
class Finding:
    """One conclusion about one (home, rule, room); the alert store turns it into a case."""

    action: Action
    rule: RuleInfo
    home: str
    room: str | None
    severity: Severity
    at: float
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
