"""Topics of the wire contract: `hof/v1/{home}/{device}/{channel}`, parsed and built."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from hof.errors import ContractError, Reason

__all__ = ["ID_PATTERN", "PREFIX", "Channel", "Topic", "is_valid_id", "subscription"]

PREFIX = "hof/v1"
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class Channel(StrEnum):
    """The last level of a topic; CONTRACT.md's table plus `deadletter`."""

    READING = "reading"
    EVENT = "event"
    STATUS = "status"
    CONFIG = "config"
    NOTICE = "notice"
    DEADLETTER = "deadletter"


def is_valid_id(value: str) -> bool:
    """True when `value` may be a home or device id."""
    return ID_PATTERN.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class Topic:
    """One concrete contract topic; constructing it validates it."""

    home: str
    device: str
    channel: Channel

    def __post_init__(self) -> None:
        for what, value in (("home", self.home), ("device", self.device)):
            if not is_valid_id(value):
                raise ContractError(
                    Reason.BAD_TOPIC,
                    f"{what} id {value!r} does not match {ID_PATTERN.pattern}",
                )

    @classmethod
    def parse(cls, topic: str) -> Topic:
        """Parse a topic string, raising ContractError(bad_topic) with the reason."""
        parts = topic.split("/")
        if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != PREFIX:
            raise ContractError(
                Reason.BAD_TOPIC, f"{topic!r} is not {PREFIX}/{{home}}/{{device}}/{{channel}}"
            )
        try:
            channel = Channel(parts[4])
        except ValueError:
            raise ContractError(Reason.BAD_TOPIC, f"unknown channel {parts[4]!r}") from None
        return cls(parts[2], parts[3], channel)

    def with_channel(self, channel: Channel) -> Topic:
        """The same home and device on another channel (e.g. its dead letters)."""
        return Topic(self.home, self.device, channel)

    def __str__(self) -> str:
        return f"{PREFIX}/{self.home}/{self.device}/{self.channel.value}"


def subscription(channel: Channel, *, share_group: str | None = None) -> str:
    """The wildcard filter for one channel across all homes, optionally MQTT 5 shared."""
    base = f"{PREFIX}/+/+/{channel.value}"
    return f"$share/{share_group}/{base}" if share_group else base
