"""The platform's "alert raised" message: the rules engine tells the notifier at once.

The alert store stays the truth: the message only says "look now" (the notifier reads the
store's history and claims the job rows there, so exactly-once does not depend on it), and a
notifier that misses one finds the alert at its next poll. It travels on a platform-only
topic, outside the device contract's `hof/v1/`: the broker's ACL gives devices and gateways
no pattern there, so they can neither read it nor forge one (deploy/mosquitto/acl.in).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hof.alertstore.vocabulary import Category

__all__ = ["RAISED_PREFIX", "RaisedAlert", "parse_raised", "raised_filter", "raised_topic"]

RAISED_PREFIX = "hof/platform/alerts"
MAX_PAYLOAD = 1024  # the message is a few ids; anything bigger is not ours


class RaisedAlert(BaseModel):
    """An alert that was opened (or reopened) in the store just now."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: int = Field(ge=1)
    home: str = Field(max_length=200)
    category: Category
    action: Literal["raised", "reopened"]


def raised_topic(alert_id: int) -> str:
    return f"{RAISED_PREFIX}/{alert_id}"


def raised_filter() -> str:
    """The subscription for every raised alert."""
    return f"{RAISED_PREFIX}/+"


def parse_raised(topic: str, payload: bytes) -> RaisedAlert | None:
    """The message, or None when it is not a well-formed one (it is a hint: never an error)."""
    if not topic.startswith(RAISED_PREFIX + "/") or len(payload) > MAX_PAYLOAD:
        return None
    try:
        found = RaisedAlert.model_validate_json(payload)
    except ValidationError:
        return None
    return found if raised_topic(found.id) == topic else None
