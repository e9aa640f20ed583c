"""What both kinds of node share: config and notices from the platform, heap figures, the
watchdog rule."""

import gc
import json

from lib import config
from lib.link import Link


def heap_free() -> int:
    gc.collect()
    return gc.mem_free()


class Node:
    """A node with a link and a config it can change over MQTT; subclasses sample and publish."""

    def __init__(self, board, cfg: dict) -> None:  # type: ignore[no-untyped-def]
        self.board = board
        self.cfg = cfg
        self.overlay_path = board.state_path("remote.json")
        self.link = Link(board, cfg, self.on_config)
        self.last_config = b""
        self.wdt_checked = 0
        self.wdt_samples = -1
        self.link_down_since = 0
        self.link_grace_ms = int(cfg.get("wdt_link_grace_s", 600)) * 1000
        self.notices = {"shown": 0, "refused": 0}

    def show_notices(self) -> None:
        """Subscribe to this device's notice topic and show what comes (a node with a LED).

        Imported here: a node that shows nothing (a battery env node, waking every interval)
        does not load it."""
        from lib.notice import Indicator

        self.indicator = Indicator(self.board)
        self.link.on_notice = self.on_notice  # type: ignore[assignment]
        self.link.status_extra["notices"] = self.notices

    def on_notice(self, raw: bytes) -> None:
        from lib.notice import NoticeError, parse

        # Whatever arrives, the device carries on: a bad notice is logged and counted only.
        try:
            state, alert = parse(raw)
        except NoticeError as exc:
            self.notices["refused"] += 1
            self.board.log("notice", "refused", str(exc))
            return
        self.notices["shown"] += 1
        self.indicator.show(state, alert)

    def on_config(self, raw: bytes) -> None:
        # The retained config comes back on every (re)subscribe: only a change is news.
        if raw == self.last_config:
            return
        self.last_config = raw
        try:
            try:
                msg = json.loads(raw)
            except ValueError:
                raise config.ConfigError("config is not JSON")
            changes = config.check_remote(msg, self.cfg["device"])
        except config.ConfigError as exc:
            self.link.status_extra["config"] = "refused: " + str(exc)
            self.board.log("config", "refused", str(exc))
            self.link.publish_status()
            return
        self.apply(changes)
        overlay = config.load_overlay(self.overlay_path)
        overlay.update(changes)
        config.save_overlay(self.overlay_path, overlay)
        self.link.status_extra["config"] = "applied"
        self.board.log("config", "applied", json.dumps(changes))
        self.link.publish_status()

    def apply(self, changes: dict) -> None:
        for key in changes:
            if key == "fall":
                self.cfg["fall"].update(changes["fall"])
            else:
                self.cfg[key] = changes[key]

    def supervise(self, samples: int) -> None:
        """Feed the watchdog only while the loop samples and the link lives or keeps trying.

        Called from the one loop that does both. A link down longer than wdt_link_grace_s
        stops the feeding: the reset that follows also restarts a wedged Wi-Fi stack."""
        board = self.board
        now = board.ticks_ms()
        if board.ticks_diff(now, self.wdt_checked) < 1000:
            return
        self.wdt_checked = now
        sampling = samples != self.wdt_samples
        self.wdt_samples = samples
        if self.link.up():
            self.link_down_since = now
        link_ok = board.ticks_diff(now, self.link_down_since) < self.link_grace_ms
        if sampling and link_ok:
            board.wdt_feed()
