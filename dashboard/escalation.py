"""Where an unacknowledged responder alert is on the escalation ladder, and who is next.

The ladder is the landlord's policy (settings.dashboard.escalation: after so long, whom); the
state is computed from the alert's own times, so every page, API client and (later) the
notifier agree without a clock of their own. Acknowledging stops it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from hof.alertstore import AlertView, Audience, State
from hof.settings import EscalationStep

__all__ = ["Escalation", "countdown", "escalation_of"]


@dataclass(frozen=True, slots=True)
class Escalation:
    stopped: bool
    reached: tuple[str, ...]
    next_to: str | None
    next_at: dt.datetime | None
    text: str


def countdown(seconds: float) -> str:
    """0:42, 12:05, 1:02:05: minutes and seconds, hours when it is that long."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def escalation_of(
    alert: AlertView, steps: Sequence[EscalationStep], now: dt.datetime
) -> Escalation | None:
    """None for alerts that do not escalate (housing officers' cases)."""
    if alert.audience is Audience.HOUSING_OFFICER or not steps:
        return None
    ladder = sorted(steps, key=lambda s: s.after_s)
    raised = alert.first_raised_at
    if alert.state is State.RESOLVED:
        return Escalation(True, (), None, None, "Resolved: escalation ended")
    if alert.acknowledged_at is not None:
        at = alert.acknowledged_at
        reached = tuple(s.to for s in ladder if raised + dt.timedelta(seconds=s.after_s) <= at)
        who = alert.acknowledged_by or "someone"
        return Escalation(True, reached, None, None, f"Acknowledged by {who}: escalation stopped")
    elapsed = (now - raised).total_seconds()
    reached = tuple(s.to for s in ladder if s.after_s <= elapsed)
    upcoming = next((s for s in ladder if s.after_s > elapsed), None)
    current = f"With {reached[-1]}" if reached else "Not yet sent"
    if upcoming is None:
        return Escalation(False, reached, None, None, f"{current} (last step)")
    due = raised + dt.timedelta(seconds=upcoming.after_s)
    text = f"{current}; next: {upcoming.to} in {countdown((due - now).total_seconds())}"
    return Escalation(False, reached, upcoming.to, due, text)
