"""Device notice channel: `hof/v1/{home}/{device}/notice` (CONTRACT.md), QoS 1, not retained.

`{"alert":"A-1042","state":"acknowledged","text":"Help is on the way","ts":1763841660}`: the
state comes from the message's data (`notice`): `check`, `acknowledged` or `resolved`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable

from notify.channels.base import Delivery, DeliveryStatus, Message

__all__ = ["DeviceNoticeChannel", "notice_payload"]

Publish = Callable[[str, bytes], Awaitable[None]]


def notice_payload(message: Message) -> bytes:
    return json.dumps(
        {
            "alert": f"A-{message.alert_id}",
            "state": str(message.data.get("notice", "raised")),
            "text": message.text,
            "ts": int(time.time()),
        },
        separators=(",", ":"),
    ).encode()


class DeviceNoticeChannel:
    name = "device_notice"

    def __init__(self, publish: Publish) -> None:
        self.publish = publish  # e.g. hof.mqtt.Link.publish: QoS 1, waits for the PUBACK

    async def send(self, message: Message) -> Delivery:
        topic = message.recipient.address
        try:
            await self.publish(topic, notice_payload(message))
        except Exception as exc:  # the link's errors: not connected, no PUBACK in time
            return Delivery(DeliveryStatus.FAILED, f"{type(exc).__name__}: {exc}", retryable=True)
        return Delivery(DeliveryStatus.SENT, f"published to {topic}")

    async def aclose(self) -> None:
        return None
