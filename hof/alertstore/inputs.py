"""What callers hand the store, checked once at the edge: times, names, enum values, evidence."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any, NamedTuple, TypeVar

from hof.alertstore.errors import AlertStoreError, StoreReason
from hof.alertstore.vocabulary import AssigneeKind, Audience, Category, Duty, Outcome, Severity

__all__ = [
    "ConditionKey",
    "aware_utc",
    "check_rule_version",
    "condition_key",
    "json_object",
    "nonempty",
    "parse_enum",
]

_E = TypeVar("_E", Category, Audience, Severity, Outcome, AssigneeKind, Duty)


class ConditionKey(NamedTuple):
    """What identifies a condition: at most one open alert per key."""

    home: str
    rule: str
    room: str | None


def aware_utc(at: dt.datetime) -> dt.datetime:
    """`at` in UTC; a naive time is refused, since nobody could say which zone it meant."""
    if at.tzinfo is None:
        raise AlertStoreError(StoreReason.BAD_INPUT, f"naive time {at.isoformat()}: give a zone")
    return at.astimezone(dt.UTC)


def nonempty(value: str, what: str, max_len: int = 200) -> str:
    """`value` trimmed; refused when empty or longer than its column (`max_len`)."""
    value = value.strip()
    if not value:
        raise AlertStoreError(StoreReason.BAD_INPUT, f"{what} must not be empty")
    if len(value) > max_len:
        raise AlertStoreError(
            StoreReason.BAD_INPUT, f"{what} is {len(value)} characters; at most {max_len}"
        )
    return value


def condition_key(home: str, rule: str, room: str | None) -> ConditionKey:
    """The key with blanks trimmed; an empty room means the whole home (None)."""
    room = room.strip() or None if room is not None else None
    return ConditionKey(
        nonempty(home, "home", 64),
        nonempty(rule, "rule", 100),
        nonempty(room, "room", 64) if room is not None else None,
    )


def check_rule_version(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AlertStoreError(StoreReason.BAD_INPUT, f"rule_version must be an int >= 0: {value!r}")
    return value


def parse_enum(kind: type[_E], value: _E | str) -> _E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise AlertStoreError(
            StoreReason.BAD_INPUT, f"{value!r} is not a {kind.__name__}; one of: {allowed}"
        ) from None


def json_object(evidence: Mapping[str, Any]) -> dict[str, Any]:
    """The evidence as plain JSON data, refused here rather than half-way into the database."""
    try:
        data = json.loads(json.dumps(dict(evidence), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise AlertStoreError(StoreReason.BAD_INPUT, f"evidence is not JSON data: {exc}") from exc
    assert isinstance(data, dict)
    return data
