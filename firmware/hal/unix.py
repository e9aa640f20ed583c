"""HAL backend for the MicroPython Unix port: simulated devices, host network, scalable clock.

Environment: HOF_FW_CONFIG (the device's config file), HOF_FW_SIM (the world script, see
hal/sim.py), HOF_FW_STATE (a directory standing in for RTC memory and flash).
The clock runs `time_scale` simulated milliseconds per real one (an integer, so that reading
it allocates nothing), so a test can run a 300 s interval in seconds.
"""

import json
import os
import time

from hal.base import BoardBase, DeepSleep
from hal.sim import SimI2C, SimIndicator, SimInput, build_bus

try:
    from typing import Any
except ImportError:
    pass


class UnixPin:
    """A pin the script leaves alone: always 0."""

    def value(self) -> int:
        return 0


class Board(BoardBase):
    """The simulated board; one per process, shared by every module through hal.board()."""

    platform = "unix"

    def __init__(self) -> None:
        sim_path = os.getenv("HOF_FW_SIM")
        self.script: dict = {}
        if sim_path:
            with open(sim_path) as f:
                self.script = json.load(f)
        self.scale = int(self.script.get("time_scale", 1))
        self.state_dir = os.getenv("HOF_FW_STATE") or "."
        self._config = os.getenv("HOF_FW_CONFIG") or "config.json"
        self.t0 = time.ticks_ms()
        self.epoch0_ms = int(time.time_ns() // 1_000_000)
        self._bus: SimI2C | None = None
        self._inputs: dict = {}
        self._woke = False
        self.wdt_timeout_ms = 0
        self.wdt_last = 0
        self.wdt_feeds = 0
        self.wdt_misses = 0
        self.indicator = SimIndicator(self.ticks_ms, self.log)

    def ticks_ms(self) -> int:
        return time.ticks_diff(time.ticks_ms(), self.t0) * self.scale

    def ticks_diff(self, a: int, b: int) -> int:
        return a - b  # the scaled clock does not wrap in any test's lifetime

    def ticks_add(self, a: int, delta: int) -> int:
        return a + delta

    def sleep_ms(self, ms: int) -> None:
        if ms > 0:
            time.sleep_ms(ms // self.scale or 1)

    def time_ms(self) -> int:
        return self.epoch0_ms + self.ticks_ms()

    def time(self) -> int:
        return self.time_ms() // 1000

    def ntp_sync(self) -> bool:
        return True  # the host keeps the clock

    def i2c(self) -> SimI2C:
        if self._bus is None:
            self._bus = build_bus(self.script, self.ticks_ms)
        return self._bus

    def input(self, name: str) -> Any:
        pin = self._inputs.get(name)
        if pin is None:
            windows = self.script.get("inputs", {}).get(name)
            pin = SimInput(self.ticks_ms, windows) if windows is not None else UnixPin()
            self._inputs[name] = pin
        return pin

    def battery_mv(self) -> int:
        return int(self.script.get("battery_mv", 4000))

    def state_path(self, name: str) -> str:
        return self.state_dir + "/" + name

    def config_path(self) -> str:
        return self._config

    def rtc_memory(self) -> bytes:
        try:
            with open(self.state_path("rtc.bin"), "rb") as f:
                return f.read()
        except OSError:
            return b""

    def set_rtc_memory(self, data: bytes | bytearray | memoryview) -> None:
        with open(self.state_path("rtc.bin"), "wb") as f:
            f.write(data)

    def woke_from_deep_sleep(self) -> bool:
        return self._woke

    def deep_sleep(self, ms: int) -> None:
        # The process stands in for the chip: sleep, then unwind to the runner, which starts
        # the application afresh with only RTC memory and flash kept, as a wake-up would.
        self.log("deepsleep", "ms=%d" % ms)
        self.sleep_ms(ms)
        self._woke = True
        raise DeepSleep()

    def reset(self) -> None:
        # The process is the chip: it ends, and whoever runs it (a test) starts it again.
        self.log("reset")
        raise SystemExit(75)

    def led(self, colour: int, blink_hz: int) -> None:
        self.indicator.led(colour, blink_hz)

    def buzzer(self, hz: int) -> None:
        self.indicator.buzzer(hz)

    def wifi_start(self, ssid: str, psk: str) -> None:
        pass

    def wifi_up(self) -> bool:
        now = self.ticks_ms() / 1000
        for window in self.script.get("wifi_down", []):
            if window[0] <= now < window[1]:
                return False
        return True

    def wifi_rssi(self) -> int:
        return -55

    def unique_id(self) -> str:
        return "unix%04x" % (os.getpid() & 0xFFFF) if hasattr(os, "getpid") else "unix0000"

    def wdt_start(self, timeout_ms: int) -> None:
        self.wdt_timeout_ms = timeout_ms
        self.wdt_last = self.ticks_ms()

    def wdt_feed(self) -> None:
        # No reset here: a late feed is counted (and logged once) so a test can see it.
        now = self.ticks_ms()
        if self.wdt_timeout_ms and now - self.wdt_last > self.wdt_timeout_ms:
            self.wdt_misses += 1
            self.log("wdt", "late_ms=%d" % (now - self.wdt_last))
        self.wdt_last = now
        self.wdt_feeds += 1
