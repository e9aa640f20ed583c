"""Which room each device is in, learned from the retained `config` topics of the contract."""

from __future__ import annotations

import json

import structlog

from hof.errors import ContractError
from hof.topic import Topic, is_valid_id

__all__ = ["RoomMap"]

log = structlog.get_logger(__name__)


class RoomMap(dict[tuple[str, str], str]):
    """(home, device) -> room, from `{"rooms": {"<device>": "<room>"}}` on any config topic."""

    def learn(self, topic: str, payload: bytes) -> int:
        """Apply one config message; returns how many devices it placed. Bad configs are skipped."""
        try:
            home = Topic.parse(topic).home
            rooms = json.loads(payload).get("rooms", {}) if payload else {}
        except (ContractError, ValueError, AttributeError) as exc:
            log.warning("config_ignored", topic=topic, error=str(exc)[:200])
            return 0
        if not isinstance(rooms, dict):
            return 0
        placed = 0
        for device, room in rooms.items():
            if isinstance(device, str) and is_valid_id(device) and isinstance(room, str) and room:
                self[(home, device)] = room[:64]
                placed += 1
        return placed
