"""Devices' messages published with the platform's credential, for the rules engine's e2e tests:
packs of readings at any time, and the retained configs that name a device's room."""

from __future__ import annotations

import json
import threading
from typing import Any

import paho.mqtt.client as paho
from hofsupport import history_packs
from paho.mqtt.enums import CallbackAPIVersion

from hof.settings import Settings


class Publisher:
    """Publishes devices' messages (and their retained configs) as the platform account."""

    def __init__(self, settings: Settings) -> None:
        self.client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        assert settings.mqtt.password is not None
        self.client.username_pw_set(
            settings.mqtt.username, settings.mqtt.password.get_secret_value()
        )
        self.client.connect(settings.mqtt.host, settings.mqtt.port)
        self.client.loop_start()
        self.lock = threading.Lock()

    def publish(
        self, home: str, device: str, channel: str, body: Any, *, retain: bool = False
    ) -> None:
        payload = body if isinstance(body, str) else json.dumps(body)
        with self.lock:
            info = self.client.publish(
                f"hof/v1/{home}/{device}/{channel}", payload, qos=1, retain=retain
            )
        info.wait_for_publish(10)
        assert info.is_published()

    def room(self, home: str, device: str, room: str) -> None:
        self.publish(home, device, "config", {"rooms": {device: room}}, retain=True)

    def history(
        self, home: str, device: str, start: float, hours: float, temp: float, rh: float
    ) -> None:
        """`hours` of 5-minute readings from `start`, three hours a pack."""
        for pack in history_packs(device, start, hours, temp, rh):
            self.publish(home, device, "reading", pack)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
