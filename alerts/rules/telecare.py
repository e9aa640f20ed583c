"""Telecare events: falls, help buttons and pull cords, leaks, smoke, tamper — at once.

A cancel (`fall` or `button` = `cancelled`) withdraws only what the same device raised, and
only when it comes on `event` (CONTRACT.md): a pull cord in the hall cannot withdraw the
pendant's fall, nor can a sensor's `reading`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from alerts.findings import Action, Audience, Category, Finding, RuleInfo, Severity
from hof.senml import Record
from hof.topic import Channel

__all__ = [
    "FALL",
    "HELP",
    "LEAK",
    "SMOKE",
    "TAMPER",
    "cancel_refusal",
    "on_event",
    "with_raisers",
    "withdraw_refusal",
]

CANCELLABLE = frozenset({"fall", "button"})
# The event names `on_event` judges: what a telecare-only worker takes (AlertsSettings.rules).
EVENT_NAMES = frozenset({"fall", "button", "leak", "smoke", "tamper"})

FALL = RuleInfo("fall", 1, Category.FALL, Audience.RESPONDER, "DOMAIN.md Telecare: fall detection")
HELP = RuleInfo("help_button", 1, Category.BUTTON, Audience.RESPONDER, "pendant or pull cord")
LEAK = RuleInfo("water_leak", 1, Category.LEAK, Audience.BOTH, "leak probe")
SMOKE = RuleInfo("smoke", 1, Category.SMOKE, Audience.BOTH, "smoke alarm")
TAMPER = RuleInfo("tamper", 1, Category.TAMPER, Audience.HOUSING_OFFICER, "device health")


def _where(room: str | None) -> str:
    return f" in the {room.replace('_', ' ')}" if room else ""


def on_event(home: str, room: str | None, record: Record) -> Finding | None:
    """The finding one event record makes, or None when it is not a telecare event."""
    where = _where(room)
    device = record.device
    evidence = {"device": device, "name": record.name, "value": record.value, "time": record.time}
    match record.name, record.value:
        case "fall", "detected":
            return Finding(
                Action.RAISE,
                FALL,
                home,
                room,
                Severity.EMERGENCY,
                record.time,
                f"Fall detected by {device}{where}.",
                evidence,
            )
        case "fall", "cancelled":
            return Finding(
                Action.WITHDRAW,
                FALL,
                home,
                room,
                Severity.EMERGENCY,
                record.time,
                f"The wearer cancelled the fall alarm on {device}.",
                evidence,
            )
        case "button", "pressed":
            return Finding(
                Action.RAISE,
                HELP,
                home,
                room,
                Severity.EMERGENCY,
                record.time,
                f"Help requested: {device}{where} was pressed.",
                evidence,
            )
        case "button", "cancelled":
            return Finding(
                Action.WITHDRAW,
                HELP,
                home,
                room,
                Severity.EMERGENCY,
                record.time,
                f"The help call on {device} was cancelled.",
                evidence,
            )
        case "leak", bool(wet):
            action = Action.RAISE if wet else Action.CLEAR
            text = f"Water detected by {device}{where}." if wet else f"{device} is dry again."
            return Finding(action, LEAK, home, room, Severity.SEVERE, record.time, text, evidence)
        case "smoke", bool(sounding):
            action = Action.RAISE if sounding else Action.CLEAR
            text = f"Smoke alarm sounding{where}." if sounding else "The smoke alarm has stopped."
            return Finding(
                action, SMOKE, home, room, Severity.EMERGENCY, record.time, text, evidence
            )
        case "tamper", bool(opened):
            action = Action.RAISE if opened else Action.CLEAR
            text = (
                f"{device}{where} was opened or removed."
                if opened
                else f"{device} is closed and in place again."
            )
            return Finding(action, TAMPER, home, room, Severity.WATCH, record.time, text, evidence)
    return None


def cancel_refusal(record: Record, channel: Channel) -> str | None:
    """Why this record may not withdraw anything, as a reason code; None when it is not a
    cancel, or is one on the right channel."""
    if record.name not in CANCELLABLE or record.value != "cancelled":
        return None
    if channel is not Channel.EVENT:
        return "cancel_not_on_event"
    return None


def _raisers(evidence: Mapping[str, Any]) -> set[str]:
    devices = evidence.get("devices")
    if isinstance(devices, list):
        return {d for d in devices if isinstance(d, str)}
    device = evidence.get("device")
    return {device} if isinstance(device, str) else set()


def with_raisers(
    evidence: dict[str, Any], still_open: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The evidence of a fall or help call, with `devices`: every device that raised the open
    alert it updates (the store keeps one open alert per home, rule and room, and its evidence
    is the latest event's), so a cancel from one of two cannot withdraw the other's call."""
    if evidence.get("name") not in CANCELLABLE or "device" not in evidence:
        return evidence
    devices = {evidence["device"]}
    for earlier in still_open:
        devices |= _raisers(earlier)
    return {**evidence, "devices": sorted(devices)}


def withdraw_refusal(raised: Mapping[str, Any], cancel: Finding) -> str | None:
    """Why `cancel` may not withdraw the alert whose evidence is `raised`; None when it may.

    Only when every device that raised it is the cancelling one: an alert with no device in
    its evidence, or raised by two devices, is never withdrawn by a device (a person closes
    it)."""
    if _raisers(raised) != {cancel.evidence.get("device")}:
        return "cancel_other_device"
    return None
