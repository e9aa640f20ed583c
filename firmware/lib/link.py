"""The node's link: Wi-Fi, then MQTT, kept up with backoff; its status, will and config.

`step()` never waits on the network: the TCP handshake and CONNACK are polled
(`begin_connect`/`poll_connect`), so a telecare node keeps sampling at 50 Hz while the link
comes and goes; an attempt is abandoned after `connect_timeout_ms`. Backoff doubles from 0.5 s to `max_backoff_ms`
with jitter, so a home full of devices does not reconnect in step after a broker restart.

With `"tls": true` in its config the link speaks MQTT over TLS only, verifying the broker's
certificate against `ca_file` (DER) and the broker's name; a refused handshake is logged
(`link tls-refused <why>`) on every attempt and never falls back to plain MQTT.

A `firmware` announcement on the retained config is handed to lib/ota.py between packets
(never inside the MQTT callback); a running image on trial is confirmed (otaboot.healthy)
once the broker has answered its subscription.
"""

import json
import os

import otaboot
from lib.mqtt import MQTTClient, MQTTException, TLSError

DOWN = 0
CONNECTING = 1
UP = 2


def tls_context(ca_file: str):  # type: ignore[no-untyped-def]
    """A client context that requires the broker's certificate to chain to our CA."""
    import tls

    ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = tls.CERT_REQUIRED  # type: ignore[attr-defined]
    with open(ca_file, "rb") as f:
        ctx.load_verify_locations(f.read())  # DER: the Unix port's mbedtls parses no PEM
    return ctx


class Link:
    def __init__(self, board, cfg: dict, on_config) -> None:  # type: ignore[no-untyped-def]
        self.board = board
        self.cfg = cfg
        self.on_config = on_config
        prefix = "hof/v1/%s/%s/" % (cfg["home"], cfg["device"])
        self.t_reading = (prefix + "reading").encode()
        self.t_event = (prefix + "event").encode()
        self.t_status = (prefix + "status").encode()
        self.t_config = (prefix + "config").encode()
        self.t_notice = (prefix + "notice").encode()
        self.on_notice = None  # a node that shows notices sets this; then they are subscribed
        self.keepalive_s = int(cfg.get("keepalive_s", 60))
        self.client = MQTTClient(
            ("%s-%s" % (cfg["home"], cfg["device"])).encode(),
            cfg["broker_host"],
            int(cfg["broker_port"]),
            user=cfg["username"].encode(),
            password=cfg["password"].encode(),
            keepalive=self.keepalive_s,
            ticks=board.ticks_ms,
            ssl=tls_context(cfg["ca_file"]) if cfg.get("tls") else None,
            server_hostname=cfg.get("tls_server_name"),  # the certificate's name; else broker_host
        )
        self.client.set_last_will(self.t_status, b'{"state":"offline"}', retain=True, qos=1)
        self.client.set_callback(self._message)
        self.state = DOWN
        self.backoff_ms = 500
        self.max_backoff_ms = int(cfg.get("max_backoff_ms", 30000))
        self.connect_timeout_ms = int(cfg.get("connect_timeout_ms", 10000))
        self.connect_started = 0
        self.next_try = 0
        self.wifi_started = False
        self.last_ping = 0
        self.connects = 0
        self.failures = 0
        self.status_extra: dict = {}
        self.subscribed = False
        self.clean_session = bool(cfg.get("clean_session", True))
        self.fw_offer: bytes | None = None  # a config naming firmware, handled after the read
        self.fw_seen = ""  # the announcement last handled, so a redelivery is not refetched
        otaboot.started(board.woke_from_deep_sleep())

    def up(self) -> bool:
        return self.state == UP

    def _message(self, topic: memoryview, msg: memoryview) -> None:
        if bytes(topic) == self.t_config:
            raw = bytes(msg)
            if b'"firmware"' in raw:
                self.fw_offer = raw
            self.on_config(raw)
        elif bytes(topic) == self.t_notice and self.on_notice is not None:
            self.on_notice(bytes(msg))

    def _jitter(self, ms: int) -> int:
        return ms + (os.urandom(1)[0] * ms) // 1024

    def _failed(self, why: str) -> None:
        self.client.close()
        if self.state == UP:
            self.board.log("link", "down", why)
        self.state = DOWN
        self.failures += 1
        self.next_try = self.board.ticks_add(self.board.ticks_ms(), self._jitter(self.backoff_ms))
        self.backoff_ms = min(self.backoff_ms * 2, self.max_backoff_ms)

    def _tls_refused(self, exc: Exception) -> None:
        # Said every time (the backoff bounds it): an installer must see why nothing connects.
        self.board.log("link", "tls-refused", str(exc))
        self._failed("tls")

    def step(self) -> bool:
        """Do what the link needs now (connect, read, ping); True while connected."""
        board = self.board
        now = board.ticks_ms()
        if self.state == DOWN:
            if board.ticks_diff(self.next_try, now) > 0:
                return False
            if not board.wifi_up():
                if not self.wifi_started:
                    wifi = self.cfg.get("wifi") or {}
                    board.wifi_start(wifi.get("ssid", ""), wifi.get("psk", ""))
                    self.wifi_started = True
                self._failed("wifi")
                return False
            try:
                self.client.begin_connect(self.clean_session, 2.0)  # a packet started arrives within 2 s
            except TLSError as exc:
                self._tls_refused(exc)
                return False
            except OSError as exc:
                self._failed("connect %r" % (exc,))
                return False
            self.state = CONNECTING
            self.connect_started = now
            return False
        if self.state == CONNECTING:
            try:
                if self.client.poll_connect() < 0:
                    if board.ticks_diff(now, self.connect_started) > self.connect_timeout_ms:
                        raise OSError(110)  # ETIMEDOUT
                    return False
                self.state = UP
                self.connects += 1
                self.backoff_ms = 500
                self.last_ping = now
                if not board.clock_valid():
                    board.ntp_sync()
                self.subscribed = False
                self.client.subscribe(self.t_config, 1)
                if self.on_notice is not None:
                    self.client.subscribe(self.t_notice, 1)
                self.publish_status()
                board.log("link", "up", "connects=%d" % self.connects)
            except TLSError as exc:
                self.state = DOWN
                self._tls_refused(exc)
                return False
            except (OSError, MQTTException) as exc:
                self.state = DOWN
                self._failed("connect %r" % (exc,))
                return False
            return True
        try:
            for _ in range(8):  # a burst of packets is handled, but never unboundedly
                kind = self.client.check_msg()
                if kind is None:
                    break
                if kind == 0x90:
                    self.subscribed = True  # a retained config follows the SUBACK at once
                    if otaboot.healthy():  # connected, and the broker answers: keep this image
                        self.board.log("ota", "healthy", otaboot.version())
                        self.publish_status()
            keepalive_ms = self.keepalive_s * 1000
            if keepalive_ms:
                if board.ticks_diff(now, self.last_ping) > keepalive_ms // 4:
                    self.client.ping()
                    self.last_ping = now
                if board.ticks_diff(now, self.client.last_rx) > keepalive_ms * 3 // 2:
                    raise OSError(110)  # ETIMEDOUT: the broker has gone quiet
        except (OSError, MQTTException) as exc:
            self._failed("io %r" % (exc,))
            return False
        if self.fw_offer is not None:
            raw = self.fw_offer
            self.fw_offer = None
            self._firmware(raw)
        return self.state == UP

    def _firmware(self, raw: bytes) -> None:
        """Act on a firmware announcement: install it and restart, or say why not."""
        try:
            fw_in = json.loads(raw)["firmware"]
        except (ValueError, KeyError, TypeError):
            return  # the node reports a config that is not a JSON object
        seen = json.dumps(fw_in)
        if seen == self.fw_seen:
            return
        self.fw_seen = seen
        from lib import ota  # only when an update comes: its code and the verifier's tables

        version = fw_in.get("version") if isinstance(fw_in, dict) else None
        try:
            fw = ota.check_manifest(fw_in)
            running = otaboot.version()
            if version == running:
                return
            if ota.parse_version(version) < ota.parse_version(running):
                raise ota.OtaError("%s is older than %s, running" % (version, running))
            if version in (otaboot.state.get("bad") or []):
                raise ota.OtaError("%s was rolled back before" % version)
            self.board.log("ota", "fetch", version, fw["url"])
            t0 = self.board.ticks_ms()
            ota.install(self.cfg, fw, self.client.ssl)
        except ota.OtaError as exc:
            self.status_extra["fw_update"] = "refused %s: %s" % (version, exc)
            self.board.log("ota", "refused", version, str(exc))
            self.publish_status()
            return
        ms = self.board.ticks_diff(self.board.ticks_ms(), t0)
        self.status_extra["fw_update"] = "installed %s, restarting" % version
        self.board.log("ota", "installed", version, "ms=%d" % ms)
        # Wait for the status's PUBACK: closing with unread bytes sends a TCP reset, and the
        # broker drops what it had not yet read (the status, the DISCONNECT).
        pid = self.publish(self.t_status, json.dumps(self.status()).encode(), qos=1, retain=True)
        self.wait_ack(pid, 3000)
        self.disconnect()  # no last will: a restart is not an outage
        self.board.reset()

    def publish(self, topic: bytes, payload, qos: int = 1, retain: bool = False, dup: bool = False, pid: int = 0) -> int:  # type: ignore[no-untyped-def]
        """Send now; the packet id to watch for (client.acked), or -1 if the link is down."""
        if self.state != UP:
            return -1
        try:
            return self.client.publish(topic, payload, retain=retain, qos=qos, dup=dup, pid=pid)
        except OSError as exc:
            self._failed("publish %r" % (exc,))
            return -1

    def acked(self, pid: int) -> bool:
        return pid > 0 and self.client.acked == pid

    def wait_ack(self, pid: int, timeout_ms: int) -> bool:
        """Step the link until `pid` is acknowledged (the env node can afford to wait)."""
        board = self.board
        start = board.ticks_ms()
        while board.ticks_diff(board.ticks_ms(), start) < timeout_ms:
            if self.acked(pid):
                return True
            if not self.step():
                return False
            self.board.sleep_ms(5)
        return self.acked(pid)

    def status(self, state: str = "online") -> dict:
        board = self.board
        doc = {"state": state, "fw": otaboot.version(), "kind": self.cfg["kind"]}
        if otaboot.state.get("rolled_back"):
            doc["fw_update"] = "rolled back %s" % otaboot.state["rolled_back"]
        doc["rssi"] = board.wifi_rssi()
        if self.cfg["power"] == "battery":
            mv = board.battery_mv()
            doc["battery"] = max(0, min(100, (mv - 3300) // 9))  # 3.3 V empty, 4.2 V full
        if board.clock_valid():
            doc["ts"] = board.time()
        if self.cfg.get("room"):
            doc["room"] = self.cfg["room"]
        doc.update(self.status_extra)
        return doc

    def publish_status(self) -> None:
        self.publish(self.t_status, json.dumps(self.status()).encode(), qos=1, retain=True)

    def disconnect(self) -> None:
        if self.state == UP:
            try:
                self.client.disconnect()
            except OSError:
                pass
        self.client.close()
        self.state = DOWN
