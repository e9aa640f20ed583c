"""The gateway's dead letters: the device's `deadletter` topic on the home broker, with why."""

from __future__ import annotations

import base64
import json

from hof.errors import ContractError

__all__ = ["deadletter_body"]

MAX_ECHO_BYTES = 16 * 1024


def deadletter_body(topic: str, payload: bytes, error: ContractError, received_at: float) -> bytes:
    """The JSON a device (or its installer) reads to learn exactly why a message was refused."""
    body: dict[str, object] = {
        "reason": error.reason.value,
        "detail": error.detail,
        "topic": topic,
        "received": round(received_at, 3),
        "service": "gateway",
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
