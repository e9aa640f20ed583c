"""Inactivity: no movement in a home for longer than its tenant's usual span.

Before anyone is called out the tenant is asked (a `check` notice: "press the button if you
are all right"); the device answers with an event `checkin` (vb true), which is activity and
withdraws the open inactivity alert, so the escalation stops.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from alerts.findings import Action, Audience, Category, Finding, RuleInfo, Severity
from alerts.thresholds import Thresholds

__all__ = [
    "ANSWERED",
    "INACTIVITY",
    "ActivityState",
    "on_checkin",
    "on_data",
    "on_motion",
    "on_tick",
]

ANSWERED = "The tenant answered the check on {device}: they pressed to say they are all right."

INACTIVITY = RuleInfo(
    "inactivity",
    1,
    Category.INACTIVITY,
    Audience.RESPONDER,
    "no movement for 12-14 h while home (Tunstall's default range; DOMAIN.md)",
)


@dataclass
class ActivityState:
    """A home with motion sensors: when movement was last seen, and whether that was raised.

    Silence is measured in the home's own data time (`latest`: the newest record from any of
    its devices), not the wall clock: replayed history is not inactivity, and a home whose
    sensors all went quiet is a device-health alert, not a tenant who stopped moving.
    """

    home: str
    last_motion: float = 0.0
    latest: float = 0.0
    raised: bool = False


def on_motion(state: ActivityState, t: float) -> None:
    """Movement seen; a raised inactivity alert stays for a responder to close."""
    state.latest = max(state.latest, t)
    if t > state.last_motion:
        state.last_motion = t
        state.raised = False


def on_data(state: ActivityState, t: float) -> None:
    """Any record from the home: its data has reached time `t`."""
    state.latest = max(state.latest, t)


def _morning_missed(state: ActivityState, at: float, th: Thresholds) -> str | None:
    """The morning check: past `inactivity_by_hour` local time, no movement since morning."""
    if th.inactivity_by_hour is None:
        return None
    local = datetime.fromtimestamp(at, ZoneInfo(th.timezone))
    if local.hour < th.inactivity_by_hour:
        return None
    morning = local.replace(hour=th.morning_from_hour, minute=0, second=0, microsecond=0)
    if state.last_motion >= morning.timestamp():
        return None
    return f"No movement seen this morning by {th.inactivity_by_hour:02d}:00"


def on_tick(state: ActivityState, now: float, th: Thresholds) -> Finding | None:
    at = min(now, state.latest)
    silent_h = (at - state.last_motion) / 3600
    if state.raised or state.last_motion == 0.0:
        return None
    morning = _morning_missed(state, at, th)
    if morning is None and silent_h < th.inactivity_hours:
        return None
    state.raised = True
    seen = time.strftime("%H:%M on %d %b", time.gmtime(state.last_motion))
    what = morning or "No movement seen in the home"
    return Finding(
        Action.RAISE,
        INACTIVITY,
        state.home,
        None,
        Severity.SIGNIFICANT,
        now,
        f"{what}: none for {silent_h:.1f} hours (last at {seen} UTC).",
        {
            "last_motion": state.last_motion,
            "hours": round(silent_h, 2),
            "limit_hours": th.inactivity_hours,
        },
    )


def on_checkin(state: ActivityState, t: float, device: str) -> Finding:
    """The tenant answered a check: they are up and about, and the open alert (if any) ends."""
    on_motion(state, t)
    return Finding(
        Action.WITHDRAW,
        INACTIVITY,
        state.home,
        None,
        Severity.SIGNIFICANT,
        t,
        ANSWERED.format(device=device),
        {"device": device, "time": t, "answered": "check"},
    )
