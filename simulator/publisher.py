"""Publishing the estate over MQTT: QoS 1, a bounded number unacknowledged, nothing dropped."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from hof.errors import HofError
from hof.settings import MqttSettings

__all__ = ["PublishError", "Publisher"]

log = structlog.get_logger(__name__)


class PublishError(HofError):
    """The broker refused the connection, or stopped acknowledging what was published."""


class Publisher:
    """One paho 2.x MQTT 5 connection publishing with QoS 1.

    At most `max_pending` messages are unacknowledged at once (in flight, or queued in paho while
    the link is down): `publish` waits for PUBACKs before taking more, so memory is bounded and
    the broker's pace sets ours. paho's own reconnect is used on purpose: it keeps the
    unacknowledged messages and sends them again on the new connection (a fresh client per
    connection would lose them). A refusing PUBACK is counted and logged, never ignored.
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        username: str | None,
        password: str | None,
        client_id: str,
        max_pending: int = 1000,
        stall_timeout_s: float = 60.0,
    ) -> None:
        self.settings = settings
        self.max_pending = max_pending
        self.stall_timeout_s = stall_timeout_s
        self.published = 0
        self.acknowledged = 0
        self.refused = 0
        self._pending = 0
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self._connack: ReasonCode | None = None
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5,
        )
        if username is not None:
            client.username_pw_set(username, password)
        if settings.tls:
            client.tls_set_context(
                ssl.create_default_context(
                    cafile=str(settings.ca_file) if settings.ca_file else None
                )
            )
        # Mosquitto's max_inflight_messages is 100; paho holds the rest of our window queued.
        client.max_inflight_messages_set(min(100, max_pending))
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._client = client
        self._listeners: list[tuple[str, Callable[[str, bytes], None]]] = []

    # -- paho's thread -----------------------------------------------------------------------

    def _on_connect(self, c: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self._connack = rc
        if rc.is_failure:
            log.error("mqtt_connect_refused", reason=str(rc))
            return
        log.info(
            "mqtt_connected",
            broker=f"{self.settings.host}:{self.settings.port}",
            pending=self._pending,
        )
        for topic_filter, _handler in self._listeners:
            c.subscribe(topic_filter, qos=1)
        self._connected.set()

    def _on_message(self, c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        for topic_filter, handler in self._listeners:
            if paho.topic_matches_sub(topic_filter, message.topic):
                try:
                    handler(message.topic, bytes(message.payload))
                except Exception:  # a listener's bug must not stop paho's thread
                    log.exception("mqtt_listener_failed", topic=message.topic)

    def _on_disconnect(self, c: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self._connected.clear()
        if rc.value != 0:
            log.warning("mqtt_disconnected", reason=str(rc), pending=self._pending)

    def _on_publish(self, c: paho.Client, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        with self._cond:
            self._pending -= 1
            self.acknowledged += 1
            # 0x10 "no matching subscribers" is success: the broker took the message.
            if rc.is_failure:
                self.refused += 1
                log.error("mqtt_publish_refused", mid=mid, reason=str(rc))
            self._cond.notify_all()

    # -- the caller's thread -----------------------------------------------------------------

    def listen(self, topic_filter: str, handler: Callable[[str, bytes], None]) -> None:
        """Call `handler(topic, payload)` on paho's thread for each message on the filter
        (subscribed on every connection); it must not block. Set before `connect`."""
        self._listeners.append((topic_filter, handler))

    def connect(self) -> None:
        """Connect and wait for the broker's CONNACK; PublishError if refused or unreachable."""
        timeout = self.settings.timeout_s
        try:
            self._client.connect(self.settings.host, self.settings.port, self.settings.keepalive_s)
        except OSError as exc:
            raise PublishError(
                f"cannot reach the broker at {self.settings.host}:{self.settings.port}: {exc}"
            ) from exc
        self._client.loop_start()
        deadline = time.monotonic() + timeout
        while not self._connected.wait(0.05):
            if self._connack is not None and self._connack.is_failure:
                self.close()
                raise PublishError(f"the broker refused the connection: {self._connack}")
            if time.monotonic() > deadline:
                self.close()
                raise PublishError(f"no CONNACK from the broker within {timeout:g} s")

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Hand one QoS 1 message to the connection, first waiting for room in the window."""
        with self._cond:
            if not self._cond.wait_for(
                lambda: self._pending < self.max_pending, self.stall_timeout_s
            ):
                raise PublishError(
                    f"{self._pending} messages unacknowledged for {self.stall_timeout_s:g} s"
                )
            self._pending += 1
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        # While the link is down paho queues QoS 1 messages and reports NO_CONN: still ours.
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            with self._cond:
                self._pending -= 1
            raise PublishError(f"publish to {topic} failed: {paho.error_string(info.rc)}")
        self.published += 1

    @property
    def pending(self) -> int:
        return self._pending

    def flush(self, timeout_s: float) -> bool:
        """Wait until every published message is acknowledged; False at the timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout_s)

    def close(self) -> None:
        """Disconnect cleanly (no last will is sent) and stop paho's thread."""
        self._client.disconnect()
        self._client.loop_stop()
