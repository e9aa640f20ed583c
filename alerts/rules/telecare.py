"""Telecare events: falls, help buttons and pull cords, leaks, smoke, tamper — at once."""

from __future__ import annotations

from alerts.findings import Action, Audience, Category, Finding, RuleInfo, Severity
from hof.senml import Record

__all__ = ["FALL", "HELP", "LEAK", "SMOKE", "TAMPER", "on_event"]

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
