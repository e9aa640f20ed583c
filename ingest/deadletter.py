"""Dead letters: what a rejected message looked like and exactly why it was refused."""

from __future__ import annotations

import base64
import json

from hof.errors import ContractError
from hof.topic import Channel, Topic

__all__ = ["deadletter_message"]

MAX_ECHO_BYTES = 16 * 1024


def deadletter_message(
    topic: str, payload: bytes, error: ContractError, received_at: float
) -> tuple[str | None, bytes]:
    """The dead-letter topic (None when the topic names no valid home) and its JSON payload."""
    try:
        target: str | None = str(Topic.parse(topic).with_channel(Channel.DEADLETTER))
    except ContractError:
        target = None
    body: dict[str, object] = {
        "reason": error.reason.value,
        "detail": error.detail,
        "topic": topic,
        "received": round(received_at, 3),
        "service": "ingest",
        "size": len(payload),
    }
    if error.index is not None:
        body["record"] = error.index
    echo = payload[:MAX_ECHO_BYTES]
    try:
        body["payload"] = echo.decode()
    except UnicodeDecodeError:
        body["payload_base64"] = base64.b64encode(echo).decode()
    if len(payload) > MAX_ECHO_BYTES:
        body["truncated"] = True
    return target, json.dumps(body, separators=(",", ":")).encode()
