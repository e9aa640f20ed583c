"""Dead letters: what a refused message looked like and exactly why (ingest and the gateway)."""

from __future__ import annotations

import base64
import json

from hof.errors import ContractError
from hof.topic import Channel, Topic

__all__ = ["deadletter_body", "deadletter_message"]

MAX_ECHO_BYTES = 16 * 1024


def deadletter_message(
    topic: str, payload: bytes, error: ContractError, received_at: float, *, service: str
) -> tuple[str | None, bytes]:
    """The dead-letter topic (None when the topic names no valid home) and its JSON payload."""
    try:
        target: str | None = str(Topic.parse(topic).with_channel(Channel.DEADLETTER))
    except ContractError:
        target = None
    return target, deadletter_body(topic, payload, error, received_at, service=service)


def deadletter_body(
    topic: str, payload: bytes, error: ContractError, received_at: float, *, service: str
) -> bytes:
    """The JSON a device (or its installer) reads to learn exactly why a message was refused."""
    body: dict[str, object] = {
        "reason": error.reason.value,
        "detail": error.detail,
        "topic": topic,
        "received": round(received_at, 3),
        "service": service,
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
    return json.dumps(body, separators=(",", ":")).encode()
